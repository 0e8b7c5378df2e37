-- Suspicious-activity alerts: where the rule evaluator has read the audit trail up to, and the
-- outbox of signed webhooks (retried with back-off like mail).
CREATE TABLE rowgate.alert_cursor (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_event_id bigint NOT NULL
);
-- Alerts start with the events recorded from now on, not the history before the upgrade.
INSERT INTO rowgate.alert_cursor (last_event_id) SELECT coalesce(max(id), 0) FROM rowgate.audit_events;

CREATE TABLE rowgate.webhook_outbox (
    id              bigserial PRIMARY KEY,
    url             text NOT NULL,
    body            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_until   timestamptz,
    sent_at         timestamptz,
    failed_at       timestamptz,
    last_error      text
);
CREATE INDEX webhook_outbox_due_idx ON rowgate.webhook_outbox (next_attempt_at, id)
    WHERE sent_at IS NULL AND failed_at IS NULL;
-- The networks each API key was used from (first sightings).
CREATE INDEX audit_events_key_network_idx ON rowgate.audit_events ((details->>'keyId'), id)
    WHERE event = 'apikey.network';
-- Rules look back over one account's sign-ins by event name.
CREATE INDEX audit_events_user_event_idx ON rowgate.audit_events (user_id, event, id DESC);
