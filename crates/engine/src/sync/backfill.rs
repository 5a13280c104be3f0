//! One-shot backfills: read a pair's whole stream (or a time range) through the same reconciler
//! as the scheduled cycle, in checkpointed pages kept under the backfill's own scope, so the
//! incremental watermarks never move and an interrupted backfill resumes where it stopped.
//!
//! A backfill is named by its pair and the `--since` / `--until` it was asked for. Its state
//! (the resolved upper bound, when it started and finished, how often it was restarted) is a
//! checkpoint row of its own, written in the same fenced transactions as its pages. Running a
//! finished backfill again changes nothing unless `restart` is asked for, which reads the range
//! afresh under a new generation.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use chrono::{DateTime, Utc};
use connector_api::Capabilities;
use sha2::{Digest, Sha256};

use crate::mapping::Side;
use crate::store::{RunKind, StreamKey};

use super::control::{BackfillRun, BackfillState, RunMode};
use super::engine::Engine;
use super::error::SyncError;
use super::report::RunReport;

/// What to backfill.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillSpec {
    /// The pair.
    pub pair: String,
    /// Only changes at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only changes at or before this time; "the start of the first attempt" when absent.
    pub until: Option<DateTime<Utc>>,
    /// Stop before the backfill would create more than this many records in this attempt.
    pub max_creates: Option<u64>,
    /// Read a finished backfill's range again instead of reporting it finished.
    pub restart: bool,
    /// Split `[since, until]` into this many equal slices, each a backfill of its own with its
    /// own lease, so several workers (processes on one PostgreSQL store) share the work. Needs
    /// both bounds, so every worker computes the same slices.
    pub slices: Option<u32>,
}

/// How a backfill call ended.
#[derive(Debug, Clone)]
pub struct BackfillReport {
    /// The state after the call.
    pub state: BackfillState,
    /// The run, unless the backfill had finished before and was not restarted.
    pub run: Option<RunReport>,
    /// True when an unfinished earlier attempt was continued.
    pub resumed: bool,
}

/// The row that holds a backfill's state.
fn state_key(id: &str) -> StreamKey {
    StreamKey { scope: format!("backfill:{id}"), system: "crosswalk".into(), object: "backfill-state".into() }
}

/// `pair` + requested range → a short stable id.
pub fn backfill_id(spec: &BackfillSpec) -> String {
    let text = format!(
        "{}|{}|{}",
        spec.pair,
        spec.since.map(|t| t.to_rfc3339()).unwrap_or_default(),
        spec.until.map(|t| t.to_rfc3339()).unwrap_or_default()
    );
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", spec.pair)
}

impl Engine {
    /// Runs (or resumes) a backfill. With `dry_run` nothing is written — not even the
    /// backfill's state — and the report's run carries the rendered plan.
    pub async fn backfill(&self, spec: &BackfillSpec, dry_run: bool) -> Result<BackfillReport, SyncError> {
        self.backfill_one(spec, dry_run, false).await
    }

    /// Runs the slices of a sliced backfill that no other worker holds or finished, in order,
    /// and reports each slice (a slice another worker is running is reported as skipped).
    /// Slices overlap at their boundary instants: a change exactly there is read by both, which
    /// costs nothing more than a re-read.
    pub async fn backfill_slices(
        &self,
        spec: &BackfillSpec,
        dry_run: bool,
    ) -> Result<Vec<BackfillReport>, SyncError> {
        let mut out = Vec::new();
        for slice in slices(spec)? {
            out.push(self.backfill_one(&slice, dry_run, true).await?);
        }
        Ok(out)
    }

