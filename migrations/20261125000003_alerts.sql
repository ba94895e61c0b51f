-- Alerts: a mark per alert that fired (so a restart or a second replica never sends it twice),
-- and an outbox of deliveries (an alert is a row before it is a request).
CREATE TABLE alert_marks (
    connection_id TEXT NOT NULL,
    mark TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (connection_id, mark)
);

CREATE TABLE alert_outbox (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    connection_id TEXT,
    event TEXT NOT NULL,
    channel TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);

CREATE INDEX alert_outbox_due ON alert_outbox (state, next_attempt_at);
CREATE INDEX alert_outbox_by_connection ON alert_outbox (connection_id, created_at);
