//! Pair mappings: the validated content of one `mappings/*.toml` file (identity rules, creation
//! and delete policy, safety caps, per-field rules and transforms) and the conversion of remote
//! records to and from canonical form. Loading and validation live in [`load`], transforms in
//! [`transform`].

pub mod fit;
mod load;
mod schema;
pub mod transform;

use std::collections::BTreeMap;

use connector_model::FieldMap;
use serde_json::Value;

pub use fit::{FitProblem, ObjectProfile};
pub use load::{MappingError, load_dir, load_dir_partial, load_file, load_str};
pub use transform::{Transform, TransformError};

/// Canonical record: canonical field name → value (`None` = blank). Same shape as the store's
/// alias of the same name.
pub type CanonMap = BTreeMap<String, Option<String>>;

pub use crate::side::Side;

/// A system and object type (`wlcro` / `clients`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Configured system name.
    pub system: String,
    /// Object type within the system.
    pub object: String,
}

/// Who owns a field (sync-model §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// The side is the system of record; its value always wins.
    SystemOfRecord(Side),
    /// The side wins unless its value is blank.
    PreferUnlessBlank(Side),
    /// Edits flow both ways.
    TwoWay(OnConflict),
    /// Set when the record is created on the other side, never updated afterwards.
    CreateOnly,
    /// Not synced.
    None,
}

impl RuleKind {
    /// The rule's name as written in mapping files.
    pub fn name(self) -> &'static str {
        match self {
            Self::SystemOfRecord(Side::Left) => "left",
            Self::SystemOfRecord(Side::Right) => "right",
            Self::PreferUnlessBlank(Side::Left) => "prefer_left_unless_blank",
            Self::PreferUnlessBlank(Side::Right) => "prefer_right_unless_blank",
            Self::TwoWay(OnConflict::Review) => "two_way",
            Self::TwoWay(OnConflict::Newest) => "two_way(newest)",
            Self::CreateOnly => "create_only",
            Self::None => "none",
        }
    }

    /// Whether an update (not a create) under this rule may write to `side`.
    pub fn may_update(self, side: Side) -> bool {
        match self {
            Self::SystemOfRecord(owner) => owner != side,
            Self::PreferUnlessBlank(_) | Self::TwoWay(_) => true,
            Self::CreateOnly | Self::None => false,
        }
    }
}

/// What a `two_way` field does when both sides changed to different values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Open a review item.
    Review,
    /// The side with the newer record-level modified time wins.
    Newest,
}

/// A field's rule and its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRule {
    /// Who owns the field.
    pub kind: RuleKind,
    /// Let a blank value overwrite a non-blank one.
    pub allow_blank_overwrite: bool,
    /// Flag overwritten edits on the non-owning side for review (`left` / `right` rules).
    pub flag_drift: bool,
}

impl FieldRule {
    /// A rule with default options.
    pub fn new(kind: RuleKind) -> Self {
        Self { kind, allow_blank_overwrite: false, flag_drift: false }
    }
}

/// One mapped field: canonical name, remote field names per side, transform, rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMapping {
    /// Canonical name (the key in `[fields.<name>]`).
    pub name: String,
    /// Remote field names on the left (several for the joined side of a join/split).
    pub left: Vec<String>,
    /// Remote field names on the right.
    pub right: Vec<String>,
    /// Value conversion.
    pub transform: Transform,
    /// Ownership rule.
    pub rule: FieldRule,
}

impl FieldMapping {
    /// Remote field names on `side`.
    pub fn remote(&self, side: Side) -> &[String] {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }

    /// True when `side` cannot read this field: every remote field it maps to is among the
    /// system's `unreadable` ones.
    pub fn unreadable_on(&self, side: Side, unreadable: &std::collections::BTreeSet<String>) -> bool {
        let remote = self.remote(side);
        !remote.is_empty() && remote.iter().all(|r| unreadable.contains(r))
    }
}

/// Where a side keeps the other side's record id (the back-link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdField {
    /// Remote field name.
    pub field: String,
    /// Put before the other side's id (`hubspot_`).
    pub prefix: String,
}

/// Identity resolution rules (sync-model §5).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdentityRules {
    /// Back-link field on the left (holds right ids).
    pub left_external_id: Option<ExternalIdField>,
    /// Back-link field on the right (holds left ids).
    pub right_external_id: Option<ExternalIdField>,
    /// Email field names (left, right).
    pub email: Option<(String, String)>,
    /// Company keys in order (VAT, registration number): (left, right) field names.
    pub company_keys: Vec<(String, String)>,
    /// Name + country field names (left, right), a low-confidence key.
    pub name_country: Option<((String, String), (String, String))>,
}

