//! The review queue's service layer, shared by the CLI (`crosswalk review …`) and the admin web
//! page / JSON API (`crosswalk serve`): listing with filters, one item with its diff, resolving
//! with validation (one item or in bulk by filter), reopening, and the queue's status.
//!
//! Recording a decision never writes to a remote system: the engine applies resolved items at
//! the start of the pair's next run (see `sync::resolutions`).

pub mod diff;
pub mod explain;
pub mod history;
pub mod names;
pub mod render;

use std::collections::BTreeMap;
use std::sync::Arc;

use connector_api::SharedClock;
use serde::{Deserialize, Serialize};

use self::explain::Explanation;
use self::names::{Directory, SideName};
use crate::store::{
    Resolution, ResolveAction, ResolveOutcome, ReviewFilter, ReviewItem, ReviewKind, ReviewState, RunRecord,
    Store, StoreError,
};

/// Largest page a listing returns.
pub const MAX_PAGE: usize = 500;

/// Why a review operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// No item has this id.
    #[error("review item {0} does not exist")]
    NotFound(i64),
    /// The request does not make sense for the item (the message says why).
    #[error("{0}")]
    Invalid(String),
    /// The item cannot change now (e.g. reopening while another item with the same key is open).
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error("state store: {0}")]
    Store(StoreError),
}

impl From<StoreError> for ReviewError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// A decision as an admin submits it (CLI flags, a web form, a JSON body).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResolveRequest {
    pub action: ResolveAction,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// What resolving one item did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ResolveReport {
    /// The decision was recorded.
    Resolved { state: ReviewState },
    /// The item already carried this decision: nothing changed.
    Unchanged { state: ReviewState },
    /// The item is not open, so the decision was not recorded.
    NotOpen { state: ReviewState },
}

impl ResolveReport {
    /// A sentence for the admin.
    pub fn message(&self, id: i64) -> String {
        match self {
            Self::Resolved { state: ReviewState::Ignored } => {
                format!("item {id} ignored: both sides stay as they are")
            }
            Self::Resolved { .. } => {
                format!("item {id} resolved: the next sync run of its pair writes the decision")
            }
            Self::Unchanged { state } => {
                format!("item {id} already carries this decision ({state}); nothing changed")
            }
            Self::NotOpen { state } => {
                format!("item {id} is {state}, not open; reopen it first to decide again")
            }
        }
    }
}

/// What a bulk resolve did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BulkReport {
    /// Open items the filter matched.
    pub matched: u64,
    pub resolved: u64,
    pub unchanged: u64,
    /// Items skipped because the decision does not fit them, with why (id → reason).
    pub skipped: BTreeMap<i64, String>,
}

/// One page of a listing and the total matching the filter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewPage {
    pub items: Vec<ReviewItem>,
    pub total: u64,
    pub limit: usize,
    pub offset: usize,
}

/// The queue at a glance, for `/api/status` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueStatus {
    /// Open items per kind (every kind present, zero included), keyed by the kind's spelling.
    pub open_by_kind: BTreeMap<String, u64>,
    pub open_total: u64,
    /// Resolved items waiting for the next run.
    pub resolved_waiting: u64,
    /// Open dead letters.
    pub dead_letters: u64,
    /// Open dead letters by reason.
    pub dead_letters_by_reason: BTreeMap<String, u64>,
    /// The latest runs, newest first.
    pub recent_runs: Vec<RunRecord>,
}

/// One side of an item as the JSON API shows it: the system's config name, the name people
/// know it by, the object, and the record's page in that system.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SideRef {
    pub name: String,
    pub label: String,
    pub object: String,
    pub record_id: Option<String>,
    pub record_url: Option<String>,
}

impl SideRef {
    fn new(side: &SideName, record_id: Option<&str>) -> Self {
        Self {
            name: side.system.name.clone(),
            label: side.system.label.clone(),
            object: side.object.clone(),
            record_id: record_id.map(str::to_string),
            record_url: record_id.and_then(|id| side.record_url(id)),
        }
    }
}

/// An item with its systems named and its reason explained (the JSON API's item; `left_*` /
/// `right_*` keys stay as they are).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemView {
    #[serde(flatten)]
    pub item: ReviewItem,
    pub left_system: SideRef,
    pub right_system: SideRef,
    pub explanation: Explanation,
}

