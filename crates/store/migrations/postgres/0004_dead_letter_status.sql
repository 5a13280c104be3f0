-- Dead letters an admin can act on: where each came from (a pull or a webhook delivery, with its
-- event id), and its status (open → retried, or open → discarded) with when and by whom.
ALTER TABLE dead_letters ADD COLUMN source TEXT NOT NULL DEFAULT 'pull' CHECK (source IN ('pull', 'webhook'));
ALTER TABLE dead_letters ADD COLUMN event_id TEXT;
ALTER TABLE dead_letters ADD COLUMN status TEXT NOT NULL DEFAULT 'open'
    CHECK (status IN ('open', 'retried', 'discarded'));
ALTER TABLE dead_letters ADD COLUMN status_at TIMESTAMPTZ;
ALTER TABLE dead_letters ADD COLUMN status_by TEXT;
CREATE INDEX dead_letters_status ON dead_letters (status, id);
