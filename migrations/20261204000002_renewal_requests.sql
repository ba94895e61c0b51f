-- Renewal requests: when a connection needs its customer (a revoked token, a disabled app, a
-- changed secret, scopes taken away, a token about to expire that keep-alive cannot move), the
-- console asks the connection's contact with a renewal link, reminds, and tells the owner when
-- nobody answers. One row per episode; at most one open per connection, so two replicas (or a
-- restart mid-round) never ask twice.
CREATE TABLE renewal_requests (
    id TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    -- What the customer must fix (`token`, `app_disabled`, `app_not_enabled`, `secret`,
    -- `scopes`, `expiring`), and for `scopes` the scopes to add, space-separated.
    reason TEXT NOT NULL,
    scopes TEXT NOT NULL DEFAULT '',
    -- The renewal link the last mail carried (a new one replaces an expired one).
    link_id TEXT REFERENCES handoffs (id) ON DELETE SET NULL,
    -- The address the last mail went to: a contact changed mid-episode is recorded here.
    contact_email TEXT NOT NULL,
    -- `open`, `completed` or `cancelled`.
    state TEXT NOT NULL,
    reminders BIGINT NOT NULL DEFAULT 0,
    next_reminder_at BIGINT,
    escalated_at BIGINT,
    asked_at BIGINT NOT NULL,
    ended_at BIGINT,
    -- Who ended it: `healed` or the person (or `connection deleted`) who cancelled it.
    ended_by TEXT
);

CREATE UNIQUE INDEX renewal_requests_one_open ON renewal_requests (connection_id) WHERE state = 'open';
CREATE INDEX renewal_requests_by_connection ON renewal_requests (connection_id, asked_at);
