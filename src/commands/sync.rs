//! `crosswalk sync`: one cycle of every pair (or the named ones), then exit.
//!
//! Exit 0 when the run did its work — conflicts parked in the review queue and transient
//! failures that the next run retries are normal. Exit 1 when an operator must act: a pair failed
//! on authentication, an exhausted quota, an unreadable answer or the store; the reason is one line.

use std::sync::Arc;

use connector_api::SystemClock;
use connector_api::http::{HttpTransport, ReqwestTransport};

use crate::ids::IdGen;
use crate::mapping::{self, PairMapping};
use crate::ops::metrics::Metrics;
use crate::ops::{Ops, OpsConfig};
use crate::registry;
use crate::settings::Settings;
use crate::status::run_summary;
use crate::store::{self, RunKind, Store};
use crate::sync::{Engine, PairStatus, RunReport, SyncOptions};

use super::Outcome;
use super::summary::RunSummary;
use crate::telemetry;

/// Engine options from settings.
pub fn options(settings: &Settings) -> SyncOptions {
    let s = &settings.sync;
    SyncOptions {
        overlap: s.overlap.0,
        overlaps: settings
            .systems
            .iter()
            .filter_map(|(name, sys)| sys.overlap().map(|o| (name.clone(), o.0)))
            .collect(),
        safety_margin: s.safety_margin.0,
        page_size: s.page_size,
        lease_ttl: s.lease_ttl.0,
        sweep_budget: ((s.page_size as f64) * s.sweep_share).ceil() as usize,
        owner: format!("{}:{}", hostname(), std::process::id()),
        // A pair's first sync in a store creates nothing: `crosswalk backfill` does, bounded by
        // its dry-run plan and `--max-creates`.
        first_sync_creates: false,
        path: crate::sync::SyncPath::Poll,
        batch_across_pages: false,
        // One-shot syncs and backfills run to their end; `run` boxes its cycles (`sync.time_box`).
        time_box: None,
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Loads the mappings, opens and migrates the store and builds the engine.
pub async fn engine(settings: &Settings) -> Result<(Engine, Arc<dyn Store>), String> {
    engine_with(settings, None).await.map(|(e, s, _)| (e, s))
}

/// [`engine`] with the circuit breaker, alerts and metrics around it: each system's requests
/// counted by `metrics` (a fresh one when `None`), paused pairs skipped.
pub async fn engine_with_ops(
    settings: &Settings,
    metrics: Option<Arc<Metrics>>,
) -> Result<(Engine, Arc<dyn Store>, Ops), String> {
    let metrics = metrics.unwrap_or_default();
    let (engine, store, pairs) = engine_with(settings, Some(metrics.clone())).await?;
    let clock = SystemClock::shared();
    let transport: Arc<dyn HttpTransport> = Arc::new(
        ReqwestTransport::new(crate::ops::PROBE_LIMIT)
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?,
    );
    let config = OpsConfig {
        breaker: settings.breaker.clone(),
        alerts: settings.alerts.clone(),
        systems: settings.systems.clone(),
        pairs,
        transport,
        seed: IdGen::from_entropy(clock.clone()).next().as_u128() as u64,
    };
    let ops = Ops::new(store.clone(), clock, metrics, config).map_err(|e| e.to_string())?;
    let engine = engine.with_gate(ops.gate());
    Ok((engine, store, ops))
}

async fn engine_with(
    settings: &Settings,
    metrics: Option<Arc<Metrics>>,
) -> Result<(Engine, Arc<dyn Store>, Vec<PairMapping>), String> {
    let pairs: Vec<PairMapping> = mapping::load_dir(&settings.sync.mappings_dir).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("{} (run `crosswalk check`)", list.join("; "))
    })?;
    let store = store::open(&settings.store.url).await.map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    let clock = SystemClock::shared();
    let ids = Arc::new(IdGen::from_entropy(clock.clone()));
    let seed = ids.next().as_u128() as u64;
    let wrap = |system: &str, t: Arc<dyn HttpTransport>| match &metrics {
        Some(m) => m.transport(system, t),
        None => t,
    };
    let quota = crate::shared_quota::StoreQuota::for_store(&store);
    let systems = registry::build_all_with(settings, &pairs, clock.clone(), seed, &wrap, quota)
        .map_err(|e| e.to_string())?;
    let problems = mapping::fit::check(&pairs, &|system, object| {
        systems.get(system).map(|c| registry::connector_profile(c.as_ref(), object))
    });
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(format!("{} (run `crosswalk check`)", list.join("; ")));
    }
    Ok((Engine::new(store.clone(), systems, pairs.clone(), clock, ids, options(settings)), store, pairs))
}

/// Runs one cycle and prints what it did (`json`: as one JSON document, see [`RunSummary`]).
pub async fn run(settings: &Settings, pairs: &[String], dry_run: bool, json: bool) -> Outcome {
    let (engine, _store, ops) = match engine_with_ops(settings, None).await {
        Ok(e) => e,
        Err(reason) => {
            telemetry::fail(&reason);
            return Outcome::ActionNeeded;
        }
    };
    super::signals::on_signals(engine.stop_signal(), Arc::new(tokio::sync::Notify::new()));
    let result = ops.cycle(&engine, RunKind::Manual, pairs, dry_run).await;
    // Alerts go out in the background; a one-shot run waits for them (each retry is bounded).
    ops.notifier().flush_within(crate::ops::FLUSH_LIMIT).await;
    match result {
        Ok(report) => {
            if json {
                println!("{}", RunSummary::of("sync", &report, dry_run).to_line());
            } else {
                print!("{}", run_summary(&report, dry_run));
            }
            outcome(&report)
        }
        Err(e) => {
            telemetry::fail(&e.to_string());
            Outcome::ActionNeeded
        }
    }
}

/// Exit 1 only when a pair failed in a way a person must fix.
pub fn outcome(report: &RunReport) -> Outcome {
    if report.pairs.iter().any(|p| matches!(p.status, PairStatus::Failed { .. })) {
        Outcome::ActionNeeded
    } else {
        Outcome::Ok
    }
}
