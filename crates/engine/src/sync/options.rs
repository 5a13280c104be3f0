//! Knobs of the run loop, from settings.

use std::collections::BTreeMap;
use std::time::Duration;

/// Knobs of the run loop, from settings.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Default re-read window behind each checkpoint.
    pub overlap: Duration,
    /// Per-system overrides of `overlap`.
    pub overlaps: BTreeMap<String, Duration>,
    /// The watermark never passes run start minus this.
    pub safety_margin: Duration,
    /// Records per pulled page.
    pub page_size: usize,
    /// Lease length.
    pub lease_ttl: Duration,
    /// Linked records re-read per side per run by the verification sweep, for systems whose
    /// pulls miss some edits.
    pub sweep_budget: usize,
    /// Who holds leases (host + pid in production).
    pub owner: String,
    /// Whether a scheduled run of a pair that has never synced in this store may create records
    /// (off by default: such a run only links, and says to run a backfill first).
    pub first_sync_creates: bool,
    /// Which path this engine's writes take, recorded with each freshness sample: `Poll` for
    /// the scheduled and manual runs; the micro-sync worker sets `Webhook`.
    pub path: SyncPath,
    /// Whether pages of a stream whose records were all linked may wait for the next pages'
    /// writes, so a batching target's calls fill (`sync::batch`). Off by default for now: with it
    /// on, the demo's two-cycle convergence became timing-dependent (issue #21's notes).
    pub batch_across_pages: bool,
    /// The time box of a scheduled run (`crosswalk run`): none for one-shot syncs, backfills and
    /// micro-syncs, which run to their end.
    pub time_box: Option<TimeBox>,
}

/// A scheduled run's share of its interval: once `budget` has passed since the run started, no
/// new page is started (a page already started finishes and commits with its checkpoint); the
/// rest of each stream is carried to the next run, one `every` later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBox {
    /// How long a run may keep starting pages (`sync.time_box` × the interval).
    pub budget: Duration,
    /// The interval between runs: the pace at which a carried backlog drains, for the ETA.
    pub every: Duration,
}

impl TimeBox {
    /// The box of runs every `every` that may use `share` (0–1] of it.
    pub fn share_of(every: Duration, share: f64) -> Self {
        Self { budget: every.mul_f64(share.clamp(0.0, 1.0)), every }
    }
}

/// The path a change took to the other side, for freshness (`crosswalk_freshness_seconds`'s
/// `path` label and the store's samples).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SyncPath {
    /// A run that pulled the change (scheduled, manual, backfill).
    #[default]
    Poll,
    /// A micro-sync woken by a webhook delivery.
    Webhook,
}

impl SyncPath {
    /// `poll` or `webhook`, as stored and labelled.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Poll => "poll",
            Self::Webhook => "webhook",
        }
    }
}

impl SyncOptions {
    /// These options with creates allowed on a pair's first sync (for worlds built in code,
    /// where an empty store is the point, not an accident).
    pub fn creating_on_first_sync(self) -> Self {
        Self { first_sync_creates: true, ..self }
    }

    /// The re-read window of `system`'s streams.
    pub(crate) fn overlap_of(&self, system: &str) -> Duration {
        self.overlaps.get(system).copied().unwrap_or(self.overlap)
    }
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            overlap: Duration::from_secs(120),
            overlaps: BTreeMap::new(),
            safety_margin: Duration::from_secs(5),
            page_size: 200,
            lease_ttl: Duration::from_secs(600),
            sweep_budget: 100,
            owner: "crosswalk".to_string(),
            first_sync_creates: false,
            path: SyncPath::Poll,
            batch_across_pages: false,
            time_box: None,
        }
    }
}
