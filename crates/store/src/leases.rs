//! Leases with fencing tokens: one row per lease name, never deleted, whose token increases on
//! every successful claim. `expires_at` NULL means released.
//!
//! A claim is a single upsert whose `DO UPDATE … WHERE` only fires when the lease is free, so
//! two claimers can never both win: on SQLite the write transaction is `BEGIN IMMEDIATE`
//! (writers are serialised); on PostgreSQL the conflicting insert waits for the row lock and
//! then re-checks the `WHERE` against the winner's row.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::db::{Db, Ts, Tx, on_db, on_tx, stored};
use super::{Lease, StoreError};

pub(crate) async fn claim(
    db: &Db,
    name: &str,
    owner: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Option<Lease>, StoreError> {
    const SQL: &str = "INSERT INTO leases (name, owner, token, expires_at) VALUES ($1, $2, 1, $3) \
         ON CONFLICT (name) DO UPDATE \
         SET owner = excluded.owner, token = leases.token + 1, expires_at = excluded.expires_at \
         WHERE leases.expires_at IS NULL OR leases.expires_at <= $4 \
         RETURNING token";
    let expires_at = expiry(now, ttl)?;
    let mut tx = db.begin_write().await?;
    let token: Option<i64> = on_tx!(&mut tx, c => sqlx::query_scalar(SQL)
        .bind(name)
        .bind(owner)
        .bind(Ts::from(expires_at))
        .bind(Ts::from(now))
        .fetch_optional(c)
        .await?);
    tx.commit().await?;
    Ok(token.map(|token| Lease { name: name.to_owned(), owner: owner.to_owned(), token, expires_at }))
}

pub(crate) async fn take_over(
    db: &Db,
    name: &str,
    dead_owner: &str,
    owner: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Option<Lease>, StoreError> {
    const SQL: &str = "UPDATE leases SET owner = $1, token = token + 1, expires_at = $2 \
         WHERE name = $3 AND owner = $4 AND expires_at IS NOT NULL \
         RETURNING token";
    let expires_at = expiry(now, ttl)?;
    let mut tx = db.begin_write().await?;
    let token: Option<i64> = on_tx!(&mut tx, c => sqlx::query_scalar(SQL)
        .bind(owner)
        .bind(Ts::from(expires_at))
        .bind(name)
        .bind(dead_owner)
        .fetch_optional(c)
        .await?);
    tx.commit().await?;
    Ok(token.map(|token| Lease { name: name.to_owned(), owner: owner.to_owned(), token, expires_at }))
}

pub(crate) async fn renew(
    db: &Db,
    lease: &Lease,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    const SQL: &str = "UPDATE leases SET expires_at = $1 \
         WHERE name = $2 AND owner = $3 AND token = $4 AND expires_at IS NOT NULL";
    let expires_at = expiry(now, ttl)?;
    let mut tx = db.begin_write().await?;
    let done = on_tx!(&mut tx, c => sqlx::query(SQL)
        .bind(Ts::from(expires_at))
        .bind(&lease.name)
        .bind(&lease.owner)
        .bind(lease.token)
        .execute(c)
        .await?
        .rows_affected());
    tx.commit().await?;
    Ok(done == 1)
}

pub(crate) async fn release(db: &Db, lease: &Lease) -> Result<(), StoreError> {
    const SQL: &str = "UPDATE leases SET expires_at = NULL WHERE name = $1 AND owner = $2 AND token = $3";
    let mut tx = db.begin_write().await?;
    on_tx!(&mut tx, c => sqlx::query(SQL)
        .bind(&lease.name)
        .bind(&lease.owner)
        .bind(lease.token)
        .execute(c)
        .await?
        .rows_affected());
    tx.commit().await
}

pub(crate) async fn holder(db: &Db, name: &str) -> Result<Option<String>, StoreError> {
    const SQL: &str = "SELECT owner FROM leases WHERE name = $1 AND expires_at IS NOT NULL";
    Ok(on_db!(db, p => sqlx::query_scalar(SQL).bind(name).fetch_optional(p).await?))
}

/// Fails with [`StoreError::LeaseLost`] unless `lease` is still the current, unreleased holder.
/// The no-op update also locks the lease row on PostgreSQL, so a claim that would take the
/// lease over waits until this transaction ends.
pub(crate) async fn fence(tx: &mut Tx, lease: &Lease) -> Result<(), StoreError> {
    const SQL: &str = "UPDATE leases SET token = token \
         WHERE name = $1 AND owner = $2 AND token = $3 AND expires_at IS NOT NULL";
    let done = on_tx!(tx, c => sqlx::query(SQL)
        .bind(&lease.name)
        .bind(&lease.owner)
        .bind(lease.token)
        .execute(c)
        .await?
        .rows_affected());
    if done == 1 { Ok(()) } else { Err(StoreError::LeaseLost) }
}

fn expiry(now: DateTime<Utc>, ttl: Duration) -> Result<DateTime<Utc>, StoreError> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|ttl| now.checked_add_signed(ttl))
        .map(stored)
        .ok_or_else(|| StoreError::Query(format!("lease ttl {ttl:?} is out of range")))
}
