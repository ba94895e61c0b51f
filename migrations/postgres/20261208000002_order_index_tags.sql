-- A filtered dashboard page walks the dashboard's order testing each connection's tags (and
-- status, and owner) until it has a page. The order index carries what those tests read, so
-- the walk is an index-only scan and only the page's own rows are read from the table.
DROP INDEX connections_by_band;
CREATE INDEX connections_by_band
    ON connections (failing DESC, COALESCE(refresh_token_expires_at, 9223372036854775807), name, id)
    INCLUDE (refresh_token_expires_at, degraded, owner_id, tag_list);
-- A new index on an expression has no statistics for it until the table is analyzed again,
-- which autovacuum may not do for a long time after an upgrade; without them PostgreSQL took a
-- status's band of this index for a twentieth of its rows.
ANALYZE connections;
