-- The hand-off key that made a link (links made on a page or a terminal have none): a hand-off
-- key reads back only the links it made.
ALTER TABLE handoffs ADD COLUMN created_by_key TEXT;

-- Counts every revocation that a replica's memory must not outlive: an API key revoked, a
-- connection deleted. Each process watches it and forgets what it holds in memory when it moves.
CREATE TABLE revocations (
    id INTEGER PRIMARY KEY,
    epoch BIGINT NOT NULL
);
INSERT INTO revocations (id, epoch) VALUES (1, 0);
