-- Hand-off links: a customer's Concur admin connects (or renews) through a link, and no secret
-- travels by e-mail. Only a SHA-256 of the link's token is stored.
CREATE TABLE handoffs (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    -- `new` makes a connection; `renewal` replaces connection_id's refresh token.
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    note TEXT NOT NULL,
    scope_profile TEXT NOT NULL,
    required_scopes TEXT NOT NULL,
    -- The connection made (new) or renewed (renewal); a renewal link whose connection is
    -- deleted loses it and answers as revoked.
    connection_id TEXT REFERENCES connections (id) ON DELETE SET NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    opened_at BIGINT,
    completed_at BIGINT,
    revoked_at BIGINT,
    locked_at BIGINT,
    -- Connect attempts Concur or the checks refused; at 10 the link locks.
    refusals BIGINT NOT NULL DEFAULT 0,
    -- Set once the admins were told that the link expired unused.
    expiry_told BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX handoffs_by_created ON handoffs (created_at, id);
CREATE INDEX handoffs_by_expiry ON handoffs (expires_at);

-- API keys that may create and read hand-off links, and nothing else.
CREATE TABLE handoff_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
