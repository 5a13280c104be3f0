//! What runs cost and what they left behind (migration 0008): per run and system, the requests
//! sent beside the batch-limited minimum (the API-cost report of `crosswalk status` and the
//! metrics), and per incremental stream its backlog as its last run left it (records or time
//! behind, the pace it drained at, the ETA). Informational rows written after a run, outside
//! the fenced page commits: losing one loses a line of `status`, never state.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::db::{Db, Ts, limit_arg, on_db, on_tx, to_u64};
use super::{Side, StoreError, StreamKey};

/// What one run cost on one system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunCost {
    pub run_id: String,
    pub system: String,
    /// HTTP requests sent to the system during the run (every attempt, retries included),
    /// counted under the connectors' HTTP client.
    pub requests: u64,
    /// Records the run synced (created or updated on any system): what the requests bought.
    pub records: u64,
    /// The fewest requests the API allows for that work: writes at the batch size, pulled pages
    /// at the page size, and the reads the API forces (a partial event's completion).
    pub minimum: u64,
    /// Streams pulled from this system that the run's time box stopped before their end (their
    /// backlog is carried to the next run; the run is a success all the same).
    pub carried: u64,
    /// When the run finished.
    pub at: DateTime<Utc>,
}

impl RunCost {
    /// Requests per synced record (`None` when nothing was synced).
    pub fn per_record(&self) -> Option<f64> {
        (self.records > 0).then(|| self.requests as f64 / self.records as f64)
    }

    /// The minimum per synced record (`None` when nothing was synced).
    pub fn minimum_per_record(&self) -> Option<f64> {
        (self.records > 0).then(|| self.minimum as f64 / self.records as f64)
    }
}

/// One incremental stream's backlog as its last run left it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamBacklog {
    #[serde(flatten)]
    pub stream: StreamKey,
    pub pair: String,
    pub side: Side,
    /// True when the run's time box stopped this stream before its end (the rest is carried to
    /// the next run); false when it was read to its end.
    pub carried: bool,
    /// Changes still to read: counted by the API when it can say (`counted`), else extrapolated
    /// from the density of the changes this run read over the time still behind; `None` when
    /// neither is possible.
    pub records: Option<u64>,
    /// Whether `records` is the API's own count.
    pub counted: bool,
    /// How far the stream's window ends behind the run's horizon, in milliseconds.
    pub behind_ms: i64,
    /// Changes this run took from the stream (newer than what it had covered before: re-reads
    /// of the overlap are not counted).
    pub drained: u64,
    /// How long the run took, in milliseconds (what `drained` cost).
    pub run_ms: i64,
    /// Milliseconds to drain `records` at this run's pace, one run per interval; `None` when
    /// unknown (nothing drained, or `records` unknown).
    pub eta_ms: Option<i64>,
    /// Linked records the verification sweep re-reads per run on this side (`None`: the side
    /// is not swept).
    pub sweep_budget: Option<u64>,
    /// Links of the pair when the run ended (what the sweep rotates through).
    pub linked: u64,
    /// When the run ended.
    pub at: DateTime<Utc>,
}

impl StreamBacklog {
    /// The verification sweep's promise: a silent edit on this side is found within this many
    /// runs (`ceil(linked / budget)`, at least 1); `None` when the side is not swept.
    pub fn sweep_runs(&self) -> Option<u64> {
        self.sweep_budget.filter(|b| *b > 0).map(|b| self.linked.div_ceil(b).max(1))
    }
}

