//! What crosswalk reports about its own state, shared by `crosswalk status`, `GET /api/status`
//! and `crosswalk demo`: the last runs (with their counts and watermark windows), the lag of
//! every stream, the review queue, dead letters, and each configured system's health and
//! remaining API budgets; and a run's readable account ([`run_summary`]).
//!
//! [`gather`] reads the store; [`probe::probe_all`] asks the systems; [`render::text`] is the
//! table. The same [`StatusReport`] is what `status --json` prints, what `GET /api/status`
//! answers (without the probe: `systems` is `null`) and what `crosswalk demo` shows at its end.
//! The command itself (flags, exit codes) is `commands::status`.

pub mod costs;
pub mod probe;
pub mod render;
mod summary;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::SharedClock;
use connector_api::http::{HttpTransport, ReqwestTransport};
use serde::Serialize;

use crate::ids::IdGen;
use crate::mapping;
use crate::review::{QueueStatus, ReviewError, ReviewService};
use crate::settings::Settings;
use crate::store::{Backend, Store, StoreError, StreamKey};

pub use probe::{Budget, Health, SystemStatus};
pub use summary::run_summary;

/// The version of the [`StatusReport`] JSON shape. Fields may be added within a version;
/// renaming or removing one bumps it.
pub const FORMAT: u32 = 1;

/// How long one system may take to answer the probe before it is reported `unreachable`.
pub const PROBE_LIMIT: Duration = Duration::from_secs(5);

/// Everything `status` reports. The queue fields (`open_by_kind`, `open_total`,
/// `resolved_waiting`, `dead_letters`, `recent_runs`) sit at the top level, as `/api/status`
/// has always answered them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReport {
    /// [`FORMAT`].
    pub format: u32,
    /// When the report was made (the clock the lags are measured against).
    pub generated_at: DateTime<Utc>,
    /// The store's backend.
    pub store: Backend,
    /// The review queue, dead letters and the latest runs.
    #[serde(flatten)]
    pub queue: QueueStatus,
    /// Every saved stream checkpoint with its lag.
    pub streams: Vec<StreamStatus>,
    /// Each configured system, probed; `None` when not probed.
    pub systems: Option<Vec<SystemStatus>>,
    /// Every system's circuit breaker the store has a row for; an open one pauses its pairs.
    pub breakers: Vec<crate::store::BreakerState>,
    /// Per pair with a checkpoint: how fresh its writes were (the newest samples).
    pub freshness: Vec<PairFreshness>,
    /// Each incremental stream's backlog as its last run left it, with the ETA to drain it and,
    /// for a swept side, within how many runs a silent edit is found.
    pub backlogs: Vec<costs::BacklogStatus>,
    /// Per system: requests per synced record over the last [`costs::COST_RUNS`] runs, beside
    /// the batch-limited minimum.
    pub api_costs: Vec<costs::SystemCost>,
    /// Runs among the last ones whose time box stopped a stream, with the systems it stopped
    /// (a success: the backlog is carried to the next run).
    pub carried_runs: Vec<(String, Vec<String>)>,
}

/// How many of a pair's newest freshness samples `status` summarises.
pub const FRESHNESS_WINDOW: usize = 1000;

/// A pair's freshness over its newest samples (at most [`FRESHNESS_WINDOW`], both paths): the
/// seconds from a source record's change (its own modified time) to the write to the other side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairFreshness {
    pub pair: String,
    /// Samples summarised (0: no write with a known change time yet; the quantiles are `None`).
    pub samples: usize,
    /// Of which by a micro-sync woken by a webhook (the rest by polling runs).
    pub webhook_samples: usize,
    pub p50_seconds: Option<f64>,
    pub p99_seconds: Option<f64>,
}

