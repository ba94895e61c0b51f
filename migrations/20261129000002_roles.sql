-- Team access. Every account has a role (viewer < editor < admin); the accounts that existed
-- before roles could do everything, so they become admins. A deactivated account keeps its
-- row (the audit log names it) but cannot sign in.
ALTER TABLE admins ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE admins ADD COLUMN deactivated_at BIGINT;

-- Who did it, as what: the role the account had at the time.
ALTER TABLE audit_events ADD COLUMN actor_role TEXT;

-- One-time invitations: the invitee picks a user name and password and gets `role`. Only a
-- SHA-256 of the link's token is stored.
CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    used_by TEXT,
    revoked_at BIGINT
);

CREATE INDEX invitations_by_created ON invitations (created_at, id);
