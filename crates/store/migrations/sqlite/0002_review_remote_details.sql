-- What the remote said when it refused a write for good (write_rejected) or which remote field a
-- held_back item is about: the system (config name), its error code, message and field/property
-- name (never a value).
ALTER TABLE review_items ADD COLUMN remote_system TEXT;
ALTER TABLE review_items ADD COLUMN remote_code TEXT;
ALTER TABLE review_items ADD COLUMN remote_message TEXT;
ALTER TABLE review_items ADD COLUMN remote_field TEXT;
CREATE INDEX review_items_state_detected ON review_items (state, detected_at, id);
