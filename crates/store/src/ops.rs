//! Operations state shared by every worker of one store: each system's circuit breaker, each
//! pair's run of consecutive failures and the last state an alert was sent for (so a restart or
//! a second worker never repeats one).
//!
//! Every change is one statement whose `WHERE` only fires on the expected state, so two workers
//! can never both "open" a breaker or both win an alert's state change.

use chrono::{DateTime, Utc};

use super::db::{Db, Ts, on_db, on_tx, to_u64};
use super::{BreakerState, BreakerUpdate, StoreError};

#[derive(sqlx::FromRow)]
struct BreakerRow {
    system: String,
    open: i64,
    failures: i64,
    reason: Option<String>,
    opened_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

impl From<BreakerRow> for BreakerState {
    fn from(r: BreakerRow) -> Self {
        BreakerState {
            system: r.system,
            open: r.open != 0,
            failures: u32::try_from(r.failures).unwrap_or(u32::MAX),
            reason: r.reason,
            opened_at: r.opened_at,
            updated_at: r.updated_at,
        }
    }
}

/// `SELECT <every breaker column> FROM breakers`, as a literal for `concat!`.
macro_rules! select_breakers {
    () => {
        "SELECT system, open, failures, reason, opened_at, updated_at FROM breakers"
    };
}

pub(crate) async fn breakers(db: &Db) -> Result<Vec<BreakerState>, StoreError> {
    const SQL: &str = concat!(select_breakers!(), " ORDER BY system");
    let rows: Vec<BreakerRow> = on_db!(db, p => sqlx::query_as(SQL).fetch_all(p).await?);
    Ok(rows.into_iter().map(BreakerState::from).collect())
}

pub(crate) async fn record_system_run(
    db: &Db,
    system: &str,
    failure: Option<&str>,
    open_after: u32,
    now: DateTime<Utc>,
) -> Result<BreakerUpdate, StoreError> {
    const FAILED: &str = "INSERT INTO breakers (system, open, failures, reason, opened_at, updated_at) \
         VALUES ($1, 0, 1, $2, NULL, $3) \
         ON CONFLICT (system) DO UPDATE SET failures = breakers.failures + 1, \
         reason = excluded.reason, updated_at = excluded.updated_at";
    const OPEN: &str = "UPDATE breakers SET open = 1, opened_at = $2, updated_at = $2 \
         WHERE system = $1 AND open = 0 AND failures >= $3";
    const OK: &str = "UPDATE breakers SET failures = 0, updated_at = $2 WHERE system = $1 AND open = 0";
    const SELECT: &str = concat!(select_breakers!(), " WHERE system = $1");
    let mut tx = db.begin_write().await?;
    let opened = on_tx!(&mut tx, c => {
        match failure {
            Some(reason) => {
                sqlx::query(FAILED).bind(system).bind(reason).bind(Ts::from(now)).execute(&mut *c).await?;
                sqlx::query(OPEN)
                    .bind(system)
                    .bind(Ts::from(now))
                    .bind(i64::from(open_after.max(1)))
                    .execute(&mut *c)
                    .await?
                    .rows_affected()
                    == 1
            }
            None => {
                sqlx::query(OK).bind(system).bind(Ts::from(now)).execute(&mut *c).await?;
                false
            }
        }
    });
    let row: Option<BreakerRow> =
        on_tx!(&mut tx, c => sqlx::query_as(SELECT).bind(system).fetch_optional(c).await?);
    tx.commit().await?;
    let state = row.map(BreakerState::from).unwrap_or_else(|| BreakerState::closed(system, now));
    Ok(BreakerUpdate { state, opened })
}

pub(crate) async fn close(
    db: &Db,
    system: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    const SQL: &str = "UPDATE breakers SET open = 0, failures = 0, reason = $2, opened_at = NULL, \
         updated_at = $3 WHERE system = $1 AND open = 1";
    let mut tx = db.begin_write().await?;
    let done = on_tx!(&mut tx, c => sqlx::query(SQL)
        .bind(system)
        .bind(reason)
        .bind(Ts::from(now))
        .execute(c)
        .await?
        .rows_affected());
    tx.commit().await?;
    Ok(done == 1)
}

pub(crate) async fn record_pair_run(
    db: &Db,
    pair: &str,
    failed: bool,
    now: DateTime<Utc>,
) -> Result<u32, StoreError> {
    const SQL: &str = "INSERT INTO pair_streaks (pair, failures, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (pair) DO UPDATE SET failures = CASE WHEN $2 = 0 THEN 0 \
         ELSE pair_streaks.failures + 1 END, updated_at = excluded.updated_at \
         RETURNING failures";
    let mut tx = db.begin_write().await?;
    let n: i64 = on_tx!(&mut tx, c => sqlx::query_scalar(SQL)
        .bind(pair)
        .bind(i64::from(failed))
        .bind(Ts::from(now))
        .fetch_one(c)
        .await?);
    tx.commit().await?;
    Ok(u32::try_from(to_u64(n)).unwrap_or(u32::MAX))
}

pub(crate) async fn alert_state(db: &Db, key: &str) -> Result<Option<String>, StoreError> {
    const SQL: &str = "SELECT state FROM alert_states WHERE key = $1";
    Ok(on_db!(db, p => sqlx::query_scalar(SQL).bind(key).fetch_optional(p).await?))
}

pub(crate) async fn swap_alert_state(
    db: &Db,
    key: &str,
    expected: Option<&str>,
    new: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    const INSERT: &str = "INSERT INTO alert_states (key, state, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO NOTHING";
    const UPDATE: &str = "UPDATE alert_states SET state = $2, updated_at = $3 WHERE key = $1 AND state = $4";
    let mut tx = db.begin_write().await?;
    let done = on_tx!(&mut tx, c => match expected {
        None => sqlx::query(INSERT).bind(key).bind(new).bind(Ts::from(now)).execute(c).await?.rows_affected(),
        Some(old) => sqlx::query(UPDATE)
            .bind(key)
            .bind(new)
            .bind(Ts::from(now))
            .bind(old)
            .execute(c)
            .await?
            .rows_affected(),
    });
    tx.commit().await?;
    Ok(done == 1)
}
