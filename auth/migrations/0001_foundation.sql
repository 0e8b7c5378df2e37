-- Foundation: people, organisations (tenants), sessions, signing keys, audit trail.

CREATE TABLE rowgate.users (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email             text NOT NULL,                 -- normalised: NFKC, trimmed, lower-case
    email_verified_at timestamptz,
    password_hash     text,                          -- argon2id; NULL for accounts without a password
    name              text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE rowgate.orgs (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rowgate.memberships (
    org_id     uuid NOT NULL REFERENCES rowgate.orgs (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES rowgate.users (id) ON DELETE CASCADE,
    role       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user_idx ON rowgate.memberships (user_id);

CREATE TABLE rowgate.sessions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES rowgate.users (id) ON DELETE CASCADE,
    org_id       uuid REFERENCES rowgate.orgs (id) ON DELETE SET NULL,
    device       text NOT NULL DEFAULT '',
    ip           text,
    amr          text[] NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX sessions_user_idx ON rowgate.sessions (user_id) WHERE revoked_at IS NULL;

CREATE TABLE rowgate.signing_keys (
    kid             text PRIMARY KEY,
    algorithm       text NOT NULL,
    public_jwk      jsonb,                            -- NULL for HS256 (nothing public to publish)
    private_key_enc bytea NOT NULL,                   -- AES-256-GCM under the master key
    status          text NOT NULL CHECK (status IN ('active', 'retired')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    retired_at      timestamptz
);
-- At most one active key per algorithm.
CREATE UNIQUE INDEX signing_keys_one_active ON rowgate.signing_keys (algorithm) WHERE status = 'active';

CREATE TABLE rowgate.audit_events (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    event      text NOT NULL,                         -- e.g. signin.succeeded, session.revoked
    user_id    uuid,
    org_id     uuid,
    session_id uuid,
    ip         text,
    user_agent text,
    details    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_org_at_idx ON rowgate.audit_events (org_id, at DESC);
CREATE INDEX audit_events_user_at_idx ON rowgate.audit_events (user_id, at DESC);
