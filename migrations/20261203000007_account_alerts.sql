-- An account's own e-mail address, and whether it wants the alerts of the connections it owns
-- sent there (0 or 1).
ALTER TABLE admins ADD COLUMN email TEXT;
ALTER TABLE admins ADD COLUMN alerts_by_email BIGINT NOT NULL DEFAULT 0;
