-- One row the readiness check writes: a database that answers reads but refuses writes (a full
-- disk, a file made read-only, a PostgreSQL standby) is not ready, since no token can be refreshed.
CREATE TABLE readiness_probe (
    id INTEGER PRIMARY KEY,
    probes BIGINT NOT NULL
);
INSERT INTO readiness_probe (id, probes) VALUES (1, 0);
