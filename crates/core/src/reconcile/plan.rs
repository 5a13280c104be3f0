//! The pure planner (sync-model §7): for a linked pair, every field merged three ways into writes
//! per side, conflicts, drift flags and the new base; for an unlinked record, the create on the
//! other side; and the [`Plan`] that aggregates them per target and checks the safety caps.

use chrono::{DateTime, Utc};
use connector_model::{FieldMap, IdentityKey};

use super::merge::{ConflictWhy, FieldOutcome, KeepReason, MergeCtx, WriteReason, merge_field};
use crate::mapping::{CanonMap, Caps, CreationRule, PairMapping, RuleKind, Side};

/// What one side holds for a record, in canonical form.
#[derive(Debug, Clone, Copy)]
pub struct SideView<'a> {
    /// The side's record id.
    pub id: &'a str,
    /// Canonical values; a partial change holds only some fields (the rest count as unchanged).
    pub values: &'a CanonMap,
    /// The record's modified time (for `newest`); `None` when the system cannot say when the
    /// record last changed, so `newest` cannot decide against it.
    pub modified_at: Option<DateTime<Utc>>,
}

/// One field to write to one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldWrite {
    /// The side written.
    pub target: Side,
    /// Canonical field name.
    pub field: String,
    /// The value written.
    pub new: Option<String>,
    /// The value it replaces.
    pub old: Option<String>,
    /// The field's rule.
    pub rule: RuleKind,
    /// Why.
    pub reason: WriteReason,
}

/// A field the rule could not decide: becomes a review item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    /// Canonical field name.
    pub field: String,
    /// Last agreed value.
    pub base: Option<String>,
    /// Left's value.
    pub left: Option<String>,
    /// Right's value.
    pub right: Option<String>,
    /// The field's rule.
    pub rule: RuleKind,
    /// Why undecided.
    pub why: ConflictWhy,
}

/// An edit on the non-owning side that a system-of-record rule overwrote, flagged for review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftFlag {
    /// Canonical field name.
    pub field: String,
    /// The side whose edit was overwritten.
    pub side: Side,
    /// The overwritten value.
    pub overwritten: Option<String>,
}

/// A field whose sides differ and stay so, by rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptField {
    /// Canonical field name.
    pub field: String,
    /// Why.
    pub reason: KeepReason,
}

/// The plan for one linked pair of records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPlan {
    /// Left record id.
    pub left_id: String,
    /// Right record id.
    pub right_id: String,
    /// Fields to write, both sides, in field order.
    pub writes: Vec<FieldWrite>,
    /// Undecided fields.
    pub conflicts: Vec<FieldConflict>,
    /// Overwritten edits to flag.
    pub drift: Vec<DriftFlag>,
    /// Differences left alone by rule.
    pub kept: Vec<KeptField>,
    /// The base once the writes succeed: what both sides then hold, so our own write read back
    /// on the next pull equals it and costs nothing.
    pub new_base: CanonMap,
    /// Whether `new_base` differs from the old base.
    pub base_changed: bool,
}

impl LinkPlan {
    /// Nothing to write, review or store.
    pub fn is_noop(&self) -> bool {
        self.writes.is_empty() && self.conflicts.is_empty() && self.drift.is_empty() && !self.base_changed
    }

    /// True when the plan settled `field` (the sides agree, or the rule wrote one over the
    /// other): no conflict and no difference kept by rule.
    pub fn field_decided(&self, field: &str) -> bool {
        !self.conflicts.iter().any(|c| c.field == field) && !self.kept.iter().any(|k| k.field == field)
    }

    /// Writes for one side.
    pub fn writes_to(&self, side: Side) -> impl Iterator<Item = &FieldWrite> {
        self.writes.iter().filter(move |w| w.target == side)
    }

    /// The remote fields to send to `side` (joins/splits may touch several remote fields).
    pub fn remote_writes(&self, pair: &PairMapping, side: Side) -> FieldMap {
        let canon: CanonMap = self.writes_to(side).map(|w| (w.field.clone(), w.new.clone())).collect();
        pair.to_remote(side, &canon)
    }
}

/// Plans one linked pair. Fields absent from a partial view are taken as unchanged (= base).
pub fn plan_link(pair: &PairMapping, base: &CanonMap, left: &SideView<'_>, right: &SideView<'_>) -> LinkPlan {
    let ctx = MergeCtx {
        left_modified: left.modified_at,
        right_modified: right.modified_at,
        skew_tolerance: pair.skew_tolerance,
    };
    let mut plan = LinkPlan {
        left_id: left.id.to_owned(),
        right_id: right.id.to_owned(),
        writes: Vec::new(),
        conflicts: Vec::new(),
        drift: Vec::new(),
        kept: Vec::new(),
        new_base: base.clone(),
        base_changed: false,
    };
    for field in &pair.fields {
        let b = base.get(&field.name).and_then(|v| v.as_deref());
        let (l, r) = (effective(left.values, &field.name, b), effective(right.values, &field.name, b));
        let agreed = match merge_field(&field.rule, b, l, r, &ctx) {
            FieldOutcome::NotSynced => None,
            FieldOutcome::InSync { value } => Some(value),
            FieldOutcome::Write { target, value, reason, drift } => {
                let old = if target == Side::Left { l } else { r }.map(str::to_owned);
                if drift {
                    let field = field.name.clone();
                    plan.drift.push(DriftFlag { field, side: target, overwritten: old.clone() });
                }
                let (field_name, rule) = (field.name.clone(), field.rule.kind);
                plan.writes.push(FieldWrite {
                    target,
                    field: field_name,
                    new: value.clone(),
                    old,
                    rule,
                    reason,
                });
                Some(value)
            }
            FieldOutcome::Keep { reason } => {
                plan.kept.push(KeptField { field: field.name.clone(), reason });
                None
            }
            FieldOutcome::Conflict { why } => {
                plan.conflicts.push(FieldConflict {
                    field: field.name.clone(),
                    base: b.map(str::to_owned),
                    left: l.map(str::to_owned),
                    right: r.map(str::to_owned),
                    rule: field.rule.kind,
                    why,
                });
                None
            }
        };
        if let Some(value) = agreed
            && value.as_deref() != b
        {
            plan.new_base.insert(field.name.clone(), value);
            plan.base_changed = true;
        }
    }
    plan
}

