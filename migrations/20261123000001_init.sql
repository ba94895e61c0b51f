-- Portable SQL: the same schema runs on SQLite (default) and PostgreSQL.
-- Ids are TEXT UUIDs, times BIGINT Unix seconds (UTC), flags BIGINT 0/1, secrets base64 TEXT.

CREATE TABLE admins (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Only a hash of the session token is stored: a copy of the database opens no session.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    admin_id TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE setup_tokens (
    token_hash TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE connections (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    client_id TEXT NOT NULL,
    authorization_url TEXT NOT NULL,
    geolocation TEXT,
    company_uuid TEXT,
    scope_profile TEXT NOT NULL,
    required_scopes TEXT NOT NULL,
    granted_scopes TEXT NOT NULL,
    failing BIGINT NOT NULL,
    last_problem TEXT,
    refresh_token_expires_at BIGINT,
    access_token_expires_at BIGINT,
    last_checked_at BIGINT,
    last_ok_at BIGINT,
    client_secret_sealed TEXT NOT NULL,
    refresh_token_sealed TEXT NOT NULL,
    client_secret_mask TEXT NOT NULL,
    refresh_token_mask TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX connections_by_expiry ON connections (failing, refresh_token_expires_at);

CREATE TABLE validations (
    id TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    ok BIGINT NOT NULL,
    diagnosis TEXT,
    message TEXT NOT NULL,
    concur_code BIGINT,
    correlation_id TEXT,
    duration_ms BIGINT NOT NULL
);

CREATE INDEX validations_by_connection ON validations (connection_id, at);
