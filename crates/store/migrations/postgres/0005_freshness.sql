-- Freshness: per pair and path (`poll`: a scheduled or manual run; `webhook`: a micro-sync),
-- how long after the source's change (the record's own modified time) the engine's write to
-- the other side succeeded. Written with the page commit; samples older than the retention
-- (see `FRESHNESS_KEEP` in crosswalk-store) are pruned by the commits of the same pair.
CREATE TABLE freshness (
    id      BIGSERIAL   PRIMARY KEY,
    pair    TEXT        NOT NULL,
    path    TEXT        NOT NULL CHECK (path IN ('poll', 'webhook')),
    millis  BIGINT      NOT NULL,
    at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX freshness_recent ON freshness (pair, at);
