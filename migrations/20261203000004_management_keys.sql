-- Management keys live beside fleet keys: a key not tied to one connection, and what it may do.
-- `tokens`: a fleet key (opens the tokens its selector matches); `manage`: reads and changes
-- connections and hand-off links through the management API; `read`: reads them only.
ALTER TABLE fleet_keys ADD COLUMN access TEXT NOT NULL DEFAULT 'tokens';
