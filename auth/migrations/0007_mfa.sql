-- TOTP multi-factor authentication (RFC 6238).
--
-- ``mfa_factors``: one authenticator per user, its secret sealed with the master key (AES-256-GCM,
-- associated data naming the user, so a sealed secret copied to another row does not open).  A
-- factor is pending until a first code confirms it; only a confirmed factor is asked at sign-in.
CREATE TABLE rowgate.mfa_factors (
    user_id      uuid PRIMARY KEY REFERENCES rowgate.users (id) ON DELETE CASCADE,
    secret       bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    confirmed_at timestamptz
);

-- Single-use backup codes, stored as SHA-256 digests (they are random, 50 bits each).
CREATE TABLE rowgate.mfa_backup_codes (
    user_id uuid NOT NULL REFERENCES rowgate.users (id) ON DELETE CASCADE,
    digest  bytea NOT NULL,
    used_at timestamptz,
    PRIMARY KEY (user_id, digest)
);

-- The replay guard when no Redis is configured: a time step accepted once per user, every
-- instance sharing the table.  Rows are useless after their step's window and purged.
CREATE TABLE rowgate.mfa_used_steps (
    user_id    uuid NOT NULL REFERENCES rowgate.users (id) ON DELETE CASCADE,
    step       bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, step)
);
CREATE INDEX mfa_used_steps_expiry_idx ON rowgate.mfa_used_steps (expires_at);

-- The last time the session's user gave a second factor (sign-in or step-up): the ``auth_time``
-- its access tokens carry once MFA was used, so sensitive operations can ask for a recent one.
ALTER TABLE rowgate.sessions ADD COLUMN mfa_at timestamptz;

-- An organisation may require MFA of its admins or of all its members.
ALTER TABLE rowgate.orgs ADD COLUMN mfa_policy text NOT NULL DEFAULT 'off'
    CHECK (mfa_policy IN ('off', 'admins', 'all'));
