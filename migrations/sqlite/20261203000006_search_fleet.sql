-- Search finds a connection by the vendor's external id and by its contact too: the indexed
-- text gains them (the index row is rewritten when any of those columns changes).
DROP TRIGGER connection_search_insert;
DROP TRIGGER connection_search_update;

DELETE FROM connection_search;
INSERT INTO connection_search (id, text)
    SELECT id, lower(name || ' ' || client_id || ' ' || COALESCE(company_uuid, '') || ' ' || COALESCE(external_id, '') || ' ' || COALESCE(contact_name, '') || ' ' || COALESCE(contact_email, ''))
    FROM connections;

CREATE TRIGGER connection_search_insert AFTER INSERT ON connections BEGIN
    INSERT INTO connection_search (id, text)
        VALUES (new.id, lower(new.name || ' ' || new.client_id || ' ' || COALESCE(new.company_uuid, '') || ' ' || COALESCE(new.external_id, '') || ' ' || COALESCE(new.contact_name, '') || ' ' || COALESCE(new.contact_email, '')));
END;

CREATE TRIGGER connection_search_update
AFTER UPDATE OF name, client_id, company_uuid, external_id, contact_name, contact_email ON connections
WHEN old.name IS NOT new.name OR old.client_id IS NOT new.client_id OR old.company_uuid IS NOT new.company_uuid
    OR old.external_id IS NOT new.external_id OR old.contact_name IS NOT new.contact_name OR old.contact_email IS NOT new.contact_email
BEGIN
    DELETE FROM connection_search WHERE id = old.id;
    INSERT INTO connection_search (id, text)
        VALUES (new.id, lower(new.name || ' ' || new.client_id || ' ' || COALESCE(new.company_uuid, '') || ' ' || COALESCE(new.external_id, '') || ' ' || COALESCE(new.contact_name, '') || ' ' || COALESCE(new.contact_email, '')));
END;
