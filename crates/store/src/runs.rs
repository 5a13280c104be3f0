//! Run records and stream checkpoints (watermarks). Checkpoints are only written inside a page
//! commit, in the same transaction as the state the page produced.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::db::{Db, Ts, Tx, limit_arg, on_db, on_tx, to_u64, ts};
use super::{
    NewRun, RunCounts, RunOutcome, RunRecord, StoreError, StoredCheckpoint, StreamKey, StreamWindow,
};

/// `SELECT <every run column> FROM runs`, as a literal for `concat!`.
macro_rules! select_runs {
    () => {
        "SELECT id, kind, pairs, started_at, finished_at, status, pulled, reread, linked, \
         created, updated, conflicts, rejected, deleted, skipped_echo, windows, error FROM runs"
    };
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: String,
    kind: String,
    pairs: Json<Vec<String>>,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    status: Option<String>,
    pulled: i64,
    reread: i64,
    linked: i64,
    created: i64,
    updated: i64,
    conflicts: i64,
    rejected: i64,
    deleted: i64,
    skipped_echo: i64,
    windows: Json<Vec<StreamWindow>>,
    error: Option<String>,
}

impl TryFrom<RunRow> for RunRecord {
    type Error = StoreError;

    fn try_from(r: RunRow) -> Result<Self, StoreError> {
        Ok(RunRecord {
            id: r.id,
            kind: r.kind.parse()?,
            pairs: r.pairs.0,
            started_at: r.started_at,
            finished_at: r.finished_at,
            status: r.status.map(|s| s.parse()).transpose()?,
            counts: RunCounts {
                pulled: to_u64(r.pulled),
                reread: to_u64(r.reread),
                linked: to_u64(r.linked),
                created: to_u64(r.created),
                updated: to_u64(r.updated),
                conflicts: to_u64(r.conflicts),
                rejected: to_u64(r.rejected),
                deleted: to_u64(r.deleted),
                skipped_echo: to_u64(r.skipped_echo),
            },
            windows: r.windows.0,
            error: r.error,
        })
    }
}

pub(crate) async fn start(db: &Db, run: &NewRun) -> Result<(), StoreError> {
    const SQL: &str = "INSERT INTO runs (id, kind, pairs, started_at) VALUES ($1, $2, $3, $4)";
    let mut tx = db.begin_write().await?;
    on_tx!(&mut tx, c => sqlx::query(SQL)
        .bind(&run.id)
        .bind(run.kind.as_str())
        .bind(Json(&run.pairs))
        .bind(Ts::from(run.started_at))
        .execute(c)
        .await?
        .rows_affected());
    tx.commit().await
}

pub(crate) async fn finish(db: &Db, id: &str, outcome: &RunOutcome) -> Result<(), StoreError> {
    const SQL: &str = "UPDATE runs SET finished_at = $1, status = $2, pulled = $3, reread = $4, \
         linked = $5, created = $6, updated = $7, conflicts = $8, rejected = $9, deleted = $10, \
         skipped_echo = $11, windows = $12, error = $13 WHERE id = $14";
    let c = &outcome.counts;
    let counts = [
        c.pulled,
        c.reread,
        c.linked,
        c.created,
        c.updated,
        c.conflicts,
        c.rejected,
        c.deleted,
        c.skipped_echo,
    ]
    .map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    let mut tx = db.begin_write().await?;
    let done = on_tx!(&mut tx, conn => {
        let mut q = sqlx::query(SQL).bind(Ts::from(outcome.finished_at)).bind(outcome.status.as_str());
        for n in counts {
            q = q.bind(n);
        }
        q.bind(Json(&outcome.windows)).bind(outcome.error.as_deref()).bind(id).execute(conn).await?.rows_affected()
    });
    if done == 0 {
        return Err(StoreError::not_found(format!("run {id}")));
    }
    tx.commit().await
}

pub(crate) async fn recent(db: &Db, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
    const SQL: &str = concat!(select_runs!(), " ORDER BY started_at DESC, id DESC LIMIT $1");
    let rows: Vec<RunRow> = on_db!(db, p => sqlx::query_as(SQL).bind(limit_arg(limit)).fetch_all(p).await?);
    rows.into_iter().map(RunRecord::try_from).collect()
}

pub(crate) async fn get(db: &Db, id: &str) -> Result<Option<RunRecord>, StoreError> {
    const SQL: &str = concat!(select_runs!(), " WHERE id = $1");
    let row: Option<RunRow> = on_db!(db, p => sqlx::query_as(SQL).bind(id).fetch_optional(p).await?);
    row.map(RunRecord::try_from).transpose()
}

/// `SELECT <every checkpoint column> FROM checkpoints`, as a literal for `concat!`.
macro_rules! select_checkpoints {
    () => {
        "SELECT scope, system, object, checkpoint, window_from, window_to, updated_at \
         FROM checkpoints"
    };
}

pub(crate) async fn load_checkpoint(
    db: &Db,
    stream: &StreamKey,
) -> Result<Option<StoredCheckpoint>, StoreError> {
    const SQL: &str = concat!(select_checkpoints!(), " WHERE scope = $1 AND system = $2 AND object = $3");
    Ok(on_db!(db, p => sqlx::query_as(SQL)
        .bind(&stream.scope)
        .bind(&stream.system)
        .bind(&stream.object)
        .fetch_optional(p)
        .await?))
}

pub(crate) async fn list_checkpoints(db: &Db) -> Result<Vec<StoredCheckpoint>, StoreError> {
    const SQL: &str = concat!(select_checkpoints!(), " ORDER BY scope, system, object");
    Ok(on_db!(db, p => sqlx::query_as(SQL).fetch_all(p).await?))
}

/// Saves a stream's checkpoint and window, replacing the previous one.
pub(crate) async fn save_checkpoint(
    tx: &mut Tx,
    stream: &StreamKey,
    checkpoint: &Value,
    window: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    const SQL: &str = "INSERT INTO checkpoints \
         (scope, system, object, checkpoint, window_from, window_to, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (scope, system, object) DO UPDATE SET checkpoint = excluded.checkpoint, \
         window_from = excluded.window_from, window_to = excluded.window_to, \
         updated_at = excluded.updated_at";
    on_tx!(tx, c => sqlx::query(SQL)
        .bind(&stream.scope)
        .bind(&stream.system)
        .bind(&stream.object)
        .bind(Json(checkpoint))
        .bind(ts(window.0))
        .bind(ts(window.1))
        .bind(Ts::from(at))
        .execute(c)
        .await?
        .rows_affected());
    Ok(())
}