impl IdentityRules {
    /// The back-link field on `side`.
    pub fn external_id(&self, side: Side) -> Option<&ExternalIdField> {
        match side {
            Side::Left => self.left_external_id.as_ref(),
            Side::Right => self.right_external_id.as_ref(),
        }
    }
}

/// What happens to a record with no match on the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreationRule {
    /// Create it on the other side.
    Create,
    /// Link to an existing record only; never create.
    LinkOnly,
    /// Do nothing.
    Ignore,
}

/// What a delete on one side does to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeletePolicy {
    /// Unlink and open a review item.
    #[default]
    UnlinkAndReview,
    /// Delete the other side too.
    Propagate,
    /// Unlink silently.
    Ignore,
}

/// One cap: an absolute count and a percentage of the linked records, whichever is lower.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cap {
    /// Absolute maximum per run.
    pub max: Option<u64>,
    /// Maximum as a percentage of the pair's linked records.
    pub max_pct: Option<f64>,
}

impl Cap {
    /// Whether `count` changes out of `population` records exceed the cap.
    pub fn exceeded(&self, count: u64, population: u64) -> bool {
        let abs = self.max.is_some_and(|max| count > max);
        // A percentage of a small population means nothing (10 % of a fresh store's 0 links
        // would hold back every first-run create): below `PCT_MIN_POPULATION` links only the
        // absolute cap applies.
        let pct = population >= PCT_MIN_POPULATION
            && self.max_pct.is_some_and(|pct| count as f64 > population as f64 * pct / 100.0);
        abs || pct
    }
}

/// Percentage caps apply only from this many linked records on.
pub const PCT_MIN_POPULATION: u64 = 100;

/// Per-run safety caps.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Caps {
    /// Creates per run.
    pub creates: Cap,
    /// Field overwrites (updated records) per run.
    pub overwrites: Cap,
    /// Deletes per run.
    pub deletes: Cap,
}

/// A validated pair mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct PairMapping {
    /// Pair name.
    pub name: String,
    /// Left system/object.
    pub left: Endpoint,
    /// Right system/object.
    pub right: Endpoint,
    /// Identity rules.
    pub identity: IdentityRules,
    /// Creation rule for records found on the left with no right match.
    pub create_left_to_right: CreationRule,
    /// Creation rule for records found on the right with no left match.
    pub create_right_to_left: CreationRule,
    /// Delete policy.
    pub deletes: DeletePolicy,
    /// Safety caps.
    pub caps: Caps,
    /// `newest` conflicts whose modified times are closer than this go to review.
    pub skew_tolerance: chrono::Duration,
    /// Mapped fields, in file order of canonical name.
    pub fields: Vec<FieldMapping>,
}

impl PairMapping {
    /// The endpoint on `side`.
    pub fn endpoint(&self, side: Side) -> &Endpoint {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }

    /// The creation rule for records first seen on `from`.
    pub fn creation(&self, from: Side) -> CreationRule {
        match from {
            Side::Left => self.create_left_to_right,
            Side::Right => self.create_right_to_left,
        }
    }

    /// A field by canonical name.
    pub fn field(&self, name: &str) -> Option<&FieldMapping> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Canonical form of the fields of `side` present in `remote`. A field whose remote fields
    /// are all absent is left out, so a partial record gives a partial canonical map.
    pub fn canonical(&self, side: Side, remote: &FieldMap) -> CanonMap {
        let mut out = CanonMap::new();
        for field in &self.fields {
            if field.rule.kind == RuleKind::None {
                continue;
            }
            let names = field.remote(side);
            let values: Vec<Option<&Value>> = names.iter().map(|n| remote.get(n)).collect();
            if values.iter().all(Option::is_none) {
                continue;
            }
            out.insert(field.name.clone(), field.transform.decode(side, &values));
        }
        out
    }

    /// Remote fields of `side` for the canonical values in `canon` (only the fields to write).
    /// Unknown canonical names and fields that cannot be encoded for `side` are skipped; the
    /// loader guarantees every rule that writes to a side can encode for it.
    pub fn to_remote(&self, side: Side, canon: &CanonMap) -> FieldMap {
        let mut out = FieldMap::new();
        for (name, value) in canon {
            let Some(field) = self.field(name) else { continue };
            let names = field.remote(side);
            if let Ok(values) = field.transform.encode(side, value.as_deref(), names.len()) {
                out.extend(names.iter().cloned().zip(values));
            }
        }
        out
    }
}
