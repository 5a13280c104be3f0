//! Dead letters an admin acts on: filtered lists, one letter, counts by reason, and the two
//! transitions out of `open` — retried (with the re-read hint stored as a pending event in the
//! same transaction, so the next run re-processes it through the normal path) and discarded.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::db::{Arg, Db, Ts, Where, bind_args, limit_arg, on_db, on_tx, to_u64};
use super::{DeadLetter, DeadLetterSource, DeadLetterStatus, StoreError};

/// Which dead letters to list; every field narrows, `None` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterFilter {
    pub status: Option<DeadLetterStatus>,
    /// The configured system it came from.
    pub system: Option<String>,
    pub source: Option<DeadLetterSource>,
    /// Text the reason contains (case-insensitive).
    pub reason: Option<String>,
    /// At most this many, newest first (0: 100).
    pub limit: usize,
}

/// A re-read hint for the next run, stored as a pending event of `source` (the system).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    pub source: String,
    pub event_id: String,
    pub payload: String,
}

/// What a retry or discard did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterChange {
    /// It was open and now has the new status.
    Changed,
    /// It already had this status: nothing changed (a retry is idempotent).
    Already,
    /// It has this other status, which the change does not leave.
    Not(DeadLetterStatus),
    /// No dead letter has that id.
    Missing,
}

const COLUMNS: &str = "id, pair, system, object, record_id, reason, payload, run_id, created_at, \
     source, event_id, status, status_at, status_by";

pub(crate) async fn find(db: &Db, f: &DeadLetterFilter) -> Result<Vec<DeadLetter>, StoreError> {
    let mut w = Where::default();
    if let Some(s) = f.status {
        w.push("status", "=", Arg::Text(s.as_str().into()));
    }
    if let Some(s) = &f.system {
        w.push("system", "=", Arg::Text(s.clone()));
    }
    if let Some(s) = f.source {
        w.push("source", "=", Arg::Text(s.as_str().into()));
    }
    if let Some(r) = f.reason.as_deref().filter(|r| !r.is_empty()) {
        let pattern =
            format!("%{}%", r.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        w.push_with(Arg::Text(pattern), |n| format!("LOWER(reason) LIKE ${n} ESCAPE '\\'"));
    }
    let limit = if f.limit == 0 { 100 } else { f.limit };
    let sql = format!("SELECT {COLUMNS} FROM dead_letters{} ORDER BY id DESC LIMIT ${}", w.sql(), w.next());
    let mut args = w.args;
    args.push(Arg::Int(limit_arg(limit)));
    Ok(on_db!(db, p => bind_args!(sqlx::query_as(AssertSqlSafe(sql.clone())), &args).fetch_all(p).await?))
}

pub(crate) async fn get(db: &Db, id: i64) -> Result<Option<DeadLetter>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM dead_letters WHERE id = $1");
    Ok(on_db!(db, p => sqlx::query_as(AssertSqlSafe(sql.clone())).bind(id).fetch_optional(p).await?))
}

pub(crate) async fn count_open_by_reason(db: &Db) -> Result<Vec<(String, u64)>, StoreError> {
    const SQL: &str = "SELECT reason, COUNT(*) FROM dead_letters WHERE status = 'open' \
         GROUP BY reason ORDER BY COUNT(*) DESC, reason";
    let rows: Vec<(String, i64)> = on_db!(db, p => sqlx::query_as(SQL).fetch_all(p).await?);
    Ok(rows.into_iter().map(|(r, n)| (r, to_u64(n))).collect())
}

/// Moves an open letter to `to`; for a retry, stores `redrive` as a pending event in the same
/// transaction (once: the event id is unique per source).
pub(crate) async fn transition(
    db: &Db,
    id: i64,
    to: DeadLetterStatus,
    redrive: Option<&Redrive>,
    by: &str,
    at: DateTime<Utc>,
) -> Result<DeadLetterChange, StoreError> {
    const UPDATE: &str = "UPDATE dead_letters SET status = $1, status_at = $2, status_by = $3 \
         WHERE id = $4 AND status = 'open'";
    const EVENT: &str = "INSERT INTO seen_events (source, event_id, received_at, payload) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (source, event_id) DO NOTHING";
    const STATUS: &str = "SELECT status FROM dead_letters WHERE id = $1";
    let mut tx = db.begin_write().await?;
    let done = on_tx!(&mut tx, c => sqlx::query(UPDATE)
        .bind(to.as_str())
        .bind(Ts::from(at))
        .bind(by)
        .bind(id)
        .execute(c)
        .await?
        .rows_affected());
    if done == 0 {
        let status: Option<String> =
            on_tx!(&mut tx, c => sqlx::query_scalar(STATUS).bind(id).fetch_optional(c).await?);
        tx.commit().await?;
        return Ok(match status.map(DeadLetterStatus::try_from) {
            None => DeadLetterChange::Missing,
            Some(Ok(s)) if s == to => DeadLetterChange::Already,
            Some(Ok(s)) => DeadLetterChange::Not(s),
            Some(Err(e)) => return Err(StoreError::Query(format!("dead letter {id}: {e}"))),
        });
    }
    if let Some(r) = redrive {
        on_tx!(&mut tx, c => sqlx::query(EVENT)
            .bind(&r.source)
            .bind(&r.event_id)
            .bind(Ts::from(at))
            .bind(&r.payload)
            .execute(c)
            .await?
            .rows_affected());
    }
    tx.commit().await?;
    Ok(DeadLetterChange::Changed)
}
