//! `crosswalk run [--every 5m]`: the scheduled cycle, in a loop, every `sync.interval` unless
//! `--every` overrides it, and beside it (unless `sync.micro_sync = false`) the webhook
//! micro-sync worker, which syncs the records stored webhook deliveries name within seconds.
//!
//! A tick that comes while the previous cycle is still running is skipped and logged (the next
//! tick starts a cycle as usual). SIGINT or SIGTERM stops cleanly within seconds: the running
//! cycle ends at its next page boundary, or at once when it waits (the connectors' HTTP clients
//! stop on the same signal and send nothing more; that page's checkpoint stays and the next run
//! reads it again); then the process exits 0. A second signal exits at once (130).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::MissedTickBehavior;
use tracing::{info, warn};

use crate::settings::Settings;
use crate::store::RunKind;
use crate::sync::micro::{self, MicroOptions, MicroStats};
use crate::sync::{Engine, StopSignal};

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
/// `metrics_listen`, serves `GET /metrics` there meanwhile.
pub async fn run(
    settings: &Settings,
    every: Option<Duration>,
    pairs: &[String],
    metrics_listen: Option<&str>,
    json: bool,
) -> Outcome {
    let every = period(settings, every);
    if every.is_zero() {
        telemetry::fail("the interval must be longer than zero: set sync.interval or --every (e.g. 5m)");
        return Outcome::ActionNeeded;
    }
    let shared = Arc::new(Metrics::new());
    let (engine, store, ops) = match engine_with_ops(settings, Some(shared.clone())).await {
        Ok(e) => e,
        Err(reason) => {
            telemetry::fail(&reason);
            return Outcome::ActionNeeded;
        }
    };
    if let Some(addr) = metrics_listen {
        match metrics::listen(addr, shared, store, connector_api::SystemClock::shared()).await {
            Ok((bound, _task)) => info!(addr = %bound, "metrics at http://{bound}/metrics"),
            Err(e) => {
                eprintln!(
                    "error: --metrics-listen {addr}: cannot listen there: {e}; pick a free address such as 127.0.0.1:9464"
                );
                return Outcome::ActionNeeded;
            }
        }
    }
    if let Some(unknown) = pairs.iter().find(|p| !engine.pair_names().contains(p)) {
        let known = engine.pair_names().join(", ");
        telemetry::fail(&format!("no pair named `{unknown}`; configured pairs: {known}"));
        return Outcome::ActionNeeded;
    }
    let (engine, ops) = (Arc::new(engine), Arc::new(ops));
    let stop = engine.stop_signal();
    let stopped = Arc::new(Notify::new());
    on_signals(stop.clone(), stopped.clone());
    info!(every = %humantime::format_duration(every), "scheduler started");
    let micro = start_micro(settings, &engine, Arc::new(Notify::new()));
    let pairs = pairs.to_vec();
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
    ops.notifier().flush_within(crate::ops::FLUSH_LIMIT).await;
    telemetry::say(&format!(
        "stopped cleanly after {} cycle(s) ({} tick(s) skipped while a cycle was running); checkpoints are saved",
        stats.started, stats.skipped
    ));
    Outcome::Ok
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
