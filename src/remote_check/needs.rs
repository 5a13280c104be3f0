//! What the pairs need from each system's objects: per remote field, which pair uses it, whether
//! a rule writes it (on update, on create) and through which transform, and which fields are
//! identity keys (back-links must be unique / external ids).

use std::collections::BTreeMap;

use connector_api::AccessNeed;

use crate::mapping::{CreationRule, PairMapping, RuleKind, Side, Transform};

/// Why a field is needed.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// A mapped field: `canonical` in the pair, written through `transform` towards this side.
    Mapped {
        /// The canonical field name.
        canonical: String,
        /// Its transform (oriented left → right).
        transform: Transform,
        /// The other side's system, object and remote fields (where the values come from).
        source: (String, String, Vec<String>),
    },
    /// The back-link holding the other side's record id: must be unique.
    BackLink,
    /// The email identity key.
    Email,
}

/// One use of one remote field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldNeed {
    /// The remote field name.
    pub field: String,
    /// The pair that uses it.
    pub pair: String,
    /// Which side of the pair this system is.
    pub side: Side,
    /// Why it is needed.
    pub role: Role,
    /// Whether an update of a linked record may write it.
    pub update: bool,
    /// Whether a record created on this side gets it.
    pub create: bool,
}

/// What the pairs need from one object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObjectNeeds {
    /// The object.
    pub object: String,
    /// Every use of every field.
    pub fields: Vec<FieldNeed>,
}

impl ObjectNeeds {
    /// The access this object needs: write when any use writes.
    pub fn access(&self) -> AccessNeed {
        AccessNeed { object: self.object.clone(), write: self.fields.iter().any(|f| f.update || f.create) }
    }
}

/// The needs of every pair, by system and object.
pub fn needs_by_system(pairs: &[PairMapping]) -> BTreeMap<String, BTreeMap<String, ObjectNeeds>> {
    let mut out: BTreeMap<String, BTreeMap<String, ObjectNeeds>> = BTreeMap::new();
    for pair in pairs {
        for side in [Side::Left, Side::Right] {
            let ep = pair.endpoint(side);
            let needs = out.entry(ep.system.clone()).or_default().entry(ep.object.clone()).or_default();
            needs.object = ep.object.clone();
            needs.fields.extend(pair_needs(pair, side));
        }
    }
    out
}

/// The fields `pair` needs on `side`. Fields with rule `none` are not synced and need nothing.
fn pair_needs(pair: &PairMapping, side: Side) -> Vec<FieldNeed> {
    let creates_here = pair.creation(side.other()) == CreationRule::Create;
    let other = pair.endpoint(side.other());
    let mut out = Vec::new();
    for f in pair.fields.iter().filter(|f| f.rule.kind != RuleKind::None) {
        let encodes = f.transform.can_encode(side);
        for name in f.remote(side) {
            out.push(FieldNeed {
                field: name.clone(),
                pair: pair.name.clone(),
                side,
                role: Role::Mapped {
                    canonical: f.name.clone(),
                    transform: f.transform.clone(),
                    source: (other.system.clone(), other.object.clone(), f.remote(side.other()).to_vec()),
                },
                update: encodes && f.rule.kind.may_update(side),
                create: encodes && creates_here,
            });
        }
    }
    let need = |field: &str, role: Role, create: bool| FieldNeed {
        field: field.to_string(),
        pair: pair.name.clone(),
        side,
        role,
        update: false,
        create,
    };
    // Back-links are written after every link, merge, relink and create.
    if let Some(ext) = pair.identity.external_id(side) {
        out.push(FieldNeed { update: true, ..need(&ext.field, Role::BackLink, creates_here) });
    }
    if let Some((left, right)) = &pair.identity.email {
        out.push(need(if side == Side::Left { left } else { right }, Role::Email, false));
    }
    out
}
