-- Records whose identity probes matched nothing, with a hash of the keys they were probed with:
-- such a record is probed again only when those keys change (a record on the other side that
-- could match it finds it by its own probe). A link made for the record forgets its row.
CREATE TABLE identity_misses (
    pair TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('left', 'right')),
    record_id TEXT NOT NULL,
    keys_hash TEXT NOT NULL,
    checked_at TEXT NOT NULL,
    PRIMARY KEY (pair, side, record_id)
);
