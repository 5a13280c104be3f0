//! A run's readable account, printed by `sync`, `run`, `backfill`, `review apply` and the demo.

use crate::sync::{PairStatus, RunReport};

/// A readable account of a run: one block per pair.
pub fn run_summary(report: &RunReport, dry_run: bool) -> String {
    let mut out = String::new();
    let title = if dry_run { "dry run (nothing written)" } else { "run" };
    out.push_str(&format!("{title} {}: {}\n", report.run_id, report.status));
    for p in &report.pairs {
        let s = &p.stats;
        let status = match &p.status {
            PairStatus::Done => "done".to_string(),
            PairStatus::Skipped { holder } => format!("skipped: another process ({holder}) holds this pair"),
            PairStatus::Incomplete { reason } => format!("incomplete, retried next run: {reason}"),
            PairStatus::Carried { reason } => format!("done for this run: {reason}"),
            PairStatus::Paused { reason } => format!("skipped, paused: {reason}"),
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
