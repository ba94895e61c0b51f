-- The degraded connections' own index holds the dashboard's order among them (none of them is
-- failing), so a page of them is read off it instead of every one of them read and sorted.
DROP INDEX connections_degraded;
CREATE INDEX connections_degraded
    ON connections (COALESCE(refresh_token_expires_at, 9223372036854775807), name, id)
    WHERE degraded <> 0;
