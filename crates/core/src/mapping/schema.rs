//! The raw shape of a mapping file as serde reads it, section by section; [`super::load`]
//! validates it into a [`super::PairMapping`]. Every struct rejects unknown keys.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `left = { system = "wlcro", object = "clients" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEndpoint {
    pub system: String,
    pub object: String,
}

/// `{ field = "external_id", prefix = "hubspot_" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExternalId {
    pub field: String,
    #[serde(default)]
    pub prefix: String,
}

/// `{ left = "email", right = "email" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFieldPair {
    pub left: String,
    pub right: String,
}

/// `[identity]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIdentity {
    pub left_external_id: Option<RawExternalId>,
    pub right_external_id: Option<RawExternalId>,
    pub email: Option<RawFieldPair>,
    #[serde(default)]
    pub company_keys: Vec<RawFieldPair>,
    pub name: Option<RawFieldPair>,
    pub country: Option<RawFieldPair>,
}

/// `create`, `link_only`, `ignore`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawCreation {
    Create,
    LinkOnly,
    Ignore,
}

/// `[creation]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCreationRules {
    pub left_to_right: RawCreation,
    pub right_to_left: RawCreation,
}

/// `unlink_and_review`, `propagate`, `ignore`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawDeletes {
    UnlinkAndReview,
    Propagate,
    Ignore,
}

/// `[caps]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCaps {
    pub max_creates: Option<u64>,
    pub max_creates_pct: Option<f64>,
    pub max_overwrites: Option<u64>,
    pub max_overwrites_pct: Option<f64>,
    pub max_deletes: Option<u64>,
    pub max_deletes_pct: Option<f64>,
}

/// A remote field name, or several for the joined side of a join/split.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// The rule names of sync-model §6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawRule {
    Left,
    Right,
    PreferLeftUnlessBlank,
    PreferRightUnlessBlank,
    TwoWay,
    CreateOnly,
    None,
}

/// `review` or `newest`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawOnConflict {
    Review,
    Newest,
}

/// Transform kinds; parameters are checked per kind by the loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawTransformKind {
    Rename,
    Email,
    Phone,
    ValueMap,
    Join,
    Split,
    CentsToDecimal,
    DecimalToCents,
    Date,
}

/// `transform = { kind = "...", ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTransform {
    pub kind: RawTransformKind,
    pub region: Option<String>,
    pub map: Option<BTreeMap<String, String>>,
    pub default: Option<String>,
    pub separator: Option<String>,
    pub left: Option<String>,
    pub right: Option<String>,
}

/// `[fields.<canonical name>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawField {
    pub rule: RawRule,
    pub left: OneOrMany,
    pub right: OneOrMany,
    pub transform: Option<RawTransform>,
    pub on_conflict: Option<RawOnConflict>,
    #[serde(default)]
    pub allow_blank_overwrite: bool,
    #[serde(default)]
    pub flag_drift: bool,
}
