//! Operations around the engine: the circuit breaker per system ([`breaker`]), alerts
//! ([`alerts`]) and Prometheus metrics ([`metrics`]). [`Ops::cycle`] is one run as `sync` and
//! `run` do it: probe the open breakers, run the pairs whose systems are not paused, count the
//! run, record each system's and pair's verdict, and send the alerts of what changed.

pub mod alerts;
pub mod breaker;
pub mod costs;
pub mod metrics;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use connector_api::SharedClock;
use connector_api::http::HttpTransport;
use tracing::warn;

use crate::mapping::PairMapping;
use crate::settings::{AlertSettings, BreakerSettings, SystemSettings};
use crate::status::probe;
use crate::store::{RunKind, Store};
use crate::sync::{Engine, PairStatus, RunReport, SyncError};

use alerts::Notifier;
use breaker::{Breaker, Transition};
use metrics::{Metrics, Traffic};

/// How long a breaker's probe may take before the system counts as still down.
pub const PROBE_LIMIT: Duration = Duration::from_secs(5);

/// How far behind each pair's incremental stream is at `now`: from the newest change it
/// applied (or, when its last page saw none, when it was last committed) — unless the pair
/// finished a clean run since, which read the stream up to that run's start. So a quiet
/// stream that is read every run is not behind, and one whose runs keep failing is.
pub async fn stream_lags(
    store: &dyn Store,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<(crate::store::StreamKey, chrono::Duration)>, crate::store::StoreError> {
    let mut clean: BTreeMap<String, chrono::DateTime<chrono::Utc>> = BTreeMap::new();
    for run in store.recent_runs(100).await? {
        if run.status == Some(crate::store::RunStatus::Ok) {
            for p in run.pairs {
                let t = clean.entry(p).or_insert(run.started_at);
                *t = (*t).max(run.started_at);
            }
        }
    }
    let mut out = Vec::new();
    for c in store.list_checkpoints().await? {
        let Some(pair) = c.stream.scope.strip_prefix("pair:") else { continue };
        let mut read_up_to = c.window_to.unwrap_or(c.updated_at);
        if let Some(t) = clean.get(pair) {
            read_up_to = read_up_to.max(*t);
        }
        out.push((c.stream, (now - read_up_to).max(chrono::Duration::zero())));
    }
    Ok(out)
}

/// How long a command about to exit waits for the alerts still being sent.
pub const FLUSH_LIMIT: Duration = Duration::from_secs(20);

/// What [`Ops`] is built from.
pub struct OpsConfig {
    /// `[breaker]`.
    pub breaker: BreakerSettings,
    /// `[alerts]`.
    pub alerts: AlertSettings,
    /// The configured systems, to probe the open ones.
    pub systems: BTreeMap<String, SystemSettings>,
    /// The pairs the engine runs.
    pub pairs: Vec<PairMapping>,
    /// For the probes and the alerts.
    pub transport: Arc<dyn HttpTransport>,
    /// Seeds the probes' and the notifier's request ids and jitter.
    pub seed: u64,
}

/// The breaker, the notifier and the metrics of one process, over one store.
pub struct Ops {
    store: Arc<dyn Store>,
    clock: SharedClock,
    breaker: Breaker,
    notifier: Notifier,
    metrics: Arc<Metrics>,
    config: OpsConfig,
    pairs: Vec<Arc<PairMapping>>,
    traffic_seen: Mutex<BTreeMap<String, Traffic>>,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops").field("breaker", &self.breaker).finish_non_exhaustive()
    }
}

