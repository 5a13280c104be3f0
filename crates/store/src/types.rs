//! The store's domain types: what goes in and comes out of [`Store`](super::Store) methods.
//!
//! Enums that are stored as text (`RunKind`, `ReviewState`, …, and the crate's [`Side`]) carry their column
//! spelling in `as_str` and parse back through `FromStr`/`TryFrom<String>`; the spelling is the
//! same as their serde form, so the JSON API and the database agree.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A canonical record: canonical field name → value (`None` = blank).
pub type CanonMap = BTreeMap<String, Option<String>>;

/// A stored text value that is not one of the enum's spellings (a corrupt or newer database).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?} in the store")]
pub struct UnknownValue {
    /// Which enum was being read.
    pub kind: &'static str,
    /// The text found.
    pub value: String,
}

/// Declares a field-less enum stored as text, with `as_str`, `Display`, `FromStr` and
/// `TryFrom<String>` (the latter for `#[sqlx(try_from = "String")]`).
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling used in the database and in JSON.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue { kind: stringify!($name), value: s.to_owned() }),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownValue;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
    };
}

pub use crosswalk_core::side::Side;

text_enum!(
    /// Why a run was started.
    RunKind { Scheduled = "scheduled", Manual = "manual", Backfill = "backfill" }
);

text_enum!(
    /// How a finished run ended.
    RunStatus {
        /// Everything applied.
        Ok = "ok",
        /// Some pairs or items failed; the rest applied.
        Partial = "partial",
        /// Nothing useful happened; an operator should look.
        Failed = "failed",
        /// Stopped on request (Ctrl-C, SIGTERM) or because the lease was lost.
        Aborted = "aborted",
    }
);

text_enum!(
    /// What a review item asks a person to decide.
    #[derive(Default)]
    ReviewKind {
        #[default]
        FieldConflict = "field_conflict",
        AmbiguousIdentity = "ambiguous_identity",
        WriteRejected = "write_rejected",
        HeldBack = "held_back",
        Deleted = "deleted",
    }
);

text_enum!(
    /// Where a review item is in its life: open → resolved → applied, or superseded / ignored.
    ReviewState {
        Open = "open",
        Resolved = "resolved",
        Applied = "applied",
        Superseded = "superseded",
        Ignored = "ignored",
    }
);

text_enum!(
    /// What an admin decided for a review item.
    ResolveAction {
        TakeLeft = "take_left",
        TakeRight = "take_right",
        TakeBase = "take_base",
        /// A value the admin typed (in [`Resolution::value`]).
        Value = "value",
        /// Leave both sides as they are; the item moves to `ignored`.
        Ignore = "ignore",
    }
);

/// A row of the mapping table: `left_id` in the pair's left system *is* `right_id` in its right.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Link {
    pub id: i64,
    pub pair: String,
    pub left_id: String,
    pub right_id: String,
    /// Every mapped field's canonical value as last agreed by both sides.
    #[sqlx(json)]
    pub base: CanonMap,
    /// Content hash of the last canonical record seen from the left, so a re-read costs nothing.
    pub left_hash: Option<String>,
    pub right_hash: Option<String>,
    /// Linked by a weak rule (name + country); shown to admins.
    pub low_confidence: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub left_verified_at: Option<DateTime<Utc>>,
    pub right_verified_at: Option<DateTime<Utc>>,
}

impl Link {
    /// The record id on `side`.
    pub fn record_id(&self, side: Side) -> &str {
        match side {
            Side::Left => &self.left_id,
            Side::Right => &self.right_id,
        }
    }

    /// The content hash of the last canonical record seen from `side`.
    pub fn hash(&self, side: Side) -> Option<&str> {
        match side {
            Side::Left => self.left_hash.as_deref(),
            Side::Right => self.right_hash.as_deref(),
        }
    }

    /// When the `side` record was last re-read by the verification sweep.
    pub fn verified_at(&self, side: Side) -> Option<DateTime<Utc>> {
        match side {
            Side::Left => self.left_verified_at,
            Side::Right => self.right_verified_at,
        }
    }
}

