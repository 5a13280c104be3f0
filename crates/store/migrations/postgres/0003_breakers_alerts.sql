-- Circuit breakers per system, failure streaks per pair and the last alert state per subject,
-- shared by every worker of one store (see src/ops/).
CREATE TABLE breakers (
    system     TEXT        PRIMARY KEY,
    open       BIGINT      NOT NULL,
    failures   BIGINT      NOT NULL,
    reason     TEXT,
    opened_at  TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE pair_streaks (
    pair       TEXT        PRIMARY KEY,
    failures   BIGINT      NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE alert_states (
    key        TEXT        PRIMARY KEY,
    state      TEXT        NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
