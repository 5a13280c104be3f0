-- crosswalk state store, PostgreSQL dialect. Keep table and column names identical to
-- migrations/sqlite/0001_init.sql (the schema-parity test checks).
-- Timestamps are TIMESTAMPTZ (the store writes microsecond precision on both backends);
-- JSON columns are JSONB. Identity ids are never reused.

CREATE TABLE links (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pair              TEXT        NOT NULL,
    left_id           TEXT        NOT NULL,
    right_id          TEXT        NOT NULL,
    base              JSONB       NOT NULL,
    left_hash         TEXT,
    right_hash        TEXT,
    low_confidence    BOOLEAN     NOT NULL DEFAULT false,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    left_verified_at  TIMESTAMPTZ,
    right_verified_at TIMESTAMPTZ,
    UNIQUE (pair, left_id),
    UNIQUE (pair, right_id)
);
CREATE INDEX links_left_verified ON links (pair, left_verified_at NULLS FIRST, id);
CREATE INDEX links_right_verified ON links (pair, right_verified_at NULLS FIRST, id);

CREATE TABLE link_keys (
    link_id BIGINT NOT NULL REFERENCES links (id) ON DELETE CASCADE,
    pair    TEXT   NOT NULL,
    side    TEXT   NOT NULL CHECK (side IN ('left', 'right')),
    field   TEXT   NOT NULL,
    value   TEXT   NOT NULL,
    PRIMARY KEY (link_id, side, field, value)
);
CREATE INDEX link_keys_lookup ON link_keys (pair, side, field, value);

CREATE TABLE checkpoints (
    scope       TEXT        NOT NULL,
    system      TEXT        NOT NULL,
    object      TEXT        NOT NULL,
    checkpoint  JSONB       NOT NULL,
    window_from TIMESTAMPTZ,
    window_to   TIMESTAMPTZ,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, system, object)
);

CREATE TABLE runs (
    id           TEXT        PRIMARY KEY,
    kind         TEXT        NOT NULL CHECK (kind IN ('scheduled', 'manual', 'backfill')),
    pairs        JSONB       NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    status       TEXT        CHECK (status IN ('ok', 'partial', 'failed', 'aborted')),
    pulled       BIGINT      NOT NULL DEFAULT 0,
    reread       BIGINT      NOT NULL DEFAULT 0,
    linked       BIGINT      NOT NULL DEFAULT 0,
    created      BIGINT      NOT NULL DEFAULT 0,
    updated      BIGINT      NOT NULL DEFAULT 0,
    conflicts    BIGINT      NOT NULL DEFAULT 0,
    rejected     BIGINT      NOT NULL DEFAULT 0,
    deleted      BIGINT      NOT NULL DEFAULT 0,
    skipped_echo BIGINT      NOT NULL DEFAULT 0,
    windows      JSONB       NOT NULL DEFAULT '[]',
    error        TEXT
);
CREATE INDEX runs_recent ON runs (started_at, id);

-- A lease row is never deleted: its token must keep increasing. expires_at NULL = released.
CREATE TABLE leases (
    name       TEXT        PRIMARY KEY,
    owner      TEXT        NOT NULL,
    token      BIGINT      NOT NULL,
    expires_at TIMESTAMPTZ
);

CREATE TABLE review_items (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pair              TEXT        NOT NULL,
    link_id           BIGINT,
    kind              TEXT        NOT NULL CHECK (kind IN
                          ('field_conflict', 'ambiguous_identity', 'write_rejected', 'held_back', 'deleted')),
    field             TEXT,
    base_value        TEXT,
    left_value        TEXT,
    right_value       TEXT,
    left_modified_at  TIMESTAMPTZ,
    right_modified_at TIMESTAMPTZ,
    left_id           TEXT,
    right_id          TEXT,
    rule              TEXT,
    reason            TEXT        NOT NULL,
    candidates        JSONB       NOT NULL,
    detected_at       TIMESTAMPTZ NOT NULL,
    run_id            TEXT        NOT NULL,
    state             TEXT        NOT NULL CHECK (state IN ('open', 'resolved', 'applied', 'superseded', 'ignored')),
    resolution_action TEXT        CHECK (resolution_action IN ('take_left', 'take_right', 'take_base', 'value', 'ignore')),
    resolution_value  TEXT,
    resolved_by       TEXT,
    resolved_at       TIMESTAMPTZ,
    resolution_note   TEXT,
    applied_run_id    TEXT,
    updated_at        TIMESTAMPTZ NOT NULL,
    -- (pair, kind, link or record ids, field) as JSON: one open item per key.
    dedupe_key        TEXT        NOT NULL
);
CREATE UNIQUE INDEX review_items_one_open ON review_items (dedupe_key) WHERE state = 'open';
CREATE INDEX review_items_state ON review_items (state, id);
CREATE INDEX review_items_pair_state ON review_items (pair, state, id);
CREATE INDEX review_items_link ON review_items (link_id);

CREATE TABLE dead_letters (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pair       TEXT,
    system     TEXT        NOT NULL,
    object     TEXT        NOT NULL,
    record_id  TEXT,
    reason     TEXT        NOT NULL,
    payload    TEXT        NOT NULL,
    run_id     TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE decisions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      TEXT        NOT NULL,
    pair        TEXT        NOT NULL,
    link_id     BIGINT,
    system      TEXT        NOT NULL,
    record_id   TEXT        NOT NULL,
    field       TEXT        NOT NULL,
    old_value   TEXT,
    new_value   TEXT,
    source_side TEXT        NOT NULL CHECK (source_side IN ('left', 'right')),
    rule        TEXT        NOT NULL,
    reason      TEXT        NOT NULL,
    echo        BOOLEAN     NOT NULL,
    provenance  TEXT,
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX decisions_record ON decisions (system, record_id, at, id);

CREATE TABLE write_intents (
    key        TEXT        PRIMARY KEY,
    pair       TEXT        NOT NULL,
    system     TEXT        NOT NULL,
    object     TEXT        NOT NULL,
    op_json    JSONB       NOT NULL,
    run_id     TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    done_at    TIMESTAMPTZ
);
CREATE INDEX write_intents_pending ON write_intents (pair, created_at, key) WHERE done_at IS NULL;

CREATE TABLE seen_events (
    source       TEXT        NOT NULL,
    event_id     TEXT        NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    payload      TEXT        NOT NULL,
    processed_at TIMESTAMPTZ,
    PRIMARY KEY (source, event_id)
);
CREATE INDEX seen_events_pending ON seen_events (source, received_at, event_id) WHERE processed_at IS NULL;