/// A new link (`id: None`) or new state for an existing one, applied by a page commit.
///
/// On an update, `left_id`/`right_id`/`pair` are ignored (re-pointing is
/// [`PageCommit::link_repoints`]), and `None` hashes or verified times keep the stored values.
/// `keys` replace the stored identity keys of every side that appears in them; a side absent
/// from `keys` keeps its keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkUpsert {
    pub id: Option<i64>,
    pub pair: String,
    pub left_id: String,
    pub right_id: String,
    pub base: CanonMap,
    pub left_hash: Option<String>,
    pub right_hash: Option<String>,
    pub low_confidence: bool,
    /// Identity keys (side, canonical field, normalised value), e.g. `(Left, "email", "a@b.c")`.
    pub keys: Vec<(Side, String, String)>,
    pub left_verified_at: Option<DateTime<Utc>>,
    pub right_verified_at: Option<DateTime<Utc>>,
}

/// Names one stream's watermark: `scope` is `"incremental"` or a backfill id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::FromRow)]
pub struct StreamKey {
    pub scope: String,
    pub system: String,
    pub object: String,
}

impl StreamKey {
    /// The scope of the regular, scheduled sync.
    pub const INCREMENTAL: &'static str = "incremental";

    /// The incremental stream of `system`/`object`.
    pub fn incremental(system: impl Into<String>, object: impl Into<String>) -> Self {
        Self { scope: Self::INCREMENTAL.to_owned(), system: system.into(), object: object.into() }
    }
}

/// A stream's saved position: the connector's opaque checkpoint plus the time window it covers.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct StoredCheckpoint {
    #[sqlx(flatten)]
    pub stream: StreamKey,
    #[sqlx(json)]
    pub checkpoint: serde_json::Value,
    pub window_from: Option<DateTime<Utc>>,
    pub window_to: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// A run being started. `id` is a UUID v7 in text form, made by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub id: String,
    pub kind: RunKind,
    pub pairs: Vec<String>,
    pub started_at: DateTime<Utc>,
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    pub pulled: u64,
    /// Records read again inside the overlap window (cost no writes).
    pub reread: u64,
    pub linked: u64,
    pub created: u64,
    pub updated: u64,
    pub conflicts: u64,
    pub rejected: u64,
    pub deleted: u64,
    /// Changes recognised as our own writes coming back.
    pub skipped_echo: u64,
}

impl std::ops::AddAssign for RunCounts {
    fn add_assign(&mut self, o: RunCounts) {
        self.pulled += o.pulled;
        self.reread += o.reread;
        self.linked += o.linked;
        self.created += o.created;
        self.updated += o.updated;
        self.conflicts += o.conflicts;
        self.rejected += o.rejected;
        self.deleted += o.deleted;
        self.skipped_echo += o.skipped_echo;
    }
}

/// The watermark window one stream covered in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamWindow {
    pub stream: StreamKey,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub finished_at: DateTime<Utc>,
    pub status: RunStatus,
    pub counts: RunCounts,
    pub windows: Vec<StreamWindow>,
    pub error: Option<String>,
}

/// A recorded run; `finished_at`/`status` are `None` while it runs (or if it crashed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    pub id: String,
    pub kind: RunKind,
    pub pairs: Vec<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: Option<RunStatus>,
    pub counts: RunCounts,
    pub windows: Vec<StreamWindow>,
    pub error: Option<String>,
}

/// A held lease. `token` increases on every successful claim of `name`, so a writer holding an
/// older token is fenced off (see [`PageCommit::lease`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub name: String,
    pub owner: String,
    pub token: i64,
    pub expires_at: DateTime<Utc>,
}

/// An admin's decision on a review item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub action: ResolveAction,
    /// The typed value for [`ResolveAction::Value`].
    pub value: Option<String>,
    pub by: String,
    pub at: DateTime<Utc>,
    pub note: Option<String>,
}

impl Resolution {
    /// Whether `other` decides the same thing (who, when and why aside).
    pub fn same_decision(&self, other: &Resolution) -> bool {
        self.action == other.action && self.value == other.value
    }
}

