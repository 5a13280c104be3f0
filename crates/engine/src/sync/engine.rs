//! The engine: connectors, pairs, store and clock, and one run over the pairs. For each pair it
//! claims the pair's lease, builds the pair's [`PairContext`] and hands it to the pull stage;
//! then it records how the run ended.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use connector_api::{Connector, ErrorClass, SharedClock};
use tokio::sync::RwLock;
use tracing::{Instrument, info, info_span, warn};

use crate::ids::IdGen;
use crate::mapping::{Endpoint, PairMapping, Side};
use crate::store::{Lease, NewRun, RunKind, RunOutcome, Store, StoreError, StreamWindow};

use super::caps::RunCaps;
use super::context::{PairContext, incremental_stream};
use super::control::{PairGate, ProgressSink, RunMode, StopSignal};
use super::error::SyncError;
use super::lease::{self, Claim, Claimant, pair_lease};
use super::meter::{Metered, SystemWork};
use super::options::{SyncOptions, TimeBox};
use super::pull;
use super::report::{PairReport, PairStatus, RunReport, run_status};

/// The engine: connectors, pairs, store, clock.
pub struct Engine {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) systems: BTreeMap<String, Arc<dyn Connector>>,
    pub(crate) pairs: Vec<Arc<PairMapping>>,
    pub(crate) clock: SharedClock,
    pub(crate) ids: Arc<IdGen>,
    pub(crate) opts: SyncOptions,
    pub(crate) stop: StopSignal,
    progress: Option<Arc<dyn ProgressSink>>,
    pub(crate) gate: Option<Arc<dyn PairGate>>,
    /// Per lease name: scheduled runs and backfills share it (read), a micro-sync of this
    /// process takes it alone (write, only when free), so a run of this process waits for a
    /// micro-sync batch to end instead of being skipped on the store lease it holds.
    turns: std::sync::Mutex<BTreeMap<String, Arc<RwLock<()>>>>,
    /// Per system: the work asked of it, counted at the connector boundary (the connectors in
    /// `systems` are these, wrapped).
    meters: BTreeMap<String, Arc<Metered>>,
}

