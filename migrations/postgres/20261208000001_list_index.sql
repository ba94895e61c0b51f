-- The management list walks connections in the order of ids, testing each against a filter
-- (a tag's connections, one by one, for their status). This index carries what those tests
-- read, so each is an index-only lookup and only the listed rows are read from the table.
CREATE INDEX connections_status_by_id
    ON connections (id) INCLUDE (failing, degraded, refresh_token_expires_at, owner_id);
