-- Sign-in through another provider (an OpenID Connect provider, GitHub): one row per identity a
-- provider asserts (its ``sub`` or user id), linked to one rowgate user.  A user has at most one
-- identity per provider, and an identity belongs to at most one user.
CREATE TABLE rowgate.linked_accounts (
    provider   text NOT NULL CHECK (provider ~ '^[a-z][a-z0-9-]{0,30}$'),
    subject    text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    user_id    uuid NOT NULL REFERENCES rowgate.users (id) ON DELETE CASCADE,
    email      text,                                -- as the provider asserted it when linked
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject),
    CONSTRAINT linked_accounts_user_provider_key UNIQUE (user_id, provider)
);
