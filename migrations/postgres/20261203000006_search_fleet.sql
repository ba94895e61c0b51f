-- Search finds a connection by the vendor's external id and by its contact too: the indexed
-- expression (and the view that gives the store its `connection_search`) gains them.
DROP VIEW connection_search;
DROP INDEX connections_search;

CREATE INDEX connections_search
    ON connections USING gin ((lower(name || ' ' || client_id || ' ' || COALESCE(company_uuid, '') || ' ' || COALESCE(external_id, '') || ' ' || COALESCE(contact_name, '') || ' ' || COALESCE(contact_email, ''))) gin_trgm_ops)
    WITH (fastupdate = off);

CREATE VIEW connection_search AS
    SELECT id, lower(name || ' ' || client_id || ' ' || COALESCE(company_uuid, '') || ' ' || COALESCE(external_id, '') || ' ' || COALESCE(contact_name, '') || ' ' || COALESCE(contact_email, '')) AS text
    FROM connections;
