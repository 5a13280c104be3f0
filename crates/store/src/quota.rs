//! Rate-limit quotas shared by the workers of one remote account: an exact sliding log per
//! bucket in `quota_sends` (migration 0007). An admission is one transaction that serialises on
//! the bucket (an advisory transaction lock per account and bucket on PostgreSQL, taken in name
//! order so two multi-bucket admissions cannot deadlock; `BEGIN IMMEDIATE` on SQLite), reads the
//! bucket's `limit`-th newest send in its window and, when every bucket has room, records one
//! send in each: all or none, so N workers together never send more than `limit` per window.

use chrono::{DateTime, Utc};

use super::db::{Db, Ts, Tx, on_tx};
use super::{QuotaBucket, QuotaTake, StoreError};

pub(crate) async fn take(
    db: &Db,
    account: &str,
    buckets: &[QuotaBucket],
    now: DateTime<Utc>,
) -> Result<QuotaTake, StoreError> {
    let mut sorted: Vec<&QuotaBucket> = buckets.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    sorted.dedup_by(|a, b| a.name == b.name);
    let mut tx = db.begin_write().await?;
    let mut not_before: Option<DateTime<Utc>> = None;
    for b in &sorted {
        lock(&mut tx, account, &b.name).await?;
        if let Some(t) = full_until(&mut tx, account, b, now).await? {
            not_before = Some(not_before.map_or(t, |n| n.max(t)));
        }
    }
    if let Some(t) = not_before {
        // Nothing was written; dropping the transaction rolls the locks back.
        return Ok(QuotaTake::NotBefore(t));
    }
    for b in &sorted {
        record(&mut tx, account, b, now).await?;
    }
    tx.commit().await?;
    Ok(QuotaTake::Taken)
}

/// Serialises admissions on one bucket of one account until the transaction ends.
async fn lock(tx: &mut Tx, account: &str, bucket: &str) -> Result<(), StoreError> {
    if let Tx::Postgres(t) = tx {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
            .bind(format!("quota\n{account}\n{bucket}"))
            .execute(&mut **t)
            .await?;
    }
    // SQLite: the write transaction (`BEGIN IMMEDIATE`) already holds the database's lock.
    Ok(())
}

/// When the bucket has room again, if it has none now: the `limit`-th newest send in the
/// window plus the window.
async fn full_until(
    tx: &mut Tx,
    account: &str,
    b: &QuotaBucket,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    const SQL: &str = "SELECT sent_at FROM quota_sends WHERE account = $1 AND bucket = $2 \
         AND sent_at > $3 ORDER BY sent_at DESC LIMIT 1 OFFSET $4";
    let span = span(b)?;
    let offset = i64::from(b.limit.max(1)) - 1;
    let oldest: Option<DateTime<Utc>> = on_tx!(tx, c => sqlx::query_scalar(SQL)
        .bind(account)
        .bind(&b.name)
        .bind(Ts::from(now - span))
        .bind(offset)
        .fetch_optional(c)
        .await?);
    Ok(oldest.map(|t| t + span).filter(|t| *t > now))
}

/// Records one send at `now` and forgets the bucket's sends older than its window.
async fn record(tx: &mut Tx, account: &str, b: &QuotaBucket, now: DateTime<Utc>) -> Result<(), StoreError> {
    const INSERT: &str = "INSERT INTO quota_sends (account, bucket, sent_at) VALUES ($1, $2, $3)";
    const PRUNE: &str = "DELETE FROM quota_sends WHERE account = $1 AND bucket = $2 AND sent_at <= $3";
    on_tx!(tx, c => sqlx::query(INSERT).bind(account).bind(&b.name).bind(Ts::from(now)).execute(c).await?.rows_affected());
    let cutoff = Ts::from(now - span(b)?);
    on_tx!(tx, c => sqlx::query(PRUNE).bind(account).bind(&b.name).bind(cutoff).execute(c).await?.rows_affected());
    Ok(())
}

fn span(b: &QuotaBucket) -> Result<chrono::Duration, StoreError> {
    chrono::Duration::from_std(b.window)
        .map_err(|_| StoreError::Query(format!("quota window of bucket `{}` is out of range", b.name)))
}
