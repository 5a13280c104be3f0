//! The `--json` summary of `sync`, `run` and `backfill`: one JSON document on stdout per run
//! (for `run`, one line per cycle). The shape is defined here once and documented in the README
//! ("Machine-readable output"); `schema_version` changes only when a field changes meaning or is
//! removed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::sync::{BackfillReport, PairReport, PairStatus, RunReport};

/// The version of this shape.
pub const SCHEMA_VERSION: u32 = 1;

/// One run, as `--json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `sync`, `run` or `backfill`.
    pub command: String,
    /// The run's id (as in the logs' `run_id` and `crosswalk status`); absent when no run
    /// happened (a backfill that had finished before).
    pub run_id: Option<String>,
    /// `ok`, `partial`, `failed`, `aborted` (stopped on request), or `nothing_to_do`.
    pub status: String,
    /// True when nothing was written (`--dry-run`).
    pub dry_run: bool,
    /// One entry per pair.
    pub pairs: Vec<PairSummary>,
    /// The backfill's state (only for `backfill`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub backfill: Option<BackfillSummary>,
}

/// One pair's part of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairSummary {
    /// The pair's name.
    pub pair: String,
    /// `done`, `carried` (the time box was reached; the rest of the stream waits for the next
    /// run, a success), `skipped`, `incomplete` (retried by the next run), `paused` or `failed`
    /// (an operator must act).
    pub status: String,
    /// Why it was carried, skipped, incomplete or failed.
    pub reason: Option<String>,
    /// What the pair did.
    pub counts: Counts,
}

/// A pair's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub pulled: u64,
    pub reread: u64,
    pub linked: u64,
    pub created: u64,
    pub updated: u64,
    pub conflicts: u64,
    pub rejected: u64,
    pub deleted: u64,
    pub ambiguous: u64,
    pub quarantined: u64,
    pub swept: u64,
    pub held: u64,
    /// Records not created because this is the pair's first sync in this store.
    pub first_sync_not_created: u64,
}

/// A backfill's state after the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackfillSummary {
    pub id: String,
    pub since: Option<DateTime<Utc>>,
    pub until: DateTime<Utc>,
    pub attempts: u32,
    /// True when an unfinished earlier attempt was continued.
    pub resumed: bool,
    /// When the range was finished, if it is.
    pub finished_at: Option<DateTime<Utc>>,
}

impl RunSummary {
    /// The summary of `report`, run by `command`.
    pub fn of(command: &str, report: &RunReport, dry_run: bool) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            command: command.to_string(),
            run_id: Some(report.run_id.clone()),
            status: report.status.to_string(),
            dry_run,
            pairs: report.pairs.iter().map(PairSummary::of).collect(),
            backfill: None,
        }
    }

    /// The summary of a backfill call (which may have had nothing to do).
    pub fn of_backfill(report: &BackfillReport, dry_run: bool) -> Self {
        let mut out = match &report.run {
            Some(run) => Self::of("backfill", run, dry_run),
            None => Self {
                schema_version: SCHEMA_VERSION,
                command: "backfill".into(),
                run_id: None,
                status: "nothing_to_do".into(),
                dry_run,
                pairs: Vec::new(),
                backfill: None,
            },
        };
        let s = &report.state;
        out.backfill = Some(BackfillSummary {
            id: s.id.clone(),
            since: s.since,
            until: s.until,
            attempts: s.attempts,
            resumed: report.resumed,
            finished_at: s.finished_at,
        });
        out
    }

    /// One line of JSON.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a summary is plain data")
    }
}

impl PairSummary {
    fn of(p: &PairReport) -> Self {
        let (status, reason) = match &p.status {
            PairStatus::Done => ("done", None),
            PairStatus::Skipped { holder } => {
                ("skipped", Some(format!("another process ({holder}) holds this pair")))
            }
            PairStatus::Incomplete { reason } => ("incomplete", Some(reason.clone())),
            PairStatus::Carried { reason } => ("carried", Some(reason.clone())),
            PairStatus::Paused { reason } => ("paused", Some(reason.clone())),
            PairStatus::Failed { reason } => ("failed", Some(reason.clone())),
        };
        let s = &p.stats;
        let counts = Counts {
            pulled: s.run.pulled,
            reread: s.run.reread,
            linked: s.run.linked,
            created: s.run.created,
            updated: s.run.updated,
            conflicts: s.run.conflicts,
            rejected: s.run.rejected,
            deleted: s.run.deleted,
            ambiguous: s.ambiguous,
            quarantined: s.quarantined,
            swept: s.swept,
            held: s.held,
            first_sync_not_created: s.first_sync_not_created,
        };
        Self { pair: p.pair.clone(), status: status.into(), reason, counts }
    }
}
