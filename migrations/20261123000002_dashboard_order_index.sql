-- The dashboard's order (failing first, then soonest expiry, unknown expiry last, then name):
-- the same expressions as the store's ORDER BY, so a page is read off this index.
CREATE INDEX connections_by_band
    ON connections (failing DESC, COALESCE(refresh_token_expires_at, 9223372036854775807), name, id);
