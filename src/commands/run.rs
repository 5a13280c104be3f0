//! `crosswalk run [--every 5m]`: the scheduled cycle, in a loop, every `sync.interval` unless
//! `--every` overrides it, and beside it (unless `sync.micro_sync = false`) the webhook
//! micro-sync worker, which syncs the records stored webhook deliveries name within seconds.
//!
//! Each cycle is time-boxed (`sync.time_box`, 80 % of the interval by default): once that share
//! has passed it starts no new page, commits what it did, releases the pair's lease and leaves
//! the rest of a long stream to the next cycle (the run is `ok`; its pairs say "time box
//! reached, backlog carried"). A tick that comes while the previous cycle is still running is
//! skipped and logged (the next tick starts a cycle as usual). SIGINT or SIGTERM stops cleanly within seconds: the running
//! cycle ends at its next page boundary, or at once when it waits (the connectors' HTTP clients
//! stop on the same signal and send nothing more; that page's checkpoint stays and the next run
//! reads it again); then the process exits 0. A second signal exits at once (130).
//!
//! With `--serve` the same process also runs the admin server of `crosswalk serve` (pages, JSON
//! API, webhook receivers, `/healthz`, `/metrics`) over the scheduler's store pool and metrics
//! registry: one process for a small deployment. The signal stops both: the server finishes
//! the requests in flight, the scheduler its cycle.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::MissedTickBehavior;
use tracing::{info, warn};

use crate::settings::Settings;
use crate::store::RunKind;
use crate::sync::micro::{self, MicroOptions, MicroStats};
use crate::sync::{Engine, StopSignal, TimeBox};

use super::Outcome;
use super::signals::on_signals;
use super::summary::RunSummary;
use super::sync::engine_with_ops;
use crate::ops::metrics::{self, Metrics};
use crate::status::run_summary;
use crate::telemetry;

/// What the scheduler did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScheduleStats {
    /// Cycles started.
    pub started: u64,
    /// Ticks skipped because a cycle was still running.
    pub skipped: u64,
}

/// Calls `cycle` every `every` (the first at once) until `stop` is raised; a tick while a cycle
/// runs is skipped. Returns after the running cycle (if any) finished. Uses tokio's clock, so
/// tests run it under paused time.
pub async fn schedule<F, Fut>(
    every: Duration,
    stop: StopSignal,
    stopped: Arc<Notify>,
    cycle: F,
) -> ScheduleStats
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut stats = ScheduleStats::default();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut running: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        if stop.is_requested() {
            break;
        }
        tokio::select! {
            _ = ticker.tick() => {
                if running.as_ref().is_some_and(|h| !h.is_finished()) {
                    stats.skipped += 1;
                    warn!(every = %humantime::format_duration(every), "tick skipped: the previous cycle is still running");
                    continue;
                }
                stats.started += 1;
                running = Some(tokio::spawn(cycle()));
            }
            _ = stopped.notified() => {}
        }
    }
    if let Some(h) = running {
        let _ = h.await;
    }
    stats
}

/// The period of `run`: `--every` when given, else `sync.interval`.
pub fn period(settings: &Settings, every: Option<Duration>) -> Duration {
    every.unwrap_or(settings.sync.interval.0)
}

/// What `run` was asked for beyond the interval.
#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    /// `--every`: overrides `sync.interval`.
    pub every: Option<Duration>,
    /// `--pair`: only these pairs (all when empty).
    pub pairs: Vec<String>,
    /// `--metrics-listen`: serve `GET /metrics` there.
    pub metrics_listen: Option<String>,
    /// `--serve`: the admin server, webhook receivers and `/metrics` in this process.
    pub serve: bool,
    /// `--listen`: where `--serve` listens (else `serve.listen`).
    pub listen: Option<String>,
    /// `--json`: one summary line of JSON per cycle.
    pub json: bool,
}

