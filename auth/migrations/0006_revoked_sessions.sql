-- Revoked sessions, as durable as the revocation itself: each instance rebuilds its in-memory list
-- of revoked session ids from here (at start, after losing the shared store, and every little
-- while), so a revocation survives a Redis restart or flush and the death of the instance that
-- made it.  A trigger writes the row in the same transaction as the change, whatever made it:
-- ``revoked_at`` set on a live session, or a live session deleted (with its account).
CREATE TABLE rowgate.revoked_sessions (
    session_id uuid PRIMARY KEY,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_sessions_at_idx ON rowgate.revoked_sessions (revoked_at);

CREATE FUNCTION rowgate.record_revoked_session() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- A revoked session has its record already; one that expired long ago (the janitor's
        -- deletes) has no access token left alive (a day is more than any access token lives).
        IF OLD.revoked_at IS NULL AND OLD.expires_at > now() - interval '1 day' THEN
            INSERT INTO rowgate.revoked_sessions (session_id) VALUES (OLD.id) ON CONFLICT DO NOTHING;
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
        INSERT INTO rowgate.revoked_sessions (session_id, revoked_at) VALUES (NEW.id, NEW.revoked_at)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER sessions_revoked
AFTER UPDATE OF revoked_at OR DELETE ON rowgate.sessions
FOR EACH ROW EXECUTE FUNCTION rowgate.record_revoked_session();

-- Sessions revoked before this migration, while their access tokens may still be valid.
INSERT INTO rowgate.revoked_sessions (session_id, revoked_at)
SELECT id, revoked_at FROM rowgate.sessions WHERE revoked_at > now() - interval '1 day';
