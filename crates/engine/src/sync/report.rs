//! What a run reports: counters per page and pair, how each pair ended, the run's status.

use std::collections::BTreeMap;

use crate::store::{RunCounts, RunStatus, StreamBacklog};

use super::meter::SystemWork;

/// Counters of what a pair's pages did: the run counters the store records, plus four it
/// does not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageStats {
    /// Pulled, re-read, linked, created, updated, conflicts, rejected, deletes, echoes.
    pub run: RunCounts,
    /// Ambiguous identities sent to review.
    pub ambiguous: u64,
    /// Malformed items quarantined.
    pub quarantined: u64,
    /// Linked records re-read by the verification sweep.
    pub swept: u64,
    /// Writes and creates not sent because the same one was refused for good before and its
    /// review item is still open.
    pub held: u64,
    /// Records with no match that were not created because the pair has never synced in this
    /// store (a backfill creates them).
    pub first_sync_not_created: u64,
    /// Freshness of the writes made: per write, the milliseconds from the source record's
    /// modified time to the write's success, and the path it took (for the metrics histogram;
    /// the store keeps the same samples).
    pub freshness: Vec<(super::options::SyncPath, u64)>,
}

impl PageStats {
    /// Remote writes made.
    pub fn written(&self) -> u64 {
        self.run.created + self.run.updated
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, o: &PageStats) {
        self.run += o.run;
        self.ambiguous += o.ambiguous;
        self.quarantined += o.quarantined;
        self.swept += o.swept;
        self.held += o.held;
        self.first_sync_not_created += o.first_sync_not_created;
        self.freshness.extend_from_slice(&o.freshness);
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
    /// The run's time box was reached: every page started was finished and committed with its
    /// checkpoint, and the rest of the stream is carried to the next run. A success, not a
    /// failure: the run did all it was given time for.
    Carried {
        /// Which stream, and that its backlog is carried.
        reason: String,
    },
    /// A gate (the circuit breaker of one of its systems, `ops::breaker`) paused the pair; it
    /// was not run.
    Paused {
        /// Why, naming the system.
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
    /// The system whose credentials were refused, when that stopped the pair (an auth error of
    /// any shape: a 401, Salesforce's `invalid_grant`, a key without a scope); the circuit
    /// breaker opens at once on it.
    pub refused_credentials: Option<String>,
    /// Each incremental stream's backlog as this run left it (none for a backfill, a dry run
    /// or a pair that did not run).
    pub backlogs: Vec<StreamBacklog>,
}

impl PairReport {
    /// A report of `pair` that has done nothing yet.
    pub fn new(pair: &str, status: PairStatus) -> Self {
        Self {
            pair: pair.to_string(),
            status,
            stats: PageStats::default(),
            plan: String::new(),
            refused_credentials: None,
            backlogs: Vec::new(),
        }
    }
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
    /// Per system: the work the run asked of it (for the API-cost report's minimum).
    pub work: BTreeMap<String, SystemWork>,
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

    /// The first failed pair and why, for the run's record.
    pub fn first_failure(&self) -> Option<String> {
        self.pairs.iter().find_map(|p| match &p.status {
            PairStatus::Failed { reason } => Some(format!("{}: {reason}", p.pair)),
            _ => None,
        })
    }
}

/// The status of a run whose pairs ended as `reports` say: failed when every pair failed,
/// partial when some failed or stopped early, ok otherwise (a pair stopped by the time box
/// with its backlog carried is ok: it did what it had time for).
pub(crate) fn run_status(reports: &[PairReport]) -> RunStatus {
    let failed = reports.iter().filter(|r| matches!(r.status, PairStatus::Failed { .. })).count();
    let partial =
        reports.iter().any(|r| matches!(r.status, PairStatus::Incomplete { .. } | PairStatus::Paused { .. }));
    if failed > 0 && failed == reports.len() {
        RunStatus::Failed
    } else if failed > 0 || partial {
        RunStatus::Partial
    } else {
        RunStatus::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(status: PairStatus) -> PairReport {
        PairReport::new("p", status)
    }

    #[test]
    fn a_run_fails_only_when_every_pair_failed() {
        let failed = || ended(PairStatus::Failed { reason: "x".into() });
        assert_eq!(run_status(&[failed(), failed()]), RunStatus::Failed);
        assert_eq!(run_status(&[failed(), ended(PairStatus::Done)]), RunStatus::Partial);
        let stopped = ended(PairStatus::Incomplete { reason: "cap".into() });
        assert_eq!(run_status(&[stopped, ended(PairStatus::Done)]), RunStatus::Partial);
        let paused = ended(PairStatus::Paused { reason: "breaker".into() });
        assert_eq!(
            run_status(&[paused, ended(PairStatus::Done)]),
            RunStatus::Partial,
            "a paused pair did not sync"
        );
        let skipped = ended(PairStatus::Skipped { holder: "h".into() });
        assert_eq!(run_status(&[skipped, ended(PairStatus::Done)]), RunStatus::Ok);
        let carried = ended(PairStatus::Carried { reason: "time box".into() });
        assert_eq!(run_status(&[carried]), RunStatus::Ok, "a boxed run is a success");
    }

    #[test]
    fn totals_add_every_pair_and_written_counts_creates_and_updates() {
        let mut a = ended(PairStatus::Done);
        a.stats.run.created = 2;
        a.stats.held = 1;
        let mut b = ended(PairStatus::Done);
        b.stats.run.updated = 3;
        b.stats.held = 4;
        let run =
            RunReport { run_id: "r".into(), pairs: vec![a, b], status: RunStatus::Ok, work: BTreeMap::new() };
        let total = run.totals();
        assert_eq!((total.written(), total.held), (5, 5));
        assert_eq!(run.first_failure(), None);
    }
}
