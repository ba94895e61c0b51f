-- A connection is degraded while one of its read-only API probes fails for a reason that is not
-- transient: the database keeps the flag from `probe_results`, so an import of the findings
-- sets it too. The connection's row is written only when the flag changes.
ALTER TABLE connections ADD COLUMN degraded BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION probe_results_degraded() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    connection TEXT := CASE WHEN TG_OP = 'DELETE' THEN OLD.connection_id ELSE NEW.connection_id END;
BEGIN
    UPDATE connections SET degraded = flag FROM (SELECT CASE WHEN EXISTS (
        SELECT 1 FROM probe_results WHERE connection_id = connection AND ok = 0 AND transient = 0
    ) THEN 1 ELSE 0 END AS flag) AS found WHERE id = connection AND degraded <> flag;
    RETURN NULL;
END
$$;

CREATE TRIGGER probe_results_degraded AFTER INSERT OR UPDATE OR DELETE ON probe_results
    FOR EACH ROW EXECUTE FUNCTION probe_results_degraded();

-- The few degraded connections, found without reading the others.
CREATE INDEX connections_degraded ON connections (id) WHERE degraded <> 0;
