-- What the integration can do: the last finding of each read-only API probe of a connection
-- (one row per probe, or per write-only scope), replaced by every run. `ok` is 1 when the call
-- answered, 0 when it failed, NULL when it was not made; a `transient` failure (Concur failing,
-- rate limited, no answer) is shown but never counts as a lost capability.
CREATE TABLE probe_results (
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    position BIGINT NOT NULL,
    label TEXT NOT NULL,
    ok BIGINT,
    transient BIGINT NOT NULL DEFAULT 0,
    status BIGINT,
    detail TEXT NOT NULL,
    fix TEXT,
    correlation_id TEXT,
    checked_at BIGINT NOT NULL,
    PRIMARY KEY (connection_id, name)
);
