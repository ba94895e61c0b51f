-- Whether the console asks this connection's customer for a renewal on its own: NULL follows
-- the console-wide setting, 1 always asks, 0 never (an admin still can, by hand).
ALTER TABLE connections ADD COLUMN renewal_automatic BIGINT;
-- The few set to always ask, found without reading every connection where the console does
-- not ask on its own.
CREATE INDEX connections_renewal_automatic ON connections (renewal_automatic) WHERE renewal_automatic IS NOT NULL;
