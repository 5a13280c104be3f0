-- Rate-limit quotas shared by every worker of one remote account: one row per request sent,
-- per bucket (see the PostgreSQL migration; a SQLite store has one process, which keeps its
-- own limiter, so nothing writes this table there but the store suite).
CREATE TABLE quota_sends (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT    NOT NULL,
    bucket  TEXT    NOT NULL,
    sent_at TEXT    NOT NULL
);
CREATE INDEX quota_sends_recent ON quota_sends (account, bucket, sent_at);
