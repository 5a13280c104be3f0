//! The run loop: one sync cycle of every pair (or the named ones).
//!
//! For each pair the engine takes the pair's lease, pulls each side page by page from its
//! checkpoint (rewound by the overlap on the first page), resolves identities, plans each linked
//! record with the pure planner, executes the writes in batches and commits everything the page
//! produced — links, bases, review items, decisions, dead letters and the new checkpoint — in one
//! fenced store transaction. A page whose writes could not all be applied or parked leaves the
//! checkpoint where it was, so the next run reads it again.

mod apply;
mod backfill;
mod backlinks;
mod caps;
mod control;
mod identity;
mod outcome;
mod page;
mod pull;
mod resolutions;
pub mod webhook_events;
mod writes;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::{Connector, ConnectorError, SharedClock};
use tracing::{Instrument, info, info_span, warn};

use crate::ids::IdGen;
use crate::mapping::{PairMapping, Side};
use crate::store::{NewRun, RunKind, RunOutcome, RunStatus, Store, StoreError, StreamWindow};

pub use backfill::{BackfillReport, BackfillSpec, BackfillState, backfill_id, slices};
pub use control::{ProgressSink, StopSignal};
pub use page::PageStats;

use control::RunMode;

/// What can stop a run.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The store failed; nothing more can be committed.
    #[error("state store: {0}")]
    Store(#[from] StoreError),
    /// A connector failed in a way that stops this pair (auth, quota, an unreadable answer).
    #[error("system `{system}`: {source}")]
    Connector {
        /// The configured system name.
        system: String,
        /// What went wrong.
        source: ConnectorError,
    },
    /// A mapping names a system that is not configured.
    #[error("pair `{pair}` uses system `{system}`, which is not configured")]
    UnknownSystem {
        /// The pair.
        pair: String,
        /// The missing system.
        system: String,
    },
    /// Another process took the lease over while this one was working.
    #[error("the lease for pair `{0}` was lost to another process; its work will be redone by the holder")]
    LeaseLost(String),
    /// The request cannot be carried out as given.
    #[error("{0}")]
    Invalid(String),
    /// No mapping defines this pair.
    #[error("no pair named `{0}` (pairs are named after their mapping files; see `crosswalk check`)")]
    UnknownPair(String),
}

/// Knobs of the run loop, from settings.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Default re-read window behind each checkpoint.
    pub overlap: Duration,
    /// Per-system overrides of `overlap`.
    pub overlaps: BTreeMap<String, Duration>,
    /// The watermark never passes run start minus this.
    pub safety_margin: Duration,
    /// Records per pulled page.
    pub page_size: usize,
    /// Lease length.
    pub lease_ttl: Duration,
    /// Linked records re-read per side per run by the verification sweep, for systems whose
    /// pulls miss some edits.
    pub sweep_budget: usize,
    /// Who holds leases (host + pid in production).
    pub owner: String,
    /// Whether a scheduled run of a pair that has never synced in this store may create records
    /// (off by default: such a run only links, and says to run a backfill first).
    pub first_sync_creates: bool,
}

impl SyncOptions {
    /// These options with creates allowed on a pair's first sync (for worlds built in code,
    /// where an empty store is the point, not an accident).
    pub fn creating_on_first_sync(self) -> Self {
        Self { first_sync_creates: true, ..self }
    }
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            overlap: Duration::from_secs(120),
            overlaps: BTreeMap::new(),
            safety_margin: Duration::from_secs(5),
            page_size: 200,
            lease_ttl: Duration::from_secs(600),
            sweep_budget: 100,
            owner: "crosswalk".to_string(),
            first_sync_creates: false,
        }
    }
}

/// How one pair's cycle ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairStatus {
    /// Every page was processed and committed.
    Done,
    /// Another process holds the pair's lease; this run skipped it.
    Skipped {
        /// The lease holder.
        holder: String,
    },
    /// Some pages could not be finished (transient failures, a safety cap); the checkpoint
    /// stayed behind them and the next run retries.
    Incomplete {
        /// Why.
        reason: String,
    },
    /// The pair stopped on an error an operator must look at.
    Failed {
        /// Why.
        reason: String,
    },
}