#[derive(sqlx::FromRow)]
struct CostRow {
    run_id: String,
    system: String,
    requests: i64,
    records: i64,
    minimum: i64,
    carried: i64,
    at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct BacklogRow {
    scope: String,
    system: String,
    object: String,
    pair: String,
    side: String,
    carried: bool,
    records: Option<i64>,
    counted: bool,
    behind_ms: i64,
    drained: i64,
    run_ms: i64,
    eta_ms: Option<i64>,
    sweep_budget: Option<i64>,
    linked: i64,
    at: DateTime<Utc>,
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) async fn record_costs(db: &Db, costs: &[RunCost]) -> Result<(), StoreError> {
    const SQL: &str = "INSERT INTO run_costs (run_id, system, requests, records, minimum, carried, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id, system) DO UPDATE SET \
         requests = excluded.requests, records = excluded.records, minimum = excluded.minimum, \
         carried = excluded.carried, at = excluded.at";
    let mut tx = db.begin_write().await?;
    for c in costs {
        on_tx!(&mut tx, conn => sqlx::query(SQL)
            .bind(&c.run_id)
            .bind(&c.system)
            .bind(signed(c.requests))
            .bind(signed(c.records))
            .bind(signed(c.minimum))
            .bind(signed(c.carried))
            .bind(Ts::from(c.at))
            .execute(conn)
            .await?
            .rows_affected());
    }
    tx.commit().await
}

pub(crate) async fn costs(db: &Db, runs: usize) -> Result<Vec<RunCost>, StoreError> {
    const SQL: &str = "SELECT run_id, system, requests, records, minimum, carried, at FROM run_costs \
         WHERE run_id IN (SELECT run_id FROM run_costs GROUP BY run_id ORDER BY MAX(at) DESC, run_id DESC \
         LIMIT $1) ORDER BY at DESC, run_id DESC, system";
    let rows: Vec<CostRow> = on_db!(db, p => sqlx::query_as(SQL).bind(limit_arg(runs)).fetch_all(p).await?);
    Ok(rows
        .into_iter()
        .map(|r| RunCost {
            run_id: r.run_id,
            system: r.system,
            requests: to_u64(r.requests),
            records: to_u64(r.records),
            minimum: to_u64(r.minimum),
            carried: to_u64(r.carried),
            at: r.at,
        })
        .collect())
}

pub(crate) async fn save_backlogs(db: &Db, backlogs: &[StreamBacklog]) -> Result<(), StoreError> {
    const SQL: &str = "INSERT INTO stream_backlogs (scope, system, object, pair, side, carried, \
         records, counted, behind_ms, drained, run_ms, eta_ms, sweep_budget, linked, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (scope, system, object) DO UPDATE SET pair = excluded.pair, \
         side = excluded.side, carried = excluded.carried, records = excluded.records, \
         counted = excluded.counted, behind_ms = excluded.behind_ms, drained = excluded.drained, \
         run_ms = excluded.run_ms, eta_ms = excluded.eta_ms, sweep_budget = excluded.sweep_budget, \
         linked = excluded.linked, at = excluded.at";
    let mut tx = db.begin_write().await?;
    for b in backlogs {
        on_tx!(&mut tx, conn => sqlx::query(SQL)
            .bind(&b.stream.scope)
            .bind(&b.stream.system)
            .bind(&b.stream.object)
            .bind(&b.pair)
            .bind(b.side.as_str())
            .bind(b.carried)
            .bind(b.records.map(signed))
            .bind(b.counted)
            .bind(b.behind_ms)
            .bind(signed(b.drained))
            .bind(b.run_ms)
            .bind(b.eta_ms)
            .bind(b.sweep_budget.map(signed))
            .bind(signed(b.linked))
            .bind(Ts::from(b.at))
            .execute(conn)
            .await?
            .rows_affected());
    }
    tx.commit().await
}

pub(crate) async fn backlogs(db: &Db) -> Result<Vec<StreamBacklog>, StoreError> {
    const SQL: &str = "SELECT scope, system, object, pair, side, carried, records, counted, \
         behind_ms, drained, run_ms, eta_ms, sweep_budget, linked, at FROM stream_backlogs \
         ORDER BY scope, system, object";
    let rows: Vec<BacklogRow> = on_db!(db, p => sqlx::query_as(SQL).fetch_all(p).await?);
    rows.into_iter()
        .map(|r| {
            Ok(StreamBacklog {
                stream: StreamKey { scope: r.scope, system: r.system, object: r.object },
                pair: r.pair,
                side: r.side.parse().map_err(|_| StoreError::Query(format!("stored side `{}`", r.side)))?,
                carried: r.carried,
                records: r.records.map(to_u64),
                counted: r.counted,
                behind_ms: r.behind_ms,
                drained: to_u64(r.drained),
                run_ms: r.run_ms,
                eta_ms: r.eta_ms,
                sweep_budget: r.sweep_budget.map(to_u64),
                linked: to_u64(r.linked),
                at: r.at,
            })
        })
        .collect()
}
