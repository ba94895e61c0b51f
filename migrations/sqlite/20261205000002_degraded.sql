-- A connection is degraded while one of its read-only API probes fails for a reason that is not
-- transient: the database keeps the flag from `probe_results`, so an import of the findings
-- sets it too. The connection's row is written only when the flag changes.
ALTER TABLE connections ADD COLUMN degraded BIGINT NOT NULL DEFAULT 0;

CREATE TRIGGER probe_results_degraded_insert AFTER INSERT ON probe_results BEGIN
    UPDATE connections SET degraded = 1 - degraded WHERE id = new.connection_id AND degraded <> EXISTS (
        SELECT 1 FROM probe_results WHERE connection_id = new.connection_id AND ok = 0 AND transient = 0
    );
END;

CREATE TRIGGER probe_results_degraded_delete AFTER DELETE ON probe_results BEGIN
    UPDATE connections SET degraded = 1 - degraded WHERE id = old.connection_id AND degraded <> EXISTS (
        SELECT 1 FROM probe_results WHERE connection_id = old.connection_id AND ok = 0 AND transient = 0
    );
END;

CREATE TRIGGER probe_results_degraded_update AFTER UPDATE ON probe_results BEGIN
    UPDATE connections SET degraded = 1 - degraded WHERE id = new.connection_id AND degraded <> EXISTS (
        SELECT 1 FROM probe_results WHERE connection_id = new.connection_id AND ok = 0 AND transient = 0
    );
END;

-- The few degraded connections, found without reading the others.
CREATE INDEX connections_degraded ON connections (id) WHERE degraded <> 0;