impl PairFreshness {
    /// The summary of `samples` (any order).
    pub fn of(pair: &str, samples: &[crate::store::FreshnessSample]) -> Self {
        let mut millis: Vec<i64> = samples.iter().map(|s| s.millis).collect();
        millis.sort_unstable();
        // Nearest rank: the smallest sample with at least p of all samples at or below it.
        let at = |p: f64| {
            let rank = ((p * millis.len() as f64).ceil() as usize).clamp(1, millis.len().max(1));
            millis.get(rank - 1).map(|ms| *ms as f64 / 1000.0)
        };
        Self {
            pair: pair.to_string(),
            samples: millis.len(),
            webhook_samples: samples.iter().filter(|s| s.path == "webhook").count(),
            p50_seconds: at(0.5),
            p99_seconds: at(0.99),
        }
    }
}

/// One stream's saved position and how far behind it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamStatus {
    /// `pair:<name>` for a pair's incremental stream, or a backfill's scope.
    #[serde(flatten)]
    pub stream: StreamKey,
    /// The window of changes the last committed page covered.
    pub window_from: Option<DateTime<Utc>>,
    pub window_to: Option<DateTime<Utc>>,
    /// Seconds from `window_to` (the newest change applied) to `generated_at`; `None` when the
    /// last page saw no change. On a quiet stream this grows although nothing waits:
    /// `committed_at` says when the stream was last read to its end.
    pub lag_seconds: Option<i64>,
    /// When the checkpoint was last committed.
    pub committed_at: DateTime<Utc>,
}

/// Reads the store part of the report (`systems` is left `None`): the latest `runs` runs, the
/// queue, dead letters and every checkpoint's lag measured at `clock.now()`.
pub async fn gather(
    store: &Arc<dyn Store>,
    clock: &SharedClock,
    runs: usize,
) -> Result<StatusReport, StoreError> {
    let now = clock.now();
    let queue = ReviewService::new(store.clone(), clock.clone()).status(runs).await.map_err(|e| match e {
        ReviewError::Store(e) => e,
        other => StoreError::Query(other.to_string()),
    })?;
    let checkpoints = store.list_checkpoints().await?;
    let pairs: std::collections::BTreeSet<&str> =
        checkpoints.iter().filter_map(|c| c.stream.scope.strip_prefix("pair:")).collect();
    let mut freshness = Vec::new();
    for pair in pairs {
        freshness.push(PairFreshness::of(pair, &store.freshness(pair, FRESHNESS_WINDOW).await?));
    }
    let run_costs = store.run_costs(runs.max(costs::COST_RUNS)).await?;
    let streams = checkpoints
        .into_iter()
        .map(|c| StreamStatus {
            lag_seconds: c.window_to.map(|to| (now - to).num_seconds().max(0)),
            stream: c.stream,
            window_from: c.window_from,
            window_to: c.window_to,
            committed_at: c.updated_at,
        })
        .collect();
    Ok(StatusReport {
        format: FORMAT,
        generated_at: now,
        store: store.backend(),
        queue,
        streams,
        systems: None,
        breakers: store.breakers().await?,
        freshness,
        backlogs: store.backlogs().await?.into_iter().map(costs::BacklogStatus::from).collect(),
        api_costs: costs::summarise(&costs::newest_runs(&run_costs, costs::COST_RUNS)),
        carried_runs: costs::carried_runs(&run_costs),
    })
}

/// Probes the configured systems. Mappings that do not load only narrow what the connectors
/// would read; the probe does not need them.
pub async fn probe_configured(settings: &Settings, clock: SharedClock) -> Vec<SystemStatus> {
    if settings.systems.is_empty() {
        return Vec::new();
    }
    let pairs = mapping::load_dir(&settings.sync.mappings_dir).unwrap_or_default();
    let transport: Arc<dyn HttpTransport> = match ReqwestTransport::new(PROBE_LIMIT) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            return settings
                .systems
                .iter()
                .map(|(name, s)| SystemStatus {
                    name: name.clone(),
                    kind: s.kind().to_string(),
                    health: Health::Error,
                    message: Some(e.to_string()),
                    budgets: Vec::new(),
                })
                .collect();
        }
    };
    let seed = IdGen::from_entropy(clock.clone()).next().as_u128() as u64;
    probe::probe_all(&settings.systems, &pairs, clock, seed, transport, PROBE_LIMIT).await
}
