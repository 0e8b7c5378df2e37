-- Tenancy: API keys, custom roles and invitations, each owned by one organisation.
-- Secrets (API keys, invitation tokens) are stored only as the SHA-256 digest of a high-entropy
-- random string and looked up by that digest.

-- An API key acts for its organisation.  ``created_by`` is the admin whose current permissions
-- cap the key's scopes: when that member is demoted the key narrows, when removed it stops.
-- A rotation points the old key at its successor and keeps it valid until ``grace_until``.
CREATE TABLE rowgate.api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL REFERENCES rowgate.orgs (id) ON DELETE CASCADE,
    created_by   uuid REFERENCES rowgate.users (id) ON DELETE SET NULL,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    type         text NOT NULL CHECK (type IN ('secret', 'publishable')),
    prefix       text NOT NULL,                       -- the visible start of the key, for people
    digest       bytea NOT NULL CHECK (octet_length(digest) = 32),
    scopes       text[] NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    use_count    bigint NOT NULL DEFAULT 0,
    replaced_by  uuid REFERENCES rowgate.api_keys (id) ON DELETE SET NULL,
    grace_until  timestamptz,
    CONSTRAINT api_keys_digest_key UNIQUE (digest)
);
CREATE INDEX api_keys_org_idx ON rowgate.api_keys (org_id, created_at DESC);
CREATE INDEX api_keys_creator_idx ON rowgate.api_keys (org_id, created_by) WHERE revoked_at IS NULL;

-- Roles an organisation defines beyond the built-in ones of the configuration.
CREATE TABLE rowgate.custom_roles (
    org_id      uuid NOT NULL REFERENCES rowgate.orgs (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_-]{0,39}$'),
    description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 500),
    permissions text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, name)
);

-- An invitation to join an organisation with a role, sent by mail as a single-use link.
CREATE TABLE rowgate.invitations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES rowgate.orgs (id) ON DELETE CASCADE,
    email       text NOT NULL,                        -- normalised like users.email
    role        text NOT NULL,
    digest      bytea NOT NULL CHECK (octet_length(digest) = 32),
    invited_by  uuid REFERENCES rowgate.users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by uuid REFERENCES rowgate.users (id) ON DELETE SET NULL,
    revoked_at  timestamptz,
    CONSTRAINT invitations_digest_key UNIQUE (digest)
);
-- One open invitation per address and organisation (a new one replaces the old).
CREATE UNIQUE INDEX invitations_open_idx ON rowgate.invitations (org_id, email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;

-- Counting admins (the last one stays) and members holding a role (a role in use stays).
CREATE INDEX memberships_org_role_idx ON rowgate.memberships (org_id, role);