impl ItemView {
    /// `item` named through `dir`.
    pub fn new(item: ReviewItem, dir: &Directory) -> Self {
        let (l, r) = dir.sides(&item.pair);
        Self {
            left_system: SideRef::new(&l, item.left_id.as_deref()),
            right_system: SideRef::new(&r, item.right_id.as_deref()),
            explanation: explain::explain(&item, &l, &r),
            item,
        }
    }
}

/// The review queue's use cases over a store.
#[derive(Debug, Clone)]
pub struct ReviewService {
    store: Arc<dyn Store>,
    clock: SharedClock,
    directory: Arc<Directory>,
}

impl ReviewService {
    /// A service that names no systems (sides are "left system" / "right system").
    pub fn new(store: Arc<dyn Store>, clock: SharedClock) -> Self {
        Self { store, clock, directory: Arc::new(Directory::default()) }
    }

    /// Names systems and links records through `directory`.
    pub fn with_directory(mut self, directory: Directory) -> Self {
        self.directory = Arc::new(directory);
        self
    }

    /// The names of the systems and pairs.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// `item` with its systems named and its reason explained.
    pub fn view(&self, item: ReviewItem) -> ItemView {
        ItemView::new(item, &self.directory)
    }

    /// The store behind the service.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Items matching `filter` (limit clamped to [`MAX_PAGE`], default 50) and their total.
    pub async fn list(&self, filter: &ReviewFilter) -> Result<ReviewPage, ReviewError> {
        let limit = filter.limit.unwrap_or(50).clamp(1, MAX_PAGE);
        let filter = ReviewFilter { limit: Some(limit), ..filter.clone() };
        let items = self.store.list_review(&filter).await?;
        // A first page that is not full holds every match: no second scan to count them.
        let total = match filter.offset == 0 && items.len() < limit {
            true => items.len() as u64,
            false => self.store.count_review(&filter).await?,
        };
        Ok(ReviewPage { items, total, limit, offset: filter.offset })
    }

    /// One item.
    pub async fn get(&self, id: i64) -> Result<ReviewItem, ReviewError> {
        self.store.review_item(id).await?.ok_or(ReviewError::NotFound(id))
    }

    /// Records `by`'s decision on item `id` after checking it fits the item.
    pub async fn resolve(
        &self,
        id: i64,
        req: &ResolveRequest,
        by: &str,
    ) -> Result<ResolveReport, ReviewError> {
        let item = self.get(id).await?;
        self.resolve_item(&item, req, by).await
    }

    async fn resolve_item(
        &self,
        item: &ReviewItem,
        req: &ResolveRequest,
        by: &str,
    ) -> Result<ResolveReport, ReviewError> {
        if item.state != ReviewState::Open {
            let same =
                item.resolution.as_ref().is_some_and(|r| r.action == req.action && r.value == req.value);
            return Ok(if same {
                ResolveReport::Unchanged { state: item.state }
            } else {
                ResolveReport::NotOpen { state: item.state }
            });
        }
        validate(item, req)?;
        let resolution = Resolution {
            action: req.action,
            value: req.value.clone(),
            by: by.to_string(),
            at: self.clock.now(),
            note: req.note.clone().filter(|n| !n.trim().is_empty()),
        };
        let outcome = self.store.resolve_review(item.id, &resolution).await?;
        let state =
            if req.action == ResolveAction::Ignore { ReviewState::Ignored } else { ReviewState::Resolved };
        Ok(match outcome {
            ResolveOutcome::Resolved => ResolveReport::Resolved { state },
            ResolveOutcome::AlreadyResolvedSame => ResolveReport::Unchanged { state },
            ResolveOutcome::NotOpen(state) => ResolveReport::NotOpen { state },
        })
    }

    /// How many open items `filter` matches (its state is forced to open).
    pub async fn count_open(&self, filter: &ReviewFilter) -> Result<u64, ReviewError> {
        let filter = ReviewFilter { state: Some(ReviewState::Open), ..filter.clone() };
        Ok(self.store.count_review(&filter).await?)
    }

    /// Applies one decision to every open item `filter` matches; items it does not fit are
    /// skipped with the reason, the rest are resolved.
    pub async fn resolve_bulk(
        &self,
        filter: &ReviewFilter,
        req: &ResolveRequest,
        by: &str,
    ) -> Result<BulkReport, ReviewError> {
        let filter =
            ReviewFilter { state: Some(ReviewState::Open), limit: None, offset: 0, ..filter.clone() };
        let items = self.store.list_review(&filter).await?;
        self.resolve_many(&items, req, by).await
    }

