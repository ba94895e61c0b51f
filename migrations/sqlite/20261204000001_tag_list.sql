-- Each connection carries its own tags as one line each, `key=value` by key between newlines
-- (empty without any): a page of connections reads them with its rows, and a walk of the
-- dashboard's order tests a tag on the row it already holds instead of looking it up. The
-- database keeps the list: each change to `connection_tags` rewrites its connection's.
ALTER TABLE connections ADD COLUMN tag_list TEXT NOT NULL DEFAULT '';

UPDATE connections SET tag_list = COALESCE((
    SELECT char(10) || group_concat(key || '=' || value, char(10)) || char(10)
    FROM (SELECT key, value FROM connection_tags WHERE connection_id = connections.id ORDER BY key)
), '');

CREATE TRIGGER connection_tags_listed_insert AFTER INSERT ON connection_tags BEGIN
    UPDATE connections SET tag_list = COALESCE((
        SELECT char(10) || group_concat(key || '=' || value, char(10)) || char(10)
        FROM (SELECT key, value FROM connection_tags WHERE connection_id = new.connection_id ORDER BY key)
    ), '') WHERE id = new.connection_id;
END;

CREATE TRIGGER connection_tags_listed_delete AFTER DELETE ON connection_tags BEGIN
    UPDATE connections SET tag_list = COALESCE((
        SELECT char(10) || group_concat(key || '=' || value, char(10)) || char(10)
        FROM (SELECT key, value FROM connection_tags WHERE connection_id = old.connection_id ORDER BY key)
    ), '') WHERE id = old.connection_id;
END;

CREATE TRIGGER connection_tags_listed_update AFTER UPDATE ON connection_tags BEGIN
    UPDATE connections SET tag_list = COALESCE((
        SELECT char(10) || group_concat(key || '=' || value, char(10)) || char(10)
        FROM (SELECT key, value FROM connection_tags WHERE connection_id = old.connection_id ORDER BY key)
    ), '') WHERE id = old.connection_id;
    UPDATE connections SET tag_list = COALESCE((
        SELECT char(10) || group_concat(key || '=' || value, char(10)) || char(10)
        FROM (SELECT key, value FROM connection_tags WHERE connection_id = new.connection_id ORDER BY key)
    ), '') WHERE id = new.connection_id;
END;
