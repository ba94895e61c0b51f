-- Keep-alive, the token API and API keys.

-- The access token is cached at rest (sealed like the refresh token) so every replica and a
-- restarted process reuse it instead of asking Concur again within the hour.
ALTER TABLE connections ADD COLUMN access_token_sealed TEXT;
-- When the keep-alive job refreshes this connection next (NULL: at the next sweep).
ALTER TABLE connections ADD COLUMN next_refresh_at BIGINT;
-- Transient failures in a row, for the back-off; a success resets it.
ALTER TABLE connections ADD COLUMN transient_failures BIGINT NOT NULL DEFAULT 0;
-- What a human must do when the connection is failing.
ALTER TABLE connections ADD COLUMN next_step TEXT;

CREATE INDEX connections_by_next_refresh ON connections (next_refresh_at);

-- Who asked for each check, and whether it changed the connection's status.
ALTER TABLE validations ADD COLUMN source TEXT NOT NULL DEFAULT 'validate';
ALTER TABLE validations ADD COLUMN status_change TEXT;

-- One Concur refresh per connection at a time across processes and replicas: a holder takes
-- the row with a conditional write; a dead holder's lease lapses at expires_at.
CREATE TABLE refresh_leases (
    connection_id TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Keys the integrations present to get access tokens. Only a SHA-256 of the key is stored;
-- the prefix identifies a key in lists without revealing it.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);

CREATE INDEX api_keys_by_connection ON api_keys (connection_id, created_at);