    /// Applies one decision to the given items (the web page's checkboxes).
    pub async fn resolve_ids(
        &self,
        ids: &[i64],
        req: &ResolveRequest,
        by: &str,
    ) -> Result<BulkReport, ReviewError> {
        let mut items = Vec::with_capacity(ids.len());
        for &id in ids {
            items.push(self.get(id).await?);
        }
        self.resolve_many(&items, req, by).await
    }

    async fn resolve_many(
        &self,
        items: &[ReviewItem],
        req: &ResolveRequest,
        by: &str,
    ) -> Result<BulkReport, ReviewError> {
        let mut report = BulkReport { matched: items.len() as u64, ..BulkReport::default() };
        for item in items {
            match self.resolve_item(item, req, by).await {
                Ok(ResolveReport::Resolved { .. }) => report.resolved += 1,
                Ok(ResolveReport::Unchanged { .. }) => report.unchanged += 1,
                Ok(ResolveReport::NotOpen { state }) => {
                    report.skipped.insert(item.id, format!("it is {state}"));
                }
                Err(ReviewError::Invalid(why)) => {
                    report.skipped.insert(item.id, why);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// Puts a resolved or ignored item back to open. `Ok(false)` if it was in another state.
    pub async fn reopen(&self, id: i64) -> Result<bool, ReviewError> {
        self.get(id).await?;
        match self.store.reopen_review(id, self.clock.now()).await {
            Ok(reopened) => Ok(reopened),
            Err(StoreError::Conflict { .. }) => Err(ReviewError::Conflict(format!(
                "item {id} cannot be reopened: a newer item about the same field is open"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Counts for the status page and metrics.
    pub async fn status(&self, runs: usize) -> Result<QueueStatus, ReviewError> {
        let mut open_by_kind = BTreeMap::new();
        for &kind in ReviewKind::ALL {
            let filter =
                ReviewFilter { kind: Some(kind), state: Some(ReviewState::Open), ..ReviewFilter::default() };
            open_by_kind.insert(kind.as_str().to_string(), self.store.count_review(&filter).await?);
        }
        let resolved = ReviewFilter { state: Some(ReviewState::Resolved), ..ReviewFilter::default() };
        Ok(QueueStatus {
            open_total: open_by_kind.values().sum(),
            open_by_kind,
            resolved_waiting: self.store.count_review(&resolved).await?,
            dead_letters: self.store.count_dead_letters().await?,
            dead_letters_by_reason: self.store.count_dead_letters_by_reason().await?.into_iter().collect(),
            recent_runs: self.store.recent_runs(runs).await?,
        })
    }
}

/// Checks that `req` is a decision the engine can carry out for `item`.
pub fn validate(item: &ReviewItem, req: &ResolveRequest) -> Result<(), ReviewError> {
    let invalid = |m: String| Err(ReviewError::Invalid(m));
    match (req.action, &req.value) {
        (ResolveAction::Value, None) => return invalid("the `value` action needs a value".into()),
        (ResolveAction::Value, Some(_)) => {}
        (action, Some(_)) => return invalid(format!("`{action}` takes no value; use the `value` action")),
        _ => {}
    }
    match (item.kind, req.action) {
        (_, ResolveAction::Ignore) => Ok(()),
        (ReviewKind::FieldConflict, _) if item.field.is_none() => {
            invalid(format!("item {} names no field; it can only be ignored", item.id))
        }
        (ReviewKind::FieldConflict, _) => Ok(()),
        (ReviewKind::AmbiguousIdentity, ResolveAction::Value) => {
            let chosen = req.value.as_deref().unwrap_or_default();
            let ids = candidate_ids(item);
            if ids.iter().any(|c| c == chosen) {
                Ok(())
            } else {
                invalid(format!("`{chosen}` is not one of the candidates ({})", ids.join(", ")))
            }
        }
        (ReviewKind::AmbiguousIdentity, action) => invalid(format!(
            "an ambiguous identity is resolved by choosing a candidate id with `value`, or ignored; not `{action}`"
        )),
        // Rejections, held-back changes and deletes are acknowledged: the next pull re-plans.
        (_, ResolveAction::Value | ResolveAction::TakeBase) => {
            invalid(format!("a {} item is acknowledged with take_left, take_right or ignore", item.kind))
        }
        _ => Ok(()),
    }
}

/// The candidate record ids of an ambiguous identity item (`{"side": …, "ids": [...]}`).
pub fn candidate_ids(item: &ReviewItem) -> Vec<String> {
    item.candidates
        .get("ids")
        .and_then(|v| v.as_array())
        .map(|ids| ids.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The side the candidates live on (`left`/`right`), if the item says.
pub fn candidate_side(item: &ReviewItem) -> Option<&str> {
    item.candidates.get("side").and_then(|v| v.as_str())
}

/// A kind as people say it.
pub fn kind_label(kind: ReviewKind) -> &'static str {
    match kind {
        ReviewKind::FieldConflict => "Conflict",
        ReviewKind::AmbiguousIdentity => "Possible duplicate",
        ReviewKind::WriteRejected => "Write refused",
        ReviewKind::HeldBack => "Held back",
        ReviewKind::Deleted => "Deleted",
    }
}

/// What the button for `action` says on an item of `kind` whose pair has systems `l` and `r`.
pub fn action_label(action: ResolveAction, kind: ReviewKind, l: &str, r: &str) -> String {
    match (action, kind) {
        (ResolveAction::TakeLeft | ResolveAction::TakeRight, ReviewKind::WriteRejected) => {
            return "Acknowledge: fixed, try again".into();
        }
        (ResolveAction::TakeLeft | ResolveAction::TakeRight, ReviewKind::HeldBack) => {
            return "Acknowledge: fixed, carry on".into();
        }
        (ResolveAction::TakeLeft | ResolveAction::TakeRight, ReviewKind::Deleted) => {
            return "Acknowledge the delete".into();
        }
        _ => {}
    }
    match action {
        ResolveAction::TakeLeft => format!("Keep {l}'s value"),
        ResolveAction::TakeRight => format!("Keep {r}'s value"),
        ResolveAction::TakeBase => "Keep the last agreed value".into(),
        ResolveAction::Value if kind == ReviewKind::AmbiguousIdentity => "Link to this record".into(),
        ResolveAction::Value => "Use this value".into(),
        ResolveAction::Ignore => "Ignore (leave both as they are)".into(),
    }
}

/// The decisions a bulk action may offer for `items`: only those that fit every one of them
/// and mean the same for each (keeping a system's value needs one pair of systems and field
/// conflicts only; acknowledging needs rejections, held-back changes or deletes only). Ignore
/// always fits. Each comes with its button text.
pub fn bulk_choices(items: &[&ReviewItem], dir: &Directory) -> Vec<(ResolveAction, String)> {
    let ignore = (ResolveAction::Ignore, action_label(ResolveAction::Ignore, ReviewKind::Deleted, "", ""));
    let Some(first) = items.first() else { return vec![ignore] };
    let labels = |i: &ReviewItem| {
        let (l, r) = dir.sides(&i.pair);
        (l.system.label, r.system.label)
    };
    let (l, r) = labels(first);
    let fits = |a: ResolveAction| {
        let req = ResolveRequest { action: a, value: None, note: None };
        items.iter().all(|i| validate(i, &req).is_ok())
    };
    let conflicts =
        items.iter().all(|i| i.kind == ReviewKind::FieldConflict && labels(i) == (l.clone(), r.clone()));
    let acknowledged = items
        .iter()
        .all(|i| matches!(i.kind, ReviewKind::WriteRejected | ReviewKind::HeldBack | ReviewKind::Deleted));
    let mut out = Vec::new();
    if conflicts {
        for a in [ResolveAction::TakeLeft, ResolveAction::TakeRight].into_iter().filter(|a| fits(*a)) {
            out.push((a, action_label(a, ReviewKind::FieldConflict, &l, &r)));
        }
    } else if acknowledged && fits(ResolveAction::TakeLeft) {
        let label = if items.iter().all(|i| i.kind == first.kind) {
            action_label(ResolveAction::TakeLeft, first.kind, &l, &r)
        } else {
            "Acknowledge".to_string()
        };
        out.push((ResolveAction::TakeLeft, label));
    }
    out.push(ignore);
    out
}