/// One pair's part of a run.
#[derive(Debug, Clone)]
pub struct PairReport {
    /// The pair.
    pub pair: String,
    /// How it ended.
    pub status: PairStatus,
    /// What it did.
    pub stats: PageStats,
    /// The dry-run plan, rendered (empty unless dry-run).
    pub plan: String,
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The run's id.
    pub run_id: String,
    /// One report per pair.
    pub pairs: Vec<PairReport>,
    /// The run's status.
    pub status: RunStatus,
}

impl RunReport {
    /// Sum of every pair's counters.
    pub fn totals(&self) -> PageStats {
        let mut total = PageStats::default();
        for p in &self.pairs {
            total.add(&p.stats);
        }
        total
    }
}

/// The engine: connectors, pairs, store, clock.
pub struct Engine {
    store: Arc<dyn Store>,
    systems: BTreeMap<String, Arc<dyn Connector>>,
    pairs: Vec<Arc<PairMapping>>,
    clock: SharedClock,
    ids: Arc<IdGen>,
    opts: SyncOptions,
    stop: StopSignal,
    progress: Option<Arc<dyn ProgressSink>>,
}

impl Engine {
    /// Assembles an engine.
    pub fn new(
        store: Arc<dyn Store>,
        systems: BTreeMap<String, Arc<dyn Connector>>,
        pairs: Vec<PairMapping>,
        clock: SharedClock,
        ids: Arc<IdGen>,
        opts: SyncOptions,
    ) -> Self {
        let stop = StopSignal::new();
        for connector in systems.values() {
            connector.stop_on(stop.token());
        }
        Self {
            store,
            systems,
            pairs: pairs.into_iter().map(Arc::new).collect(),
            clock,
            ids,
            opts,
            stop,
            progress: None,
        }
    }

    /// Reports every committed page to `sink` (e.g. a progress bar).
    pub fn with_progress(mut self, sink: Arc<dyn ProgressSink>) -> Self {
        self.progress = Some(sink);
        self
    }

    /// The signal that makes runs stop after their current page (raise it from a signal
    /// handler). Runs started after it was raised stop at their first page boundary too.
    pub fn stop_signal(&self) -> StopSignal {
        self.stop.clone()
    }

    /// The names of the configured pairs.
    pub fn pair_names(&self) -> Vec<String> {
        self.pairs.iter().map(|p| p.name.clone()).collect()
    }

