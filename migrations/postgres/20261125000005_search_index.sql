-- Search by any fragment of three characters or more of the name, Client ID or company UUID,
-- read off a trigram index (pg_trgm, a trusted extension shipped with PostgreSQL) instead of a
-- LIKE over every row. The view gives the store the same `connection_search (id, text)` that
-- SQLite's full-text table does; its expression is the index's, so a LIKE on it uses the index.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- fastupdate off: a new or renamed connection goes into the index at once, instead of into a
-- pending list that every search would scan until the next vacuum (slow after a bulk import).
CREATE INDEX connections_search
    ON connections USING gin ((lower(name || ' ' || client_id || ' ' || COALESCE(company_uuid, ''))) gin_trgm_ops)
    WITH (fastupdate = off);

CREATE VIEW connection_search AS
    SELECT id, lower(name || ' ' || client_id || ' ' || COALESCE(company_uuid, '')) AS text FROM connections;
