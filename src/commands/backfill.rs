//! `crosswalk backfill --pair P [--since DATE] [--until DATE] [--dry-run] [--max-creates N]`:
//! reads a pair's whole stream (or a range) through the same reconciler as the scheduled cycle,
//! in checkpointed pages of its own; resumable after Ctrl-C or a crash; never moves the
//! incremental watermarks; paced by the connectors to the systems' rate limits.

use std::io::IsTerminal;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use connector_api::SystemClock;
use tokio::sync::Notify;

use crate::progress::BackfillProgress;
use crate::settings::Settings;
use crate::sync::{BackfillSpec, PairStatus};

use super::Outcome;
use super::signals::on_signals;
use super::summary::RunSummary;
use crate::status::run_summary;
use crate::telemetry;

/// Parses `2026-01-31` (midnight UTC) or an RFC 3339 time.
pub fn parse_date(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.to_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            format!("`{s}` is not a date: use YYYY-MM-DD or an RFC 3339 time like 2026-01-31T12:00:00Z")
        })
}

/// `[since .. until]` of a backfill, for its report lines.
fn range(state: &crate::sync::BackfillState) -> String {
    let since = state.since.map_or("the beginning".to_string(), |t| t.to_rfc3339());
    format!("[{since} .. {}]", state.until.to_rfc3339())
}

/// How many diff lines of a dry run's plan are printed.
const SAMPLE_LINES: usize = 40;

/// Runs the backfill and prints what it did (`json`: as one JSON document, see
/// [`RunSummary`]).
pub async fn run(settings: &Settings, spec: &BackfillSpec, dry_run: bool, json: bool) -> Outcome {
    if let (Some(since), Some(until)) = (spec.since, spec.until)
        && since > until
    {
        telemetry::fail(&format!("--since {since} is after --until {until}; swap them"));
        return Outcome::ActionNeeded;
    }
    let (engine, _store) = match super::sync::engine(settings).await {
        Ok(e) => e,
        Err(reason) => {
            telemetry::fail(&reason);
            return Outcome::ActionNeeded;
        }
    };
    if !engine.pair_names().contains(&spec.pair) {
        let known = engine.pair_names().join(", ");
        telemetry::fail(&format!("no pair named `{}`; configured pairs: {known}", spec.pair));
        return Outcome::ActionNeeded;
    }
    // Drawn before the outlook and the first page, which can wait minutes on a rate limit.
    let terminal = std::io::stderr().is_terminal() && !telemetry::json();
    let progress = Arc::new(BackfillProgress::new(SystemClock::shared(), Default::default(), terminal));
    progress.starting(&spec.pair);
    let engine = engine.with_progress(progress.clone());
    let stopped = Arc::new(Notify::new());
    on_signals(engine.stop_signal(), stopped);
    progress.set_plan(engine.backfill_outlook(spec).await);
    if spec.slices.is_some() {
        let result = engine.backfill_slices(spec, dry_run).await;
        progress.finish();
        return sliced(result, dry_run, json);
    }
    let result = engine.backfill(spec, dry_run).await;
    progress.finish();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            telemetry::fail(&e.to_string());
            return Outcome::ActionNeeded;
        }
    };
    if json {
        println!("{}", RunSummary::of_backfill(&report, dry_run).to_line());
        return report.run.as_ref().map_or(Outcome::Ok, super::sync::outcome);
    }
    let state = &report.state;
    let range = range(state);
    let Some(run) = report.run else {
        println!(
            "backfill {} of {range} already finished at {}; nothing to do (add --restart to read the range again)",
            state.id,
            state.finished_at.map(|t| t.to_rfc3339()).unwrap_or_default()
        );
        return Outcome::Ok;
    };
    if dry_run {
        let s = run.totals();
        println!(
            "dry run of backfill {} over {range} (nothing written): {} read; would create {}, update {}, link {}; {} conflicts",
            state.id, s.run.pulled, s.run.created, s.run.updated, s.run.linked, s.run.conflicts
        );
        let plan: String = run.pairs.iter().map(|p| p.plan.as_str()).collect();
        let lines: Vec<&str> = plan.lines().collect();
        if !lines.is_empty() {
            println!("sample of the changes ({} of {} lines):", lines.len().min(SAMPLE_LINES), lines.len());
            for l in lines.iter().take(SAMPLE_LINES) {
                println!("  {l}");
            }
        }
        return super::sync::outcome(&run);
    }
    let verb = if report.resumed { "resumed" } else { "started" };
    print!("{}", run_summary(&run, false));
    match run.pairs.first().map(|p| &p.status) {
        Some(PairStatus::Done) => {
            println!("backfill {} of {range} {verb} and finished (attempt {})", state.id, state.attempts)
        }
        Some(PairStatus::Incomplete { reason }) => println!(
            "backfill {} of {range} {verb}, not finished: {reason}. Run the same command again to continue from the last saved page.",
            state.id
        ),
        Some(PairStatus::Skipped { holder }) => println!(
            "backfill {} not run: {holder} holds pair `{}` (a scheduled run or another backfill); try again when it is done",
            state.id, spec.pair
        ),
        _ => {}
    }
    super::sync::outcome(&run)
}

/// One line per slice of a sliced backfill (`json`: one JSON document per line); exit 1 only if
/// a slice failed.
fn sliced(
    result: Result<Vec<crate::sync::BackfillReport>, crate::sync::SyncError>,
    dry_run: bool,
    json: bool,
) -> Outcome {
    let reports = match result {
        Ok(r) => r,
        Err(e) => {
            telemetry::fail(&e.to_string());
            return Outcome::ActionNeeded;
        }
    };
    if json {
        let failed =
            reports.iter().filter_map(|r| r.run.as_ref()).any(|r| super::sync::outcome(r) != Outcome::Ok);
        for r in &reports {
            println!("{}", RunSummary::of_backfill(r, dry_run).to_line());
        }
        return if failed { Outcome::ActionNeeded } else { Outcome::Ok };
    }
    let mut outcome = Outcome::Ok;
    for r in &reports {
        let s = &r.state;
        let range = range(s);
        let line = match r.run.as_ref().and_then(|run| run.pairs.first()) {
            None => {
                format!("already finished at {}", s.finished_at.map(|t| t.to_rfc3339()).unwrap_or_default())
            }
            Some(p) => {
                let c = &p.stats.run;
                let counts = format!(
                    "read {}, created {}, updated {}, linked {}",
                    c.pulled, c.created, c.updated, c.linked
                );
                match &p.status {
                    PairStatus::Done => format!("finished: {counts}"),
                    PairStatus::Skipped { holder } => format!("skipped: {holder} is running it"),
                    PairStatus::Paused { reason } => format!("skipped, paused: {reason}"),
                    PairStatus::Incomplete { reason } | PairStatus::Carried { reason } => {
                        format!("not finished ({reason}): {counts}")
                    }
                    PairStatus::Failed { reason } => {
                        outcome = Outcome::ActionNeeded;
                        format!("FAILED: {reason}")
                    }
                }
            }
        };
        println!("slice {} {range}: {line}", s.id);
    }
    outcome
}
