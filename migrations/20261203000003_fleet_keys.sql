-- Fleet keys: one API key that opens the token of every connection its selector matches at the
-- time of the call (`env=prod,region=emea`; empty: every connection). Only a hash is stored.
CREATE TABLE fleet_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    selector TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
