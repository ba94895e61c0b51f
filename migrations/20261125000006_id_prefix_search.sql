-- A search that starts like a UUID reads the connections whose Client ID or company UUID
-- begins with it off these indexes (a range scan), on SQLite and PostgreSQL alike. The id is
-- in the index, so listing or counting the matches never reads the table.
CREATE INDEX connections_by_client_id ON connections (client_id, id);
CREATE INDEX connections_by_company_uuid ON connections (company_uuid, id);
