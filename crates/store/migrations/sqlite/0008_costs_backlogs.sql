-- The API-cost report: per run and system, the requests sent (counted under the HTTP client),
-- the records synced there, the fewest requests the API's batch limits allow for them, and how
-- many of the system's streams the run's time box stopped with a backlog (carried to the next run).
CREATE TABLE run_costs (
    run_id   TEXT    NOT NULL,
    system   TEXT    NOT NULL,
    requests INTEGER NOT NULL,
    records  INTEGER NOT NULL,
    minimum  INTEGER NOT NULL,
    carried  INTEGER NOT NULL,
    at       TEXT    NOT NULL,
    PRIMARY KEY (run_id, system)
);
CREATE INDEX run_costs_recent ON run_costs (at, run_id);

-- Each incremental stream's backlog as its last run left it: how far its window is behind the
-- run's horizon, the records still to read (counted by the API, or extrapolated from the
-- density of the changes read), what the run drained and the ETA at that pace; and, for a side
-- that gets a verification sweep, its budget and the links it rotates through.
CREATE TABLE stream_backlogs (
    scope        TEXT    NOT NULL,
    system       TEXT    NOT NULL,
    object       TEXT    NOT NULL,
    pair         TEXT    NOT NULL,
    side         TEXT    NOT NULL CHECK (side IN ('left', 'right')),
    carried      BOOLEAN NOT NULL,
    records      INTEGER,
    counted      BOOLEAN NOT NULL,
    behind_ms    INTEGER NOT NULL,
    drained      INTEGER NOT NULL,
    run_ms       INTEGER NOT NULL,
    eta_ms       INTEGER,
    sweep_budget INTEGER,
    linked       INTEGER NOT NULL,
    at           TEXT    NOT NULL,
    PRIMARY KEY (scope, system, object)
);
