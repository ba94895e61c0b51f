-- The audit log: who did what, when (UTC), from where, to which connection, and how it ended.
-- Never a secret.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    address TEXT,
    kind TEXT NOT NULL,
    connection_id TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);

CREATE INDEX audit_by_time ON audit_events (at, id);
CREATE INDEX audit_by_connection ON audit_events (connection_id, at);
CREATE INDEX audit_by_kind ON audit_events (kind, at);
