-- The order index carries each connection's tag list, and PostgreSQL keeps an index entry to
-- 2 704 bytes: twenty tags with long values (2.8 KB written out, more in multi-byte letters)
-- made saving them fail. In the list, a tag whose line is longer than 64 bytes is now written
-- as its key, `=`, a control character (no value holds one, so no tag reads the same) and the
-- first 32 hex digits of its value's SHA-256: a list stays within 1.5 KB. A tag filter tests
-- the same line (`connection_tag_line`); a row whose list holds such a line is shown from its
-- tags themselves (`connection_tags_written`).
CREATE FUNCTION connection_tag_line(key TEXT, value TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN octet_length(key) + 1 + octet_length(value) > 64
            THEN key || '=' || chr(1) || left(encode(sha256(convert_to(value, 'UTF8')), 'hex'), 32)
        ELSE key || '=' || value
    END
$$;

CREATE FUNCTION connection_tags_written(connection TEXT) RETURNS TEXT LANGUAGE sql STABLE AS $$
    SELECT COALESCE(chr(10) || string_agg(key || '=' || value, chr(10) ORDER BY key) || chr(10), '')
    FROM connection_tags WHERE connection_id = connection
$$;

CREATE OR REPLACE FUNCTION connection_tag_list(connection TEXT) RETURNS TEXT LANGUAGE sql STABLE AS $$
    SELECT COALESCE(chr(10) || string_agg(connection_tag_line(key, value), chr(10) ORDER BY key) || chr(10), '')
    FROM connection_tags WHERE connection_id = connection
$$;

UPDATE connections SET tag_list = connection_tag_list(id)
WHERE id IN (
    SELECT connection_id FROM connection_tags
    WHERE octet_length(key) + 1 + octet_length(value) > 64
);