impl Ops {
    /// Everything over `store`; `metrics` must be the one whose [`Metrics::transport`] the
    /// connectors send through (the breaker reads each system's traffic there).
    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        metrics: Arc<Metrics>,
        config: OpsConfig,
    ) -> Result<Self, alerts::NotifierError> {
        let notifier = Notifier::new(&config.alerts, config.transport.clone(), clock.clone(), config.seed)?;
        let breaker = Breaker::new(store.clone(), clock.clone(), config.breaker.clone());
        let pairs = config.pairs.iter().cloned().map(Arc::new).collect();
        Ok(Self {
            store,
            clock,
            breaker,
            notifier,
            metrics,
            config,
            pairs,
            traffic_seen: Mutex::new(BTreeMap::new()),
        })
    }

    /// The gate to give the engine ([`Engine::with_gate`]): paused pairs are skipped.
    pub fn gate(&self) -> Arc<dyn crate::sync::PairGate> {
        Arc::new(self.breaker.clone())
    }

    /// The breakers.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The notifier (to [`Notifier::flush`] before exiting).
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// Probes the systems whose breaker is open and closes those that answer.
    pub async fn probe_open(&self) -> Vec<Transition> {
        let open = match self.breaker.open().await {
            Ok(open) => open,
            Err(e) => {
                warn!(error = %e, "cannot read the circuit breakers");
                return Vec::new();
            }
        };
        let systems: BTreeMap<String, SystemSettings> = self
            .config
            .systems
            .iter()
            .filter(|(n, _)| open.contains_key(*n))
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        if systems.is_empty() {
            return Vec::new();
        }
        let probed = probe::probe_all(
            &systems,
            &self.config.pairs,
            self.clock.clone(),
            self.config.seed,
            self.config.transport.clone(),
            PROBE_LIMIT,
        )
        .await;
        self.breaker.settle_probes(&probed).await.unwrap_or_else(|e| {
            warn!(error = %e, "cannot close a circuit breaker");
            Vec::new()
        })
    }

    /// One run of `engine` (built [`Engine::with_gate`]`(self.gate())`) as `sync` and `run` do
    /// it. Alerts are started, not awaited.
    pub async fn cycle(
        &self,
        engine: &Engine,
        kind: RunKind,
        only: &[String],
        dry_run: bool,
    ) -> Result<RunReport, SyncError> {
        let mut transitions = self.probe_open().await;
        let started = self.clock.now();
        let sent_before = self.metrics.traffic();
        let report = engine.run(kind, only, dry_run).await?;
        let sent = self.metrics.traffic();
        let finished = self.clock.now();
        let seconds = (finished - started).num_milliseconds() as f64 / 1000.0;
        self.metrics.observe_run(&report, seconds, finished);
        if dry_run {
            return Ok(report);
        }
        let costs = costs::of_run(&report, &sent_before, &sent, finished);
        if let Err(e) = self.store.record_run_costs(&costs).await {
            warn!(error = %e, "cannot record the run's API costs; `status` leaves this run out of the cost report");
        }
        let traffic = {
            let now = self.metrics.traffic();
            let mut seen = self.traffic_seen.lock().expect("ops lock");
            let delta = now
                .iter()
                .map(|(k, v)| (k.clone(), v.since(&seen.get(k).copied().unwrap_or_default())))
                .collect();
            *seen = now;
            delta
        };
        if let Err(e) = self.after_run(&report, &traffic, &mut transitions).await {
            warn!(error = %e, "cannot record the run's breaker and alert state; alerts may come late");
        }
        Ok(report)
    }

    async fn after_run(
        &self,
        report: &RunReport,
        traffic: &BTreeMap<String, Traffic>,
        transitions: &mut Vec<Transition>,
    ) -> Result<(), crate::store::StoreError> {
        let ran: Vec<Arc<PairMapping>> =
            self.pairs.iter().filter(|p| report.pairs.iter().any(|r| r.pair == p.name)).cloned().collect();
        transitions.extend(self.breaker.record(report, &ran, traffic).await?);
        let now = self.clock.now();
        let mut streaks = Vec::new();
        for p in &report.pairs {
            let failed = match p.status {
                PairStatus::Done | PairStatus::Carried { .. } => false,
                PairStatus::Failed { .. } | PairStatus::Incomplete { .. } => true,
                PairStatus::Skipped { .. } | PairStatus::Paused { .. } => continue,
            };
            streaks.push((p.pair.clone(), self.store.record_pair_run(&p.pair, failed, now).await?));
        }
        self.alert(&streaks, transitions).await
    }

    /// Evaluates every alert condition and starts sending what changed.
    pub async fn alert(
        &self,
        streaks: &[(String, u32)],
        transitions: &[Transition],
    ) -> Result<(), crate::store::StoreError> {
        let alerts =
            alerts::evaluate(self.store.as_ref(), &self.clock, &self.config.alerts, streaks, transitions)
                .await?;
        self.notifier.send(alerts);
        Ok(())
    }
}
