//! Three-way merge of one field in canonical form (sync-model §6): base, left and right values
//! plus the field's rule → what to write, or why nothing is written.

use chrono::{DateTime, Utc};

use crate::mapping::{FieldRule, OnConflict, RuleKind, Side};

/// Record-level facts a merge may need (passed in, never read from a clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeCtx {
    /// Left record's modified time, if its system reports one.
    pub left_modified: Option<DateTime<Utc>>,
    /// Right record's modified time, if its system reports one.
    pub right_modified: Option<DateTime<Utc>>,
    /// `newest` conflicts closer than this go to review instead.
    pub skew_tolerance: chrono::Duration,
}

/// Why a value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteReason {
    /// Only the source side changed.
    Changed,
    /// The source side is the system of record.
    SystemOfRecord,
    /// The source side is preferred and not blank.
    Preferred,
    /// The preferred side is blank, so the other side's value is taken.
    PreferredWasBlank,
    /// Both changed; the source side's record is newer.
    Newest,
    /// Both changed; one to blank, and blank never overwrites a value.
    BlankLoses,
}

impl WriteReason {
    /// Stable name for plans, logs and test tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Changed => "changed",
            Self::SystemOfRecord => "system_of_record",
            Self::Preferred => "preferred",
            Self::PreferredWasBlank => "preferred_was_blank",
            Self::Newest => "newest",
            Self::BlankLoses => "blank_loses",
        }
    }
}

/// Why nothing is written although the sides differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepReason {
    /// `create_only`: never updated after creation.
    CreateOnly,
    /// The change is to blank and the rule does not allow blank to overwrite.
    BlankNotPropagated,
}

impl KeepReason {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateOnly => "create_only",
            Self::BlankNotPropagated => "blank_not_propagated",
        }
    }
}

/// Why a rule could not decide a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictWhy {
    /// `two_way` with `on_conflict = "review"`.
    BothChanged,
    /// `two_way` with `newest`, but the modified times are within the skew tolerance.
    TooCloseToCall,
    /// `two_way` with `newest`, but one side's system cannot say when its record changed.
    NoModifiedTime,
}

impl ConflictWhy {
    /// Stable name, also the admin-facing explanation key.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BothChanged => "both_changed",
            Self::TooCloseToCall => "too_close_to_call",
            Self::NoModifiedTime => "no_modified_time",
        }
    }
}

/// The outcome for one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldOutcome {
    /// Rule `none`.
    NotSynced,
    /// Both sides agree; the base becomes `value`.
    InSync {
        /// The agreed value.
        value: Option<String>,
    },
    /// Write `value` to `target`; the base becomes `value`.
    Write {
        /// The side written.
        target: Side,
        /// The new value.
        value: Option<String>,
        /// Why.
        reason: WriteReason,
        /// The overwritten side had an edit of its own and the rule flags drift.
        drift: bool,
    },
    /// The sides differ and stay so; the base is unchanged.
    Keep {
        /// Why.
        reason: KeepReason,
    },
    /// Undecided: a review item; the base is unchanged.
    Conflict {
        /// Why.
        why: ConflictWhy,
    },
}

fn blank(v: Option<&str>) -> bool {
    v.is_none_or(|s| s.trim().is_empty())
}

/// Merges one field (sync-model §6). A field missing from a partial change must be passed as
/// its base value by the caller.
pub fn merge_field(
    rule: &FieldRule,
    base: Option<&str>,
    left: Option<&str>,
    right: Option<&str>,
    ctx: &MergeCtx,
) -> FieldOutcome {
    if rule.kind == RuleKind::None {
        return FieldOutcome::NotSynced;
    }
    if left == right {
        return FieldOutcome::InSync { value: left.map(str::to_owned) };
    }
    let changed = |side: Side| match side {
        Side::Left => left != base,
        Side::Right => right != base,
    };
    let value = |side: Side| match side {
        Side::Left => left,
        Side::Right => right,
    };
    let write = |from: Side, reason: WriteReason, drift: bool| FieldOutcome::Write {
        target: from.other(),
        value: value(from).map(str::to_owned),
        reason,
        drift,
    };
    // Blank never overwrites a value unless the rule says so.
    let blank_guard =
        |from: Side| blank(value(from)) && !blank(value(from.other())) && !rule.allow_blank_overwrite;
    match rule.kind {
        RuleKind::None => FieldOutcome::NotSynced,
        RuleKind::CreateOnly => FieldOutcome::Keep { reason: KeepReason::CreateOnly },
        RuleKind::SystemOfRecord(owner) => {
            if blank_guard(owner) {
                return FieldOutcome::Keep { reason: KeepReason::BlankNotPropagated };
            }
            let reason =
                if changed(owner.other()) { WriteReason::SystemOfRecord } else { WriteReason::Changed };
            write(owner, reason, rule.flag_drift && changed(owner.other()))
        }
        RuleKind::PreferUnlessBlank(preferred) => {
            if blank(value(preferred)) {
                write(preferred.other(), WriteReason::PreferredWasBlank, false)
            } else {
                write(preferred, WriteReason::Preferred, false)
            }
        }
        RuleKind::TwoWay(on_conflict) => {
            let from = match (changed(Side::Left), changed(Side::Right)) {
                (true, false) => Some((Side::Left, WriteReason::Changed)),
                (false, true) => Some((Side::Right, WriteReason::Changed)),
                _ => None,
            };
            if let Some((from, reason)) = from {
                if blank_guard(from) {
                    return FieldOutcome::Keep { reason: KeepReason::BlankNotPropagated };
                }
                return write(from, reason, false);
            }
            // Both changed to different values.
            if !rule.allow_blank_overwrite && blank(left) != blank(right) {
                let from = if blank(left) { Side::Right } else { Side::Left };
                return write(from, WriteReason::BlankLoses, false);
            }
            match on_conflict {
                OnConflict::Review => FieldOutcome::Conflict { why: ConflictWhy::BothChanged },
                OnConflict::Newest => {
                    let (Some(l), Some(r)) = (ctx.left_modified, ctx.right_modified) else {
                        return FieldOutcome::Conflict { why: ConflictWhy::NoModifiedTime };
                    };
                    let gap = l - r;
                    if gap.abs() <= ctx.skew_tolerance {
                        FieldOutcome::Conflict { why: ConflictWhy::TooCloseToCall }
                    } else if gap > chrono::Duration::zero() {
                        write(Side::Left, WriteReason::Newest, false)
                    } else {
                        write(Side::Right, WriteReason::Newest, false)
                    }
                }
            }
        }
    }
}