/// Something a person must decide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewItem {
    pub id: i64,
    pub pair: String,
    pub link_id: Option<i64>,
    pub kind: ReviewKind,
    pub field: Option<String>,
    pub base_value: Option<String>,
    pub left_value: Option<String>,
    pub right_value: Option<String>,
    pub left_modified_at: Option<DateTime<Utc>>,
    pub right_modified_at: Option<DateTime<Utc>>,
    pub left_id: Option<String>,
    pub right_id: Option<String>,
    /// The rule that would have applied.
    pub rule: Option<String>,
    /// Why it could not decide, for an admin to read.
    pub reason: String,
    /// Ambiguous identity: the candidates side by side.
    pub candidates: serde_json::Value,
    pub detected_at: DateTime<Utc>,
    pub run_id: String,
    pub state: ReviewState,
    pub resolution: Option<Resolution>,
    /// The run that applied (or superseded) the item.
    pub applied_run_id: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// What the remote said when it refused the write for good: the system (its config name),
    /// its error code, message and the field/property it named (write_rejected); for
    /// held_back, the system and remote field.
    pub remote_system: Option<String>,
    pub remote_code: Option<String>,
    pub remote_message: Option<String>,
    pub remote_field: Option<String>,
    /// Who the item is about: from the link's last agreed record, or for an ambiguous identity
    /// from the record that matched several candidates. `None` when neither names anyone.
    pub person: Option<Person>,
}

/// The person (or company) a review item is about, as a reviewer recognises them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// First and last name (or a company's name).
    pub name: Option<String>,
    pub email: Option<String>,
}

impl Person {
    /// The person named by a canonical record's `first_name`/`last_name`/`name`/`company` and
    /// `email` fields (a JSON object of canonical field → value); `None` if none is set.
    pub fn from_canon(values: &serde_json::Value) -> Option<Person> {
        let get = |k: &str| {
            values
                .get(k)
                .and_then(|v| v.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let full = [get("first_name"), get("last_name")].into_iter().flatten().collect::<Vec<_>>().join(" ");
        let name = Some(full).filter(|n| !n.is_empty()).or_else(|| get("name")).or_else(|| get("company"));
        let email = get("email");
        (name.is_some() || email.is_some()).then_some(Person { name, email })
    }

    /// The canonical fields [`Person::from_canon`] reads.
    pub const FIELDS: [&'static str; 5] = ["first_name", "last_name", "name", "company", "email"];
}

/// A review item to open. At most one item is open per (pair, link, kind, field) — for items
/// without a link, per (pair, kind, field, left_id, right_id); opening a duplicate returns the
/// open one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewReviewItem {
    pub pair: String,
    pub link_id: Option<i64>,
    pub kind: ReviewKind,
    pub field: Option<String>,
    pub base_value: Option<String>,
    pub left_value: Option<String>,
    pub right_value: Option<String>,
    pub left_modified_at: Option<DateTime<Utc>>,
    pub right_modified_at: Option<DateTime<Utc>>,
    pub left_id: Option<String>,
    pub right_id: Option<String>,
    pub rule: Option<String>,
    pub reason: String,
    pub candidates: serde_json::Value,
    pub detected_at: DateTime<Utc>,
    pub run_id: String,
    /// The remote system (config name), its error code, message and field for a write it
    /// refused (never a value).
    pub remote_system: Option<String>,
    pub remote_code: Option<String>,
    pub remote_message: Option<String>,
    pub remote_field: Option<String>,
}

/// A state change a run makes to a review item (in a page commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewTransition {
    /// resolved → applied: the resolution was written by `run_id`.
    Applied { run_id: String },
    /// open/resolved → superseded: both sides came to agree by themselves.
    Superseded { run_id: String },
}

/// Which review items to list or count. Empty filter = all items, ordered by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewFilter {
    pub pair: Option<String>,
    pub kind: Option<ReviewKind>,
    pub field: Option<String>,
    pub state: Option<ReviewState>,
    /// Only items detected strictly before this time.
    pub older_than: Option<DateTime<Utc>>,
    /// Free text matched (case-insensitively, as a substring) against the person's name and
    /// email, the record ids, the field and the remote field.
    pub search: Option<String>,
    /// The order of `list_review`.
    pub sort: ReviewSort,
    /// Page size for `list_review` (ignored by `count_review`); `None` = no limit.
    pub limit: Option<usize>,
    pub offset: usize,
}

text_enum!(
    /// How a listing is ordered; ties are broken by id.
    #[derive(Default)]
    ReviewSort {
        /// By id (the order items were opened in).
        #[default]
        Id = "id",
        /// Oldest detected first.
        Oldest = "oldest",
        /// Newest detected first.
        Newest = "newest",
        /// By pair name.
        Pair = "pair",
        /// By kind.
        Kind = "kind",
    }
);

/// The result of [`Store::resolve_review`](super::Store::resolve_review).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveOutcome {
    /// The item was open and is now resolved (or ignored).
    Resolved,
    /// The item already carries the same decision: nothing changed.
    AlreadyResolvedSame,
    /// The item is in this state, and the decision was not recorded.
    NotOpen(ReviewState),
}

