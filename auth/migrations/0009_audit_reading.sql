-- Reading the audit trail: admins page through it newest first (at, id), the janitor deletes by age.
CREATE INDEX audit_events_at_id_idx ON rowgate.audit_events (at DESC, id DESC);
