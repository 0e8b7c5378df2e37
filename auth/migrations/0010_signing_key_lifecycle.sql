-- Signing keys go through next -> active -> retiring -> retired (see auth/tokens/lifecycle.py).
-- next: published in the JWKS, signs from signs_from; retiring: verifies until retired_at plus the
-- longest token lifetime; retired: out of the JWKS, verifies nothing, private part erased.
ALTER TABLE rowgate.signing_keys DROP CONSTRAINT signing_keys_status_check;
UPDATE rowgate.signing_keys SET status = 'retiring' WHERE status = 'retired';
ALTER TABLE rowgate.signing_keys
    ADD CONSTRAINT signing_keys_status_check CHECK (status IN ('next', 'active', 'retiring', 'retired')),
    ADD COLUMN signs_from timestamptz,
    ADD COLUMN activated_at timestamptz,
    ALTER COLUMN private_key_enc DROP NOT NULL;
UPDATE rowgate.signing_keys SET activated_at = created_at WHERE status IN ('active', 'retiring');
-- At most one next key per algorithm.
CREATE UNIQUE INDEX signing_keys_one_next ON rowgate.signing_keys (algorithm) WHERE status = 'next';
