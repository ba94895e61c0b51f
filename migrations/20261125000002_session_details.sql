-- "Your sessions": each session gets an id the browser may see (never the token or its hash),
-- the address it signed in from and its user agent.
ALTER TABLE sessions ADD COLUMN id TEXT;
ALTER TABLE sessions ADD COLUMN address TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
CREATE UNIQUE INDEX sessions_by_id ON sessions (id);
CREATE INDEX sessions_by_admin ON sessions (admin_id);