/// Starts the webhook micro-sync worker beside the scheduler unless `sync.micro_sync` is off.
/// `wake` is notified by the webhook receivers of this process after they store a delivery
/// (without any, the worker still finds another process's deliveries by polling the store);
/// it stops on the engine's stop signal.
pub fn start_micro(
    settings: &Settings,
    engine: &Arc<Engine>,
    wake: Arc<Notify>,
) -> Option<tokio::task::JoinHandle<MicroStats>> {
    if !settings.sync.micro_sync {
        return None;
    }
    let (engine, stop) = (engine.clone(), engine.stop_signal());
    Some(tokio::spawn(micro::run(engine, wake, stop, MicroOptions::default())))
}

/// Runs the scheduled cycle every `every` (else `sync.interval`) until a signal; with
/// `metrics_listen`, serves `GET /metrics` there meanwhile; with `serve`, the whole admin server
/// (pages, API, webhook receivers, `/healthz`, `/metrics`) over the same store pool and metrics
/// registry, stopped gracefully by the same signal.
pub async fn run(settings: &Settings, args: &RunArgs) -> Outcome {
    let every = period(settings, args.every);
    if every.is_zero() {
        telemetry::fail("the interval must be longer than zero: set sync.interval or --every (e.g. 5m)");
        return Outcome::ActionNeeded;
    }
    // The admin token first: `--serve` without one refuses before any cycle runs.
    let auth = match args.serve.then(|| super::serve::admin_auth(settings)).transpose() {
        Ok(auth) => auth,
        Err(outcome) => return outcome,
    };
    let shared = Arc::new(Metrics::new());
    let (engine, store, ops) = match engine_with_ops(settings, Some(shared.clone())).await {
        Ok(e) => e,
        Err(reason) => {
            telemetry::fail(&reason);
            return Outcome::ActionNeeded;
        }
    };
    if let Some(unknown) = args.pairs.iter().find(|p| !engine.pair_names().contains(p)) {
        let known = engine.pair_names().join(", ");
        telemetry::fail(&format!("no pair named `{unknown}`; configured pairs: {known}"));
        return Outcome::ActionNeeded;
    }
    if let Some(addr) = &args.metrics_listen {
        match metrics::listen(addr, shared.clone(), store.clone(), connector_api::SystemClock::shared()).await
        {
            Ok((bound, _task)) => info!(addr = %bound, "metrics at http://{bound}/metrics"),
            Err(e) => {
                eprintln!(
                    "error: --metrics-listen {addr}: cannot listen there: {e}; pick a free address such as 127.0.0.1:9464"
                );
                return Outcome::ActionNeeded;
            }
        }
    }
    let engine = engine.with_time_box(Some(TimeBox::share_of(every, settings.sync.time_box)));
    let (engine, ops) = (Arc::new(engine), Arc::new(ops));
    let stop = engine.stop_signal();
    // Woken by this process's webhook receivers after each delivery that stored a fresh event.
    let deliveries = Arc::new(Notify::new());
    let server = match auth {
        Some(auth) => {
            let web = Web {
                settings,
                listen: args.listen.as_deref(),
                auth,
                store: store.clone(),
                metrics: shared,
                deliveries: deliveries.clone(),
            };
            match web.start(stop.clone()).await {
                Ok(server) => Some(server),
                Err(outcome) => return outcome,
            }
        }
        None => None,
    };
    let stopped = Arc::new(Notify::new());
    on_signals(stop.clone(), stopped.clone());
    info!(every = %humantime::format_duration(every), "scheduler started");
    let micro = start_micro(settings, &engine, deliveries);
    let (pairs, json) = (args.pairs.clone(), args.json);
    let stats = schedule(every, stop, stopped, || {
        let (engine, ops, pairs) = (engine.clone(), ops.clone(), pairs.clone());
        async move {
            match ops.cycle(&engine, RunKind::Scheduled, &pairs, false).await {
                Ok(report) if json => println!("{}", RunSummary::of("run", &report, false).to_line()),
                Ok(report) => print!("{}", run_summary(&report, false)),
                Err(e) => telemetry::fail(&format!("run failed: {e}")),
            }
        }
    })
    .await;
    if let Some(worker) = micro {
        let _ = worker.await;
    }
    let served = match server {
        Some(task) => task.await.unwrap_or_else(|e| Err(format!("the admin server stopped: {e}"))),
        None => Ok(()),
    };
    ops.notifier().flush_within(crate::ops::FLUSH_LIMIT).await;
    telemetry::say(&format!(
        "stopped cleanly after {} cycle(s) ({} tick(s) skipped while a cycle was running); checkpoints are saved",
        stats.started, stats.skipped
    ));
    match served {
        Ok(()) => Outcome::Ok,
        Err(why) => {
            telemetry::fail(&why);
            Outcome::ActionNeeded
        }
    }
}

