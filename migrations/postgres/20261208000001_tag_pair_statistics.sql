-- PostgreSQL estimates `key = 'region' AND value = 'emea'` as if the two were unrelated (a
-- twentieth of the region tags times a fifth of all tags): a fifth of the true count of a
-- frequent tag. Planned for so few, a page of a tag and a status was read by parallel workers
-- started for each call. The pairs' own most common values make the estimates right.
CREATE STATISTICS connection_tags_pairs (mcv) ON key, value FROM connection_tags;
ANALYZE connection_tags;