    fn margin(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.opts.safety_margin).unwrap_or_default()
    }

    /// The store this engine commits to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Runs one cycle of the named pairs (all when `only` is empty). With `dry_run` nothing is
    /// written anywhere and the report carries the rendered plan.
    pub async fn run(&self, kind: RunKind, only: &[String], dry_run: bool) -> Result<RunReport, SyncError> {
        if let Some(unknown) = only.iter().find(|name| !self.pairs.iter().any(|p| &&p.name == name)) {
            return Err(SyncError::UnknownPair(unknown.clone()));
        }
        self.run_mode(kind, only, dry_run, RunMode::Incremental).await
    }

    async fn run_mode(
        &self,
        kind: RunKind,
        only: &[String],
        dry_run: bool,
        mode: RunMode,
    ) -> Result<RunReport, SyncError> {
        let run_id = self.ids.next().to_string();
        let started_at = self.clock.now();
        let pairs: Vec<_> =
            self.pairs.iter().filter(|p| only.is_empty() || only.contains(&p.name)).cloned().collect();
        let names = pairs.iter().map(|p| p.name.clone()).collect();
        if !dry_run {
            self.store.start_run(&NewRun { id: run_id.clone(), kind, pairs: names, started_at }).await?;
        }
        let span = info_span!("run", run_id = %run_id, dry_run);
        let mut reports = Vec::new();
        let mut windows = Vec::new();
        async {
            for pair in &pairs {
                if self.stop.is_requested() {
                    reports.push(PairReport {
                        pair: pair.name.clone(),
                        status: PairStatus::Incomplete { reason: "stopped on request before this pair started".into() },
                        stats: PageStats::default(),
                        plan: String::new(),
                    });
                    continue;
                }
                let report = self
                    .run_pair(pair, &run_id, started_at, dry_run, &mode, &mut windows)
                    .instrument(info_span!("pair", pair = %pair.name))
                    .await;
                match &report.status {
                    PairStatus::Skipped { holder } => {
                        info!(pair = %pair.name, %holder, "skipped: another process holds this pair's lease")
                    }
                    PairStatus::Failed { reason } => warn!(pair = %pair.name, %reason, "pair failed"),
                    _ => info!(pair = %pair.name, pulled = report.stats.run.pulled, written = report.stats.written(), conflicts = report.stats.run.conflicts, "pair done"),
                }
                reports.push(report);
            }
        }
        .instrument(span)
        .await;
        let status = run_status(&reports);
        let report = RunReport { run_id: run_id.clone(), pairs: reports, status };
        if !dry_run {
            let totals = report.totals();
            let failed = report.pairs.iter().find_map(|p| match &p.status {
                PairStatus::Failed { reason } => Some(format!("{}: {reason}", p.pair)),
                _ => None,
            });
            let outcome = RunOutcome {
                finished_at: self.clock.now(),
                status,
                counts: totals.run,
                windows,
                error: failed,
            };
            self.store.finish_run(&run_id, &outcome).await?;
        }
        Ok(report)
    }

    async fn run_pair(
        &self,
        pair: &Arc<PairMapping>,
        run_id: &str,
        started_at: DateTime<Utc>,
        dry_run: bool,
        mode: &RunMode,
        windows: &mut Vec<StreamWindow>,
    ) -> PairReport {
        let mut report = PairReport {
            pair: pair.name.clone(),
            status: PairStatus::Done,
            stats: PageStats::default(),
            plan: String::new(),
        };
        let lease_name = match mode {
            RunMode::Backfill(b) if b.sliced => format!("backfill:{}", b.scope),
            _ => format!("pair:{}", pair.name),
        };
        let lease = match self
            .store
            .claim_lease(&lease_name, &self.opts.owner, self.opts.lease_ttl, self.clock.now())
            .await
        {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                let holder = self.store.lease_holder(&lease_name).await.ok().flatten();
                match self.take_over_from_dead(&lease_name, holder.as_deref()).await {
                    Some(lease) => lease,
                    None => {
                        let holder = holder.unwrap_or_else(|| "another process".into());
                        report.status = PairStatus::Skipped { holder };
                        return report;
                    }
                }
            }
            Err(e) => {
                report.status = PairStatus::Failed { reason: e.to_string() };
                return report;
            }
        };
        let ctx = match self.pair_context(pair, run_id, started_at, dry_run, mode, lease.clone()).await {
            Ok(ctx) => ctx,
            Err(e) => {
                report.status = PairStatus::Failed { reason: e.to_string() };
                return report;
            }
        };
        let result = match (mode, dry_run) {
            (RunMode::Backfill(b), false) => {
                let started = b.state_commit(lease.clone(), run_id, self.clock.now(), None);
                match ctx.commit(started).await {
                    Ok(_) => pull::run_pair(&ctx, &mut report, windows).await,
                    Err(e) => Err(e),
                }
            }
            _ => pull::run_pair(&ctx, &mut report, windows).await,
        };
        let result = match (result, mode) {
            (Ok(()), RunMode::Backfill(b)) if !dry_run && report.status == PairStatus::Done => {
                let now = self.clock.now();
                ctx.commit(b.state_commit(ctx.lease.clone(), run_id, now, Some(now))).await.map(|_| ())
            }
            (result, _) => result,
        };
        if let Err(e) = result {
            report.status = match e {
                SyncError::Connector { source, .. } if source.is_retryable() => {
                    PairStatus::Incomplete { reason: source.to_string() }
                }
                // Another worker committed a link for the same record first (a sliced backfill
                // beside a scheduled run): nothing was written; the page is read again.
                SyncError::Store(StoreError::Conflict(_)) => PairStatus::Incomplete {
                    reason: "another worker linked one of these records at the same moment; the page is read again next run"
                        .into(),
                },
                other => PairStatus::Failed { reason: other.to_string() },
            };
        }
        if let Err(e) = self.store.release_lease(&ctx.lease.clone()).await {
            warn!(pair = %pair.name, error = %e, "could not release the lease; it expires by itself");
        }
        report
    }

    /// A lease held by a process of this host that no longer exists (killed with -9, crashed)
    /// is taken over at once instead of waiting for it to expire.
    async fn take_over_from_dead(&self, name: &str, holder: Option<&str>) -> Option<crate::store::Lease> {
        let holder = holder?;
        if !holder_is_gone(holder, &self.opts.owner) {
            return None;
        }
        let lease = self
            .store
            .take_over_lease(name, holder, &self.opts.owner, self.opts.lease_ttl, self.clock.now())
            .await
            .ok()
            .flatten()?;
        warn!(lease = name, dead_holder = holder, "took over the lease of a process that no longer exists");
        Some(lease)
    }

    async fn pair_context(
        &self,
        pair: &Arc<PairMapping>,
        run_id: &str,
        started_at: DateTime<Utc>,
        dry_run: bool,
        mode: &RunMode,
        lease: crate::store::Lease,
    ) -> Result<pull::PairContext, SyncError> {
        let connector = |system: &str| {
            self.systems.get(system).cloned().ok_or_else(|| SyncError::UnknownSystem {
                pair: pair.name.clone(),
                system: system.to_string(),
            })
        };
        // Each side's object capabilities, read once for the pair (not per record).
        let caps_of = |ep: &crate::mapping::Endpoint| {
            self.systems.get(&ep.system).map(|c| c.capabilities()).and_then(|c| c.object(&ep.object).cloned())
        };
        let caps = [caps_of(&pair.left), caps_of(&pair.right)];
        let modified_times = caps.clone().map(|o| o.is_none_or(|o| o.modified_times));
        let unreadable =
            caps.map(|o| o.map(|o| o.unreadable_fields.into_iter().collect()).unwrap_or_default());
        let mut horizon = started_at - self.margin();
        if let RunMode::Backfill(b) = mode {
            horizon = horizon.min(b.until);
        }
        let run_caps = caps::RunCaps::load(
            self.store.as_ref(),
            pair,
            [pull::incremental_stream(pair, Side::Left), pull::incremental_stream(pair, Side::Right)],
            matches!(mode, RunMode::Backfill(_)),
            !self.opts.first_sync_creates,
        )
        .await?;
        Ok(pull::PairContext {
            caps: run_caps,
            unreadable,
            pair: pair.clone(),
            left: connector(&pair.left.system)?,
            right: connector(&pair.right.system)?,
            store: self.store.clone(),
            clock: self.clock.clone(),
            opts: self.opts.clone(),
            run_id: run_id.to_string(),
            horizon,
            dry_run,
            lease_renewed: std::sync::Mutex::new(self.clock.now()),
            lease,
            planned: Default::default(),
            mode: mode.clone(),
            stop: self.stop.clone(),
            progress: self.progress.clone(),
            modified_times,
            handled: Arc::new(
                self.pairs
                    .iter()
                    .flat_map(|p| [p.left.clone(), p.right.clone()])
                    .map(|e| (e.system, e.object))
                    .collect(),
            ),
        })
    }
}

