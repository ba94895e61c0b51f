-- The management list walks connections in the order of ids testing each against a filter.
-- Where each of the filter's tags keeps a tenth of the fleet or more, walking this index past
-- the connections a filter does not keep costs less than looking up each tagged connection:
-- the index now carries the tag list too (bounded, see `bounded_tag_list`), so the walk is an
-- index-only scan (for "expiring in emea" of 100 000, 4 600 entries in 1.2 ms against 1 160
-- lookups in 2.1 to 2.8 ms).
DROP INDEX connections_status_by_id;
CREATE INDEX connections_status_by_id
    ON connections (id) INCLUDE (failing, degraded, refresh_token_expires_at, owner_id, tag_list);
