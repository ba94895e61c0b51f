-- Each connection carries its own tags as one line each, `key=value` by key between newlines
-- (empty without any): a page of connections reads them with its rows, and a walk of the
-- dashboard's order tests a tag on the row it already holds instead of looking it up. The
-- database keeps the list: each change to `connection_tags` rewrites its connection's.
ALTER TABLE connections ADD COLUMN tag_list TEXT NOT NULL DEFAULT '';

CREATE FUNCTION connection_tag_list(connection TEXT) RETURNS TEXT LANGUAGE sql STABLE AS $$
    SELECT COALESCE(chr(10) || string_agg(key || '=' || value, chr(10) ORDER BY key) || chr(10), '')
    FROM connection_tags WHERE connection_id = connection
$$;

UPDATE connections SET tag_list = connection_tag_list(id);

CREATE FUNCTION connection_tags_listed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE connections SET tag_list = connection_tag_list(OLD.connection_id) WHERE id = OLD.connection_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE connections SET tag_list = connection_tag_list(NEW.connection_id) WHERE id = NEW.connection_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER connection_tags_listed AFTER INSERT OR UPDATE OR DELETE ON connection_tags
    FOR EACH ROW EXECUTE FUNCTION connection_tags_listed();