    async fn backfill_one(
        &self,
        spec: &BackfillSpec,
        dry_run: bool,
        sliced: bool,
    ) -> Result<BackfillReport, SyncError> {
        if !self.pairs.iter().any(|p| p.name == spec.pair) {
            return Err(SyncError::UnknownPair(spec.pair.clone()));
        }
        let id = backfill_id(spec);
        let key = state_key(&id);
        let saved: Option<BackfillState> =
            self.store.load_checkpoint(&key).await?.and_then(|c| serde_json::from_value(c.checkpoint).ok());
        let now = self.clock.now();
        let fresh = |generation: u32| BackfillState {
            id: id.clone(),
            pair: spec.pair.clone(),
            since: spec.since,
            until: spec.until.unwrap_or_else(|| now - self.margin()),
            generation,
            started_at: now,
            finished_at: None,
            attempts: 0,
        };
        let (mut state, resumed) = match saved {
            Some(s) if s.finished_at.is_some() && !spec.restart => {
                return Ok(BackfillReport { state: s, run: None, resumed: false });
            }
            Some(s) if s.finished_at.is_some() => (fresh(s.generation + 1), false),
            Some(s) => (s, true),
            None => (fresh(0), false),
        };
        state.attempts += 1;
        let run = Arc::new(BackfillRun {
            scope: state.scope(),
            since: state.since,
            until: state.until,
            creates_left: AtomicU64::new(spec.max_creates.unwrap_or(u64::MAX)),
            state_key: key,
            sliced,
            state: std::sync::Mutex::new(state),
        });
        let report = self
            .run_mode(
                RunKind::Backfill,
                std::slice::from_ref(&spec.pair),
                dry_run,
                RunMode::Backfill(run.clone()),
            )
            .await?;
        let state = run.state.lock().expect("backfill state lock").clone();
        Ok(BackfillReport { state, run: Some(report), resumed })
    }
}

/// The slices of a sliced backfill: `slices` equal time ranges covering `[since, until]`.
pub fn slices(spec: &BackfillSpec) -> Result<Vec<BackfillSpec>, SyncError> {
    let n = spec.slices.unwrap_or(1).max(1);
    let (Some(since), Some(until)) = (spec.since, spec.until) else {
        return Err(SyncError::Invalid(
            "a sliced backfill needs both --since and --until, so every worker computes the same slices"
                .into(),
        ));
    };
    if since >= until {
        return Err(SyncError::Invalid(format!("--since {since} is not before --until {until}")));
    }
    let width = (until - since) / i32::try_from(n).unwrap_or(i32::MAX);
    Ok((0..n)
        .map(|k| {
            let from = since + width * i32::try_from(k).unwrap_or(i32::MAX);
            let to =
                if k + 1 == n { until } else { since + width * i32::try_from(k + 1).unwrap_or(i32::MAX) };
            BackfillSpec { since: Some(from), until: Some(to), slices: None, ..spec.clone() }
        })
        .collect())
}

impl Engine {
    /// What a backfill of `spec` can expect, per side: how many records the side's system says
    /// changed in the range (if it can say) and how many records per second the system that
    /// side's records are written to accepts (if it is rate-limited). For progress and ETA.
    pub async fn backfill_outlook(&self, spec: &BackfillSpec) -> BTreeMap<Side, (Option<u64>, Option<f64>)> {
        let mut out = BTreeMap::new();
        let Some(pair) = self.pairs.iter().find(|p| p.name == spec.pair) else { return out };
        for side in [Side::Left, Side::Right] {
            let (this, target) = (pair.endpoint(side), pair.endpoint(side.other()));
            let expected = match self.systems.get(&this.system) {
                Some(c) => c.estimate(&this.object, spec.since, spec.until).await.ok().flatten(),
                None => None,
            };
            let capacity = self
                .systems
                .get(&target.system)
                .and_then(|c| write_capacity(&c.capabilities(), &target.object));
            out.insert(side, (expected, capacity));
        }
        out
    }
}

/// How fast a system accepts writes: records per second (calls per second × records per call).
pub fn write_capacity(caps: &Capabilities, object: &str) -> Option<f64> {
    let bucket = caps
        .rate_buckets
        .iter()
        .find(|b| b.name == "write")
        .or_else(|| caps.rate_buckets.iter().find(|b| b.name == "burst"))?;
    let per_call = caps.object(object).map_or(1, |o| o.max_batch.max(1)) as f64;
    let secs = bucket.window.as_secs_f64();
    (secs > 0.0 && bucket.limit > 0).then(|| f64::from(bucket.limit) / secs * per_call)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_capacity_counts_records_per_call() {
        let caps = Capabilities {
            kind: "x".into(),
            objects: vec![connector_api::ObjectCaps {
                name: "contacts".into(),
                max_batch: 100,
                max_page: 100,
                pull_sees_every_edit: true,
                modified_times: true,
                reports_deletes: true,
                reports_merges: true,
                identity_fields: Vec::new(),
                unreadable_fields: Vec::new(),
                record_space: "contacts".into(),
            }],
            rate_buckets: vec![connector_api::RateBucket {
                name: "burst".into(),
                limit: 100,
                window: std::time::Duration::from_secs(10),
            }],
        };
        assert_eq!(write_capacity(&caps, "contacts"), Some(1_000.0));
    }
}