/// A side's value, or the base when a partial view does not carry the field.
fn effective<'a>(values: &'a CanonMap, field: &str, base: Option<&'a str>) -> Option<&'a str> {
    match values.get(field) {
        Some(v) => v.as_deref(),
        None => base,
    }
}

/// A record to create on `target` for a record with no match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePlan {
    /// The side the record is created on.
    pub target: Side,
    /// The source record's id.
    pub source_id: String,
    /// Canonical values to set.
    pub canon: CanonMap,
    /// The same as remote fields of `target`, including the back-link field.
    pub fields: FieldMap,
    /// The back-link key to find-or-create on, when the target has a back-link field.
    pub external_id: Option<IdentityKey>,
    /// The link's base once the create succeeds.
    pub initial_base: CanonMap,
}

/// Plans the create on the other side of `from` for `source`, or `None` when the pair's creation
/// rule for that direction is not `create`. Blank values and fields the target cannot be
/// written (a non-invertible transform towards it) are left out.
pub fn plan_create(pair: &PairMapping, from: Side, source: &SideView<'_>) -> Option<CreatePlan> {
    if pair.creation(from) != CreationRule::Create {
        return None;
    }
    let target = from.other();
    let canon: CanonMap = pair
        .fields
        .iter()
        .filter(|f| f.rule.kind != RuleKind::None && f.transform.can_encode(target))
        .filter_map(|f| Some((f.name.clone(), Some(source.values.get(&f.name)?.clone()?))))
        .collect();
    let mut fields = pair.to_remote(target, &canon);
    let external_id = pair
        .identity
        .external_id(target)
        .map(|ext| IdentityKey { field: ext.field.clone(), value: format!("{}{}", ext.prefix, source.id) });
    if let Some(key) = &external_id {
        fields.insert(key.field.clone(), serde_json::Value::String(key.value.clone()));
    }
    let initial_base = canon.clone();
    Some(CreatePlan { target, source_id: source.id.to_owned(), canon, fields, external_id, initial_base })
}

/// A safety cap a plan exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapBreach {
    /// Too many creates.
    Creates(u64),
    /// Too many updated records.
    Overwrites(u64),
}

/// Counts of a [`Plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlanCounts {
    /// Creates on (left, right).
    pub creates: (usize, usize),
    /// Updated records on (left, right).
    pub updates: (usize, usize),
    /// Field writes on (left, right).
    pub field_writes: (usize, usize),
    /// Conflicts.
    pub conflicts: usize,
    /// Drift flags.
    pub drift: usize,
}

/// Everything one pair's run would do, per target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Pair name.
    pub pair: String,
    /// `system/object` of (left, right), for rendering.
    pub systems: (String, String),
    /// Creates on either side.
    pub creates: Vec<CreatePlan>,
    /// Linked pairs with something to do (no-ops are dropped by [`Plan::push_link`]).
    pub links: Vec<LinkPlan>,
}

impl Plan {
    /// An empty plan for `pair`.
    pub fn new(pair: &PairMapping) -> Self {
        let sys = |side| {
            let e = pair.endpoint(side);
            format!("{}/{}", e.system, e.object)
        };
        Self { pair: pair.name.clone(), systems: (sys(Side::Left), sys(Side::Right)), ..Self::default() }
    }

    /// Adds a link plan unless it is a no-op.
    pub fn push_link(&mut self, link: LinkPlan) {
        if !link.is_noop() {
            self.links.push(link);
        }
    }

    /// Creates targeting `side`.
    pub fn creates_on(&self, side: Side) -> impl Iterator<Item = &CreatePlan> {
        self.creates.iter().filter(move |c| c.target == side)
    }

    /// Link plans writing to `side`.
    pub fn updates_on(&self, side: Side) -> impl Iterator<Item = &LinkPlan> {
        self.links.iter().filter(move |l| l.writes_to(side).next().is_some())
    }

    /// Totals.
    pub fn counts(&self) -> PlanCounts {
        let per = |side| {
            (
                self.creates_on(side).count(),
                self.updates_on(side).count(),
                self.links.iter().map(|l| l.writes_to(side).count()).sum::<usize>(),
            )
        };
        let ((cl, ul, wl), (cr, ur, wr)) = (per(Side::Left), per(Side::Right));
        PlanCounts {
            creates: (cl, cr),
            updates: (ul, ur),
            field_writes: (wl, wr),
            conflicts: self.links.iter().map(|l| l.conflicts.len()).sum(),
            drift: self.links.iter().map(|l| l.drift.len()).sum(),
        }
    }

    /// The caps this plan exceeds, given the pair's number of linked records.
    pub fn cap_breaches(&self, caps: &Caps, population: u64) -> Vec<CapBreach> {
        let creates = self.creates.len() as u64;
        let overwrites = self.links.iter().filter(|l| !l.writes.is_empty()).count() as u64;
        let mut out = Vec::new();
        if caps.creates.exceeded(creates, population) {
            out.push(CapBreach::Creates(creates));
        }
        if caps.overwrites.exceeded(overwrites, population) {
            out.push(CapBreach::Overwrites(overwrites));
        }
        out
    }
}
