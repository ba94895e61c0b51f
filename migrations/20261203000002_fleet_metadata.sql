-- Who a connection belongs to: the vendor's own id for the customer (unique when set), the
-- customer's Concur admin, the console account that owns it, and tags (one value per key,
-- read by key and value when a selector narrows the fleet).
ALTER TABLE connections ADD COLUMN external_id TEXT;
ALTER TABLE connections ADD COLUMN contact_name TEXT;
ALTER TABLE connections ADD COLUMN contact_email TEXT;
ALTER TABLE connections ADD COLUMN owner_id TEXT;
CREATE UNIQUE INDEX connections_external_id ON connections (external_id);
CREATE INDEX connections_owner ON connections (owner_id);

CREATE TABLE connection_tags (
    connection_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (connection_id, key)
);
CREATE INDEX connection_tags_by_value ON connection_tags (key, value, connection_id);
