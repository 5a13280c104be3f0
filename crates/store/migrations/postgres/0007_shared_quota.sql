-- Rate-limit quotas shared by every worker of one remote account: one row per request sent,
-- per bucket. A request is admitted when fewer than the bucket's limit were sent in the
-- window before it (an exact sliding log, as each process keeps in memory). `account` is the
-- system, its base URL and a hash of the credential, never the credential. Rows older than a
-- window are deleted by the next admission on the same bucket.
CREATE TABLE quota_sends (
    id      BIGSERIAL   PRIMARY KEY,
    account TEXT        NOT NULL,
    bucket  TEXT        NOT NULL,
    sent_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX quota_sends_recent ON quota_sends (account, bucket, sent_at);