text_enum!(
    /// Where a dead letter came from.
    #[derive(Default)]
    DeadLetterSource {
        /// A record a pull (or a re-read) returned that the connector could not read.
        #[default]
        Pull = "pull",
        /// A correctly signed webhook delivery that could not be read.
        Webhook = "webhook",
    }
);

text_enum!(
    /// Where a dead letter is in its life: open → retried, or open → discarded.
    DeadLetterStatus {
        /// Waiting for an admin.
        Open = "open",
        /// Sent back through the normal path (the next run re-reads the record it names).
        Retried = "retried",
        /// An admin decided it needs nothing; it stays as a record.
        Discarded = "discarded",
    }
);

/// A record that could not be applied and is not a review item (bad data, permanent rejects).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewDeadLetter {
    pub pair: Option<String>,
    pub system: String,
    pub object: String,
    pub record_id: Option<String>,
    pub reason: String,
    /// The raw payload; the store keeps at most [`DEAD_LETTER_PAYLOAD_MAX`] bytes of it.
    pub payload: String,
    pub run_id: String,
    /// A pull or a webhook delivery.
    pub source: DeadLetterSource,
    /// The webhook event id, for deliveries.
    pub event_id: Option<String>,
}

/// Bytes of a dead letter's payload that are kept.
pub const DEAD_LETTER_PAYLOAD_MAX: usize = 8 * 1024;

/// A stored dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: i64,
    pub pair: Option<String>,
    pub system: String,
    pub object: String,
    pub record_id: Option<String>,
    pub reason: String,
    pub payload: String,
    pub run_id: String,
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "String")]
    pub source: DeadLetterSource,
    pub event_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: DeadLetterStatus,
    /// When it was retried or discarded, and by whom.
    pub status_at: Option<DateTime<Utc>>,
    pub status_by: Option<String>,
}

/// One entry of the per-field decision log: why a field of a record changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDecision {
    pub run_id: String,
    pub pair: String,
    pub link_id: Option<i64>,
    /// The system that was written.
    pub system: String,
    pub record_id: String,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    /// The side whose value was taken.
    pub source_side: Side,
    pub rule: String,
    pub reason: String,
    /// The change was our own write coming back.
    pub echo: bool,
    /// Where a human decision came from, e.g. `"review:42 by alice"`.
    pub provenance: Option<String>,
    pub at: DateTime<Utc>,
}

/// A stored decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Decision {
    pub id: i64,
    pub run_id: String,
    pub pair: String,
    pub link_id: Option<i64>,
    pub system: String,
    pub record_id: String,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    #[sqlx(try_from = "String")]
    pub source_side: Side,
    pub rule: String,
    pub reason: String,
    pub echo: bool,
    pub provenance: Option<String>,
    pub at: DateTime<Utc>,
}

/// A remote write the run intends to make (the outbox), keyed by its idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct WriteIntent {
    pub key: String,
    pub pair: String,
    pub system: String,
    pub object: String,
    #[sqlx(json)]
    pub op_json: serde_json::Value,
    pub run_id: String,
    pub created_at: DateTime<Utc>,
}

/// A persisted webhook event not yet processed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StoredEvent {
    pub source: String,
    pub event_id: String,
    pub received_at: DateTime<Utc>,
    pub payload: String,
}

/// How long after a source's change the engine's write to the other side succeeded: one
/// sample of a pair's freshness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct FreshnessSample {
    pub pair: String,
    /// `poll` (a scheduled or manual run) or `webhook` (a micro-sync woken by a delivery).
    pub path: String,
    /// From the change's own time (the record's modified time) to the write, in milliseconds.
    pub millis: i64,
    /// When the write succeeded.
    pub at: DateTime<Utc>,
}