fn run_status(reports: &[PairReport]) -> RunStatus {
    let failed = reports.iter().filter(|r| matches!(r.status, PairStatus::Failed { .. })).count();
    let partial = reports.iter().any(|r| matches!(r.status, PairStatus::Incomplete { .. }));
    if failed > 0 && failed == reports.len() {
        RunStatus::Failed
    } else if failed > 0 || partial {
        RunStatus::Partial
    } else {
        RunStatus::Ok
    }
}

/// True when `holder` (`host:pid`) is a process on this host (`own` is `host:pid` too) that no
/// longer exists. Anything else — another host, an unparseable owner, a live pid — is not known
/// to be gone.
fn holder_is_gone(holder: &str, own: &str) -> bool {
    let (Some((host, pid)), Some((own_host, own_pid))) = (holder.rsplit_once(':'), own.rsplit_once(':'))
    else {
        return false;
    };
    let (Ok(pid), Ok(own_pid)) = (pid.parse::<u32>(), own_pid.parse::<u32>()) else { return false };
    if host != own_host || pid == own_pid || !cfg!(target_os = "linux") {
        return false;
    }
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::holder_is_gone;

    #[test]
    fn only_a_missing_process_of_this_host_is_gone() {
        let me = format!("box:{}", std::process::id());
        assert!(!holder_is_gone(&me, &me), "ourselves");
        assert!(!holder_is_gone("other-box:4194999", &me), "another host is never judged");
        assert!(!holder_is_gone("box:1", &me), "pid 1 exists");
        assert!(!holder_is_gone("crosswalk", &me), "not host:pid");
        if cfg!(target_os = "linux") {
            assert!(holder_is_gone("box:4194999", &me), "beyond the largest pid Linux hands out");
        }
    }
}
