//! `crosswalk sync`: one cycle of every pair (or the named ones), then exit.
//!
//! Exit 0 when the run did its work — conflicts parked in the review queue and transient
//! failures that the next run retries are normal. Exit 1 when an operator must act: a pair failed
//! on authentication, an exhausted quota, an unreadable answer or the store; the reason is one line.

use std::sync::Arc;

use connector_api::SystemClock;

use crate::ids::IdGen;
use crate::mapping::{self, PairMapping};
use crate::registry;
use crate::settings::Settings;
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
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Loads the mappings, opens and migrates the store and builds the engine.
pub async fn engine(settings: &Settings) -> Result<(Engine, Arc<dyn Store>), String> {
    let pairs: Vec<PairMapping> = mapping::load_dir(&settings.sync.mappings_dir).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("{} (run `crosswalk check`)", list.join("; "))
    })?;
    let store = store::open(&settings.store.url).await.map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    let clock = SystemClock::shared();
    let ids = Arc::new(IdGen::from_entropy(clock.clone()));
    let seed = ids.next().as_u128() as u64;
    let systems = registry::build_all(settings, &pairs, clock.clone(), seed).map_err(|e| e.to_string())?;
    let problems = mapping::fit::check(&pairs, &|system, object| {
        systems.get(system).map(|c| registry::connector_profile(c.as_ref(), object))
    });
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(format!("{} (run `crosswalk check`)", list.join("; ")));
    }
    Ok((Engine::new(store.clone(), systems, pairs, clock, ids, options(settings)), store))
}

/// Runs one cycle and prints what it did (`json`: as one JSON document, see [`RunSummary`]).
pub async fn run(settings: &Settings, pairs: &[String], dry_run: bool, json: bool) -> Outcome {
    let (engine, _store) = match engine(settings).await {
        Ok(e) => e,
        Err(reason) => {
            telemetry::fail(&reason);
            return Outcome::ActionNeeded;
        }
    };
    super::run::on_signals(engine.stop_signal(), Arc::new(tokio::sync::Notify::new()));
    match engine.run(RunKind::Manual, pairs, dry_run).await {
        Ok(report) => {
            if json {
                println!("{}", RunSummary::of("sync", &report, dry_run).to_line());
            } else {
                print!("{}", summary(&report, dry_run));
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

/// A readable account of a run: one block per pair.
pub fn summary(report: &RunReport, dry_run: bool) -> String {
    let mut out = String::new();
    let title = if dry_run { "dry run (nothing written)" } else { "run" };
    out.push_str(&format!("{title} {}: {}\n", report.run_id, report.status));
    for p in &report.pairs {
        let s = &p.stats;
        let status = match &p.status {
            PairStatus::Done => "done".to_string(),
            PairStatus::Skipped { holder } => format!("skipped: another process ({holder}) holds this pair"),
            PairStatus::Incomplete { reason } => format!("incomplete, retried next run: {reason}"),
            PairStatus::Failed { reason } => format!("FAILED, an operator must act: {reason}"),
        };
        out.push_str(&format!(
            "  {:<40} {status}\n    pulled {}, re-read {}, linked {}, created {}, updated {}, conflicts {}, rejected {}, deletes {}, ambiguous {}, quarantined {}, swept {}\n",
            p.pair, s.run.pulled, s.run.reread, s.run.linked, s.run.created, s.run.updated, s.run.conflicts, s.run.rejected, s.run.deleted, s.ambiguous, s.quarantined, s.swept
        ));
        if s.first_sync_not_created > 0 {
            out.push_str(&format!(
                "    first sync of this pair in this store: {} record(s) with no match on the other side were not created;
                     check them with `crosswalk backfill --pair {} --dry-run`, then create them with `crosswalk backfill --pair {}`
",
                s.first_sync_not_created, p.pair, p.pair
            ));
        }
        if dry_run && !p.plan.is_empty() {
            out.push_str(&p.plan);
            if !p.plan.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    out
}