/// How long freshness samples are kept: a page commit of a pair prunes its older ones.
pub const FRESHNESS_KEEP: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// A stream's new checkpoint in a page commit: (stream, checkpoint, window from, window to).
pub type CheckpointUpdate = (StreamKey, serde_json::Value, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Everything one page of a run produced, applied by
/// [`Store::commit_page`](super::Store::commit_page) in one transaction, in this order: fence
/// check, unlinks, re-points, link upserts, review items, review transitions, dead letters,
/// decisions, seen events, finished intents, checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct PageCommit {
    /// The lease the run holds; if its token is no longer current nothing is written.
    pub lease: Lease,
    pub run_id: String,
    /// When the page is committed: stamps `updated_at`/`created_at` of what it writes.
    pub at: DateTime<Utc>,
    /// The stream's new checkpoint and the window it covers.
    pub checkpoint: Option<CheckpointUpdate>,
    pub link_upserts: Vec<LinkUpsert>,
    /// Merges: (link id, side, survivor record id). The side's identity keys are dropped.
    pub link_repoints: Vec<(i64, Side, String)>,
    pub unlinks: Vec<i64>,
    pub review_items: Vec<NewReviewItem>,
    pub review_transitions: Vec<(i64, ReviewTransition)>,
    pub dead_letters: Vec<NewDeadLetter>,
    pub decisions: Vec<NewDecision>,
    /// (source, event id) pairs now processed; unknown ones are recorded as processed.
    pub seen_events: Vec<(String, String)>,
    /// Idempotency keys of write intents that are now done.
    pub intents_done: Vec<String>,
    /// Freshness of the writes this page made (older samples of the same pairs are pruned).
    pub freshness: Vec<FreshnessSample>,
}

impl PageCommit {
    /// An empty commit for `run_id` under `lease`, to be filled in.
    pub fn new(lease: Lease, run_id: impl Into<String>, at: DateTime<Utc>) -> Self {
        Self {
            lease,
            run_id: run_id.into(),
            at,
            checkpoint: None,
            link_upserts: Vec::new(),
            link_repoints: Vec::new(),
            unlinks: Vec::new(),
            review_items: Vec::new(),
            review_transitions: Vec::new(),
            dead_letters: Vec::new(),
            decisions: Vec::new(),
            seen_events: Vec::new(),
            intents_done: Vec::new(),
            freshness: Vec::new(),
        }
    }
}

/// What a page commit created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageCommitResult {
    /// The ids of the links created, in the order of their `link_upserts` (updates excluded).
    pub created_links: Vec<i64>,
    /// One id per `review_items` entry: the new item, or the open item it duplicated.
    pub review_items: Vec<i64>,
}

/// One migration applied by [`Store::migrate`](super::Store::migrate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
}

/// What [`Store::migrate`](super::Store::migrate) did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationReport {
    pub backend: super::Backend,
    /// The migrations this call applied, in order; empty when the schema was up to date.
    pub applied: Vec<AppliedMigration>,
    /// The newest migration version embedded in this binary.
    pub latest: i64,
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.applied.is_empty() {
            return write!(f, "{} schema is up to date (version {})", self.backend, self.latest);
        }
        write!(f, "{} schema migrated to version {}:", self.backend, self.latest)?;
        for m in &self.applied {
            write!(f, "\n  applied {:04} {}", m.version, m.description)?;
        }
        Ok(())
    }
}

/// One system's circuit breaker. Open means its pairs are paused: skipped by every worker until
/// a probe finds the system answering again or `crosswalk resume SYSTEM` closes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreakerState {
    /// The configured system name.
    pub system: String,
    /// Whether the system's pairs are paused.
    pub open: bool,
    /// Consecutive failed runs against the system (reset by a good run or a close).
    pub failures: u32,
    /// Why it last failed, or how it was closed (never a value or secret: the classified error).
    pub reason: Option<String>,
    /// When it opened; `None` while closed.
    pub opened_at: Option<DateTime<Utc>>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
}

impl BreakerState {
    /// A breaker the store has no row for: closed, no failures.
    pub fn closed(system: &str, now: DateTime<Utc>) -> Self {
        Self {
            system: system.into(),
            open: false,
            failures: 0,
            reason: None,
            opened_at: None,
            updated_at: now,
        }
    }
}

/// What [`Store::record_system_run`](super::Store::record_system_run) left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerUpdate {
    /// The breaker after the run was recorded.
    pub state: BreakerState,
    /// True when this call opened it (exactly one caller sees this for each opening).
    pub opened: bool,
}

/// One rate-limit bucket of a remote account as [`Store::take_quota`](super::Store::take_quota)
/// counts it: at most `limit` sends in any `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaBucket {
    pub name: String,
    pub limit: u32,
    pub window: std::time::Duration,
}

/// The answer of [`Store::take_quota`](super::Store::take_quota).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaTake {
    /// One send was recorded in every bucket: send now.
    Taken,
    /// Some bucket is full until then; nothing was recorded.
    NotBefore(DateTime<Utc>),
}
