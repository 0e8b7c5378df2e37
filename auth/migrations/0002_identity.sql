-- Identity flows: refresh tokens, single-use tokens sent by mail, the mail outbox.
-- Every secret is stored as the SHA-256 digest of a high-entropy random string.

-- One row per refresh token; a session is one rotation family.  A token is used once: rotating
-- it sets used_at and replaced_by.  Presenting a used token after the reuse interval revokes
-- the session (OAuth 2.0 Security BCP, refresh token rotation).
CREATE TABLE rowgate.refresh_tokens (
    id          bigserial PRIMARY KEY,
    digest      bytea NOT NULL,
    session_id  uuid NOT NULL REFERENCES rowgate.sessions (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    replaced_by bigint REFERENCES rowgate.refresh_tokens (id) ON DELETE SET NULL,
    CONSTRAINT refresh_tokens_digest_key UNIQUE (digest)
);
CREATE INDEX refresh_tokens_session_idx ON rowgate.refresh_tokens (session_id);

-- Single-use tokens sent to an address: email verification, password reset, and (later issues)
-- magic links and invitations.  ``purpose`` is free text so that new flows need no migration;
-- ``email`` is the address the token was sent to (a flow checks it still belongs to the user);
-- ``org_id`` and ``data`` carry what an invitation needs.
CREATE TABLE rowgate.one_time_tokens (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    purpose    text NOT NULL CHECK (purpose ~ '^[a-z][a-z_]{0,39}$'),
    digest     bytea NOT NULL,
    user_id    uuid REFERENCES rowgate.users (id) ON DELETE CASCADE,
    org_id     uuid REFERENCES rowgate.orgs (id) ON DELETE CASCADE,
    email      text NOT NULL,
    data       jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CONSTRAINT one_time_tokens_digest_key UNIQUE (digest)
);
CREATE INDEX one_time_tokens_user_idx ON rowgate.one_time_tokens (user_id, purpose) WHERE used_at IS NULL;
CREATE INDEX one_time_tokens_expiry_idx ON rowgate.one_time_tokens (expires_at);

-- Mail waiting to be sent, written in the same transaction as the change it reports, sent after
-- commit by a background sender with retries.  Bodies are emptied once sent (they carry links
-- with tokens); the row stays as a delivery record.
CREATE TABLE rowgate.mail_outbox (
    id              bigserial PRIMARY KEY,
    template        text NOT NULL,
    recipient       text NOT NULL,
    message         bytea,                          -- the RFC 5322 message; NULL once sent or given up
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_until   timestamptz,
    last_error      text,
    sent_at         timestamptz,
    failed_at       timestamptz
);
CREATE INDEX mail_outbox_due_idx ON rowgate.mail_outbox (next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX mail_outbox_recipient_idx ON rowgate.mail_outbox (recipient);

CREATE INDEX audit_events_event_at_idx ON rowgate.audit_events (event, at DESC);