/// `run --serve`'s admin server: the scheduler's store pool and metrics registry, and the
/// Notify its receivers wake after storing a fresh delivery.
struct Web<'a> {
    settings: &'a Settings,
    listen: Option<&'a str>,
    auth: crate::serve::AdminAuth,
    store: Arc<dyn crate::store::Store>,
    metrics: Arc<Metrics>,
    /// Notified by the receivers; the micro-sync worker waits on it.
    deliveries: Arc<Notify>,
}

impl Web<'_> {
    /// Binds the address and serves until `stop` is raised (then finishes the requests in
    /// flight); an address that cannot be bound is refused before the first cycle.
    async fn start(self, stop: StopSignal) -> Result<tokio::task::JoinHandle<Result<(), String>>, Outcome> {
        let shared = crate::serve::Shared { metrics: self.metrics, deliveries: self.deliveries };
        let app = super::serve::app(self.settings, self.store, self.auth, shared)?;
        let listen = self.listen.unwrap_or(&self.settings.serve.listen).to_string();
        let listener = crate::serve::bind(&listen).await.map_err(|e| {
            eprintln!("error: {e}; pick a free address with --listen (e.g. 127.0.0.1:8080)");
            Outcome::ActionNeeded
        })?;
        super::serve::announce(&listen, &app, "SIGINT/SIGTERM stops it and the scheduler");
        Ok(tokio::spawn(async move {
            let shutdown = async move { stop.requested().await };
            crate::serve::serve_until(listener, app, shutdown).await.map_err(|e| e.to_string())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_tick_during_a_running_cycle_is_skipped_and_cycles_never_overlap() {
        let stop = StopSignal::new();
        let stopped = Arc::new(Notify::new());
        let running = Arc::new(AtomicU64::new(0));
        let overlaps = Arc::new(AtomicU64::new(0));
        let stopper = {
            let (stop, stopped) = (stop.clone(), stopped.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(31 * 60)).await;
                stop.request();
                stopped.notify_one();
            })
        };
        // Every cycle takes 7 minutes: the tick at 5 min finds it running.
        let stats = schedule(Duration::from_secs(300), stop, stopped, || {
            let (running, overlaps) = (running.clone(), overlaps.clone());
            async move {
                if running.fetch_add(1, Ordering::SeqCst) > 0 {
                    overlaps.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_secs(7 * 60)).await;
                running.fetch_sub(1, Ordering::SeqCst);
            }
        })
        .await;
        stopper.await.unwrap();
        // Ticks at 0, 5, 10, 15, 20, 25, 30 min: cycles start at 0, 10, 20, 30; 5, 15, 25 skip.
        assert_eq!(stats, ScheduleStats { started: 4, skipped: 3 });
        assert_eq!(overlaps.load(Ordering::SeqCst), 0);
        assert_eq!(running.load(Ordering::SeqCst), 0, "the last cycle finished before schedule returned");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_before_the_next_tick_ends_the_loop_without_starting_a_cycle() {
        let stop = StopSignal::new();
        let stopped = Arc::new(Notify::new());
        let (s2, n2) = (stop.clone(), stopped.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            s2.request();
            n2.notify_one();
        });
        let stats = schedule(Duration::from_secs(300), stop, stopped, || async {}).await;
        assert_eq!(stats, ScheduleStats { started: 1, skipped: 0 });
    }
}
