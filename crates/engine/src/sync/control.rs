//! How a caller steers a run from outside: a stop request (SIGINT/SIGTERM), a progress sink (the
//! backfill's progress bar) and the run's mode (the incremental cycle, or a backfill over a
//! range with its own checkpoints, and that backfill's saved state).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use connector_api::StopToken;
use serde::{Deserialize, Serialize};

use crate::mapping::Side;
use crate::store::{Lease, PageCommit, StreamKey};

use super::report::PageStats;

/// A request to stop at the next page boundary: the page being processed is finished and
/// committed with its checkpoint, then the pair reports "stopped" and the run ends. The same
/// token is handed to every connector ([`Connector::stop_on`](connector_api::Connector::stop_on)),
/// so waits inside a page (rate limits, back-offs, reads in flight) end at once: the page is
/// then left uncommitted for the next run instead of finished.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(StopToken);

impl StopSignal {
    /// A signal nobody has raised yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to stop: after its current page, or at once when it is waiting.
    pub fn request(&self) {
        self.0.cancel();
    }

    /// True once [`StopSignal::request`] was called.
    pub fn is_requested(&self) -> bool {
        self.0.is_cancelled()
    }

    /// The token connectors stop on.
    pub fn token(&self) -> StopToken {
        self.0.clone()
    }

    /// Resolves once the stop is requested.
    pub async fn requested(&self) {
        self.0.cancelled().await;
    }
}

/// Told after every committed page; must be cheap (it runs on the engine's task).
pub trait ProgressSink: Send + Sync {
    /// One page of `side` of `pair` was processed; `total` is the pair's running total.
    fn page(&self, pair: &str, side: Side, total: &PageStats, newest: Option<DateTime<Utc>>);
}

/// Asked before each pair of a run whether it may run (the hook of `ops::breaker`).
#[async_trait::async_trait]
pub trait PairGate: Send + Sync {
    /// `Some(reason)` to skip `pair` this run.
    async fn paused(&self, pair: &crate::mapping::PairMapping) -> Option<String>;
}

/// What a pair run reads and where it keeps its checkpoints.
#[derive(Debug, Clone)]
pub(crate) enum RunMode {
    /// The scheduled cycle: incremental checkpoints, review resolutions, verification sweep.
    Incremental,
    /// A backfill: its own checkpoints (the incremental ones never move), a time range, and a
    /// budget of creates.
    Backfill(Arc<BackfillRun>),
}

/// The live state of one backfill run.
#[derive(Debug)]
pub(crate) struct BackfillRun {
    /// The checkpoint scope of this backfill (`backfill:<id>`).
    pub scope: String,
    pub since: Option<DateTime<Utc>>,
    pub until: DateTime<Utc>,
    /// Creates still allowed in this run (`u64::MAX` when unlimited).
    pub creates_left: AtomicU64,
    /// Where the backfill's state is saved.
    pub state_key: StreamKey,
    /// One slice of a sliced backfill: it holds a lease of its own instead of the pair's, so
    /// several workers can run the slices of one pair at once.
    pub sliced: bool,
    /// The state, saved when the backfill starts and when it finishes.
    pub state: std::sync::Mutex<BackfillState>,
}

impl BackfillRun {
    /// Takes `n` creates from the budget; `false` (taking nothing) if fewer are left.
    pub fn take_creates(&self, n: u64) -> bool {
        self.creates_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(n)).is_ok()
    }

    /// A commit that saves this backfill's state (started, or finished at `finished`).
    pub fn state_commit(
        &self,
        lease: Lease,
        run_id: &str,
        at: DateTime<Utc>,
        finished: Option<DateTime<Utc>>,
    ) -> PageCommit {
        let mut state = self.state.lock().expect("backfill state lock");
        if finished.is_some() {
            state.finished_at = finished;
        }
        let mut commit = PageCommit::new(lease, run_id, at);
        let value = serde_json::to_value(&*state).unwrap_or_default();
        commit.checkpoint = Some((self.state_key.clone(), value, state.since, Some(state.until)));
        commit
    }
}

/// A backfill's saved state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackfillState {
    /// Stable id: pair + the requested range.
    pub id: String,
    /// The pair.
    pub pair: String,
    /// The range's lower bound, if any.
    pub since: Option<DateTime<Utc>>,
    /// The range's upper bound, fixed when the backfill first started.
    pub until: DateTime<Utc>,
    /// Bumped by each restart; each generation has checkpoints of its own.
    pub generation: u32,
    /// When the current generation first started.
    pub started_at: DateTime<Utc>,
    /// When it finished, if it did.
    pub finished_at: Option<DateTime<Utc>>,
    /// How many attempts (runs) the current generation took so far.
    pub attempts: u32,
}

impl BackfillState {
    /// The checkpoint scope of the current generation's streams.
    pub fn scope(&self) -> String {
        format!("backfill:{}.{}", self.id, self.generation)
    }
}
