-- Search by any fragment of three characters or more of the name, Client ID or company UUID,
-- read off a trigram full-text index instead of a LIKE over every row. The index row is
-- rewritten only when one of those three columns changes (a refresh leaves it alone).
CREATE VIRTUAL TABLE connection_search USING fts5(id UNINDEXED, text, tokenize = 'trigram');

INSERT INTO connection_search (id, text)
    SELECT id, lower(name || ' ' || client_id || ' ' || COALESCE(company_uuid, '')) FROM connections;

CREATE TRIGGER connection_search_insert AFTER INSERT ON connections BEGIN
    INSERT INTO connection_search (id, text)
        VALUES (new.id, lower(new.name || ' ' || new.client_id || ' ' || COALESCE(new.company_uuid, '')));
END;

CREATE TRIGGER connection_search_update AFTER UPDATE OF name, client_id, company_uuid ON connections
WHEN old.name IS NOT new.name OR old.client_id IS NOT new.client_id OR old.company_uuid IS NOT new.company_uuid
BEGIN
    DELETE FROM connection_search WHERE id = old.id;
    INSERT INTO connection_search (id, text)
        VALUES (new.id, lower(new.name || ' ' || new.client_id || ' ' || COALESCE(new.company_uuid, '')));
END;

CREATE TRIGGER connection_search_delete AFTER DELETE ON connections BEGIN
    DELETE FROM connection_search WHERE id = old.id;
END;
