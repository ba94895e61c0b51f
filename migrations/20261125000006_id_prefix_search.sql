-- A search that starts like a UUID reads the connections whose Client ID or company UUID
-- begins with it off these indexes (a range scan), on SQLite and PostgreSQL alike.
CREATE INDEX connections_by_client_id ON connections (client_id);
CREATE INDEX connections_by_company_uuid ON connections (company_uuid);