/// One pair's part of the run being made.
pub(crate) struct PairRun<'a> {
    pub pair: &'a Arc<PairMapping>,
    pub run_id: &'a str,
    pub started_at: DateTime<Utc>,
    pub dry_run: bool,
    pub mode: &'a RunMode,
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
        let meters: BTreeMap<String, Arc<Metered>> =
            systems.into_iter().map(|(name, c)| (name, Metered::new(c))).collect();
        let systems = meters.iter().map(|(n, m)| (n.clone(), m.clone() as Arc<dyn Connector>)).collect();
        Self {
            meters,
            store,
            systems,
            pairs: pairs.into_iter().map(Arc::new).collect(),
            clock,
            ids,
            opts,
            stop,
            progress: None,
            gate: None,
            turns: Default::default(),
        }
    }

    /// Asks `gate` before each pair whether it may run; a paused pair is reported, not run.
    pub fn with_gate(mut self, gate: Arc<dyn PairGate>) -> Self {
        self.gate = Some(gate);
        self
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

    /// Runs started from now on stop starting pages once `time_box` has passed (see
    /// [`TimeBox`]); `None` lifts it. `crosswalk run` sets it from `sync.time_box`.
    pub fn with_time_box(mut self, time_box: Option<TimeBox>) -> Self {
        self.opts.time_box = time_box;
        self
    }

    /// Per system, the work asked of it so far (see [`SystemWork`]).
    pub fn work(&self) -> BTreeMap<String, SystemWork> {
        self.meters.iter().map(|(n, m)| (n.clone(), m.work())).collect()
    }

    /// The names of the configured pairs.
    pub fn pair_names(&self) -> Vec<String> {
        self.pairs.iter().map(|p| p.name.clone()).collect()
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

    pub(crate) async fn run_mode(
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
        if !dry_run {
            let names = pairs.iter().map(|p| p.name.clone()).collect();
            self.store.start_run(&NewRun { id: run_id.clone(), kind, pairs: names, started_at }).await?;
        }
        let work_before = self.work();
        let mut reports = Vec::new();
        let mut windows = Vec::new();
        let span = info_span!("run", run_id = %run_id, dry_run);
        async {
            for pair in &pairs {
                let run = PairRun { pair, run_id: &run_id, started_at, dry_run, mode: &mode };
                reports.push(self.run_one(run, &mut windows).await);
            }
        }
        .instrument(span)
        .await;
        let work = self.work().into_iter().map(|(n, w)| {
            let before = work_before.get(&n).cloned().unwrap_or_default();
            (n, w.since(&before))
        });
        let work = work.collect();
        let report = RunReport { run_id: run_id.clone(), status: run_status(&reports), pairs: reports, work };
        if !dry_run {
            let backlogs: Vec<_> = report.pairs.iter().flat_map(|p| p.backlogs.iter().cloned()).collect();
            if !backlogs.is_empty()
                && let Err(e) = self.store.save_backlogs(&backlogs).await
            {
                warn!(error = %e, "could not save the streams' backlogs; `status` shows the previous ones");
            }
            let outcome = RunOutcome {
                finished_at: self.clock.now(),
                status: report.status,
                counts: report.totals().run,
                windows,
                error: report.first_failure(),
            };
            self.store.finish_run(&run_id, &outcome).await?;
        }
        Ok(report)
    }

    /// One pair of the run, logged as it ends.
    async fn run_one(&self, run: PairRun<'_>, windows: &mut Vec<StreamWindow>) -> PairReport {
        let name = &run.pair.name;
        if self.stop.is_requested() {
            let reason = "stopped on request before this pair started".to_string();
            return PairReport::new(name, PairStatus::Incomplete { reason });
        }
        if let Some(gate) = &self.gate
            && let Some(reason) = gate.paused(run.pair).await
        {
            info!(pair = %name, %reason, "skipped: paused");
            return PairReport::new(name, PairStatus::Paused { reason });
        }
        let report = self.run_pair(&run, windows).instrument(info_span!("pair", pair = %name)).await;
        match &report.status {
            PairStatus::Skipped { holder } => {
                info!(pair = %name, %holder, "skipped: another process holds this pair's lease")
            }
            PairStatus::Failed { reason } => warn!(pair = %name, %reason, "pair failed"),
            _ => info!(pair = %name, pulled = report.stats.run.pulled, written = report.stats.written(),
                conflicts = report.stats.run.conflicts, "pair done"),
        }
        report
    }

    /// Claims the pair's lease, runs the pair under it and releases it.
    async fn run_pair(&self, run: &PairRun<'_>, windows: &mut Vec<StreamWindow>) -> PairReport {
        let mut report = PairReport::new(&run.pair.name, PairStatus::Done);
        let lease_name = match run.mode {
            RunMode::Backfill(b) if b.sliced => format!("backfill:{}", b.scope),
            _ => pair_lease(&run.pair.name),
        };
        let _turn = self.turn(&lease_name).read_owned().await;
        let lease = match self.claim(&lease_name).await {
            Ok(Claim::Held(lease)) => lease,
            Ok(Claim::Busy(holder)) => {
                let holder = holder.unwrap_or_else(|| "another process".into());
                report.status = PairStatus::Skipped { holder };
                return report;
            }
            Err(e) => {
                report.status = PairStatus::Failed { reason: e.to_string() };
                return report;
            }
        };
        match self.pair_context(run, lease.clone()).await {
            Ok(ctx) => {
                if let Err(e) = self.run_leased(&ctx, run, &mut report, windows).await {
                    if let SyncError::Connector { system, source } = &e
                        && source.class() == ErrorClass::Auth
                    {
                        report.refused_credentials = Some(system.clone());
                    }
                    report.status = failure_status(e);
                }
            }
            Err(e) => report.status = PairStatus::Failed { reason: e.to_string() },
        }
        self.release(&lease, &run.pair.name).await;
        report
    }

    /// Claims the lease `name` for this engine's owner, for its lease TTL from now.
    pub(crate) async fn claim(&self, name: &str) -> Result<Claim, StoreError> {
        let who = Claimant { owner: &self.opts.owner, ttl: self.opts.lease_ttl, now: self.clock.now() };
        lease::claim(self.store.as_ref(), name, &who).await
    }

    /// Releases `lease`; a failure is logged (the lease expires by itself).
    pub(crate) async fn release(&self, lease: &Lease, pair: &str) {
        if let Err(e) = self.store.release_lease(lease).await {
            warn!(pair = %pair, error = %e, "could not release the lease; it expires by itself");
        }
    }

    /// The pair's pull under its lease; a backfill saves its state when it starts and when it
    /// finishes.
    async fn run_leased(
        &self,
        ctx: &PairContext,
        run: &PairRun<'_>,
        report: &mut PairReport,
        windows: &mut Vec<StreamWindow>,
    ) -> Result<(), SyncError> {
        let backfill = match run.mode {
            RunMode::Backfill(b) if !run.dry_run => Some(b),
            _ => None,
        };
        if let Some(b) = backfill {
            ctx.commit(b.state_commit(ctx.lease.clone(), run.run_id, self.clock.now(), None)).await?;
        }
        pull::run_pair(ctx, report, windows).await?;
        if let Some(b) = backfill
            && report.status == PairStatus::Done
        {
            let now = self.clock.now();
            ctx.commit(b.state_commit(ctx.lease.clone(), run.run_id, now, Some(now))).await?;
        }
        Ok(())
    }

    /// This process's turn on lease `name` (see `turns`).
    pub(crate) fn turn(&self, name: &str) -> Arc<RwLock<()>> {
        let mut turns = self.turns.lock().expect("turns lock");
        turns.entry(name.to_string()).or_default().clone()
    }

    pub(crate) async fn pair_context(
        &self,
        run: &PairRun<'_>,
        lease: Lease,
    ) -> Result<PairContext, SyncError> {
        let pair = run.pair;
        let connector = |system: &str| {
            self.systems.get(system).cloned().ok_or_else(|| SyncError::UnknownSystem {
                pair: pair.name.clone(),
                system: system.to_string(),
            })
        };
        // Each side's object capabilities, read once for the pair (not per record).
        let caps_of = |ep: &Endpoint| {
            self.systems.get(&ep.system).map(|c| c.capabilities()).and_then(|c| c.object(&ep.object).cloned())
        };
        let caps = [caps_of(&pair.left), caps_of(&pair.right)];
        let modified_times = caps.clone().map(|o| o.is_none_or(|o| o.modified_times));
        let unreadable =
            caps.map(|o| o.map(|o| o.unreadable_fields.into_iter().collect()).unwrap_or_default());
        let mut horizon = run.started_at - self.margin();
        if let RunMode::Backfill(b) = run.mode {
            horizon = horizon.min(b.until);
        }
        let streams = [incremental_stream(pair, Side::Left), incremental_stream(pair, Side::Right)];
        let backfill = matches!(run.mode, RunMode::Backfill(_));
        let run_caps =
            RunCaps::load(self.store.as_ref(), pair, streams, backfill, !self.opts.first_sync_creates)
                .await?;
        Ok(PairContext {
            caps: run_caps,
            unreadable,
            pair: pair.clone(),
            left: connector(&pair.left.system)?,
            right: connector(&pair.right.system)?,
            store: self.store.clone(),
            clock: self.clock.clone(),
            opts: self.opts.clone(),
            run_id: run.run_id.to_string(),
            horizon,
            dry_run: run.dry_run,
            lease_renewed: std::sync::Mutex::new(self.clock.now()),
            deadline: match (run.mode, self.opts.time_box) {
                (RunMode::Incremental, Some(b)) if !run.dry_run => {
                    Some(run.started_at + chrono::Duration::from_std(b.budget).unwrap_or_default())
                }
                _ => None,
            },
            paces: Default::default(),
            lease,
            planned: Default::default(),
            mode: run.mode.clone(),
            stop: self.stop.clone(),
            progress: self.progress.clone(),
            modified_times,
            handled: Arc::new(self.handled()),
        })
    }

    /// The watermark never passes run start minus this.
    pub(crate) fn margin(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.opts.safety_margin).unwrap_or_default()
    }

    /// Every (system, object) some configured pair syncs.
    pub(crate) fn handled(&self) -> BTreeSet<(String, String)> {
        self.pairs
            .iter()
            .flat_map(|p| [p.left.clone(), p.right.clone()])
            .map(|e| (e.system, e.object))
            .collect()
    }
}

/// How a pair that stopped on `e` ended: a transient connector failure or a link race leaves it
/// incomplete (the next run retries); anything else failed.
fn failure_status(e: SyncError) -> PairStatus {
    match e {
        SyncError::Connector { source, .. } if source.is_retryable() => {
            PairStatus::Incomplete { reason: source.to_string() }
        }
        // Another worker committed a link for the same record first (a sliced backfill beside a
        // scheduled run): nothing was written; the page is read again.
        SyncError::Store(StoreError::Conflict(_)) => PairStatus::Incomplete {
            reason: "another worker linked one of these records at the same moment; the page is read again next run"
                .into(),
        },
        other => PairStatus::Failed { reason: other.to_string() },
    }
}
