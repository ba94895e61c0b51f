-- Who the connection a hand-off link makes will belong to, given when the link is made and
-- carried onto the connection when the customer connects: the vendor's external id, tags (one
-- `key=value` per line), the customer's contact and the owning account.
ALTER TABLE handoffs ADD COLUMN external_id TEXT;
ALTER TABLE handoffs ADD COLUMN tags TEXT NOT NULL DEFAULT '';
ALTER TABLE handoffs ADD COLUMN contact_name TEXT;
ALTER TABLE handoffs ADD COLUMN contact_email TEXT;
ALTER TABLE handoffs ADD COLUMN owner_id TEXT;
