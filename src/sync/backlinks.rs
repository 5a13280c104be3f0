//! Back-links: after a link is made by email (or a merge or relink moved it, or a create made
//! the other record), each system with a back-link field (`identity.left_external_id` /
//! `right_external_id`: WhiteLabelCRO `external_id`, HubSpot's unique property, Salesforce's
//! External ID) is told the other record's id, in the same run's batched writes. Later runs then
//! find the record by its back-link alone, even from an empty store.
//!
//! A readable back-link that already names the partner costs nothing; an unreadable one
//! (WhiteLabelCRO's `external_id`) is written once per link. The base remembers for which pair
//! of record ids the back-links were written (`@backlinks`), so a link is looked at again only
//! when its records change (a merge, a relink).

use std::collections::BTreeSet;

use connector_api::FieldMap;
use serde_json::Value;

use crate::mapping::Side;
use crate::store::Link;

use super::pull::PairContext;

/// The base key remembering the record ids the back-links were written for.
pub(crate) const MARKER: &str = "@backlinks";

/// The back-link writes one link needs, per target side, and the marker to store once they
/// succeed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Needed {
    pub marker: String,
    left: FieldMap,
    right: FieldMap,
}

impl Needed {
    /// The back-link fields to send to `target` (empty when it has none or holds it already).
    pub fn fields(&self, target: Side) -> &FieldMap {
        match target {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }
}

/// The marker for `link`'s current records.
fn marker(link: &Link) -> String {
    format!("{}|{}", link.left_id, link.right_id)
}

/// What `link` needs, given what each side's record holds now (`None` when that side's record
/// was not read whole). `None` when the back-links were written for these records already.
pub(crate) fn needed(
    ctx: &PairContext,
    link: &Link,
    left: Option<&FieldMap>,
    right: Option<&FieldMap>,
) -> Option<Needed> {
    let marker = marker(link);
    if link.base.get(MARKER).is_some_and(|m| m.as_deref() == Some(marker.as_str())) {
        return None;
    }
    let mut out = Needed { marker, ..Needed::default() };
    for (target, holds) in [(Side::Left, left), (Side::Right, right)] {
        let Some(ext) = ctx.pair.identity.external_id(target) else { continue };
        let want = format!("{}{}", ext.prefix, link.record_id(target.other()));
        let readable = !ctx.unreadable(target).contains(&ext.field);
        let held = holds.and_then(|f| f.get(&ext.field)).and_then(Value::as_str);
        if readable && held == Some(want.as_str()) {
            continue;
        }
        let slot = if target == Side::Left { &mut out.left } else { &mut out.right };
        slot.insert(ext.field.clone(), Value::String(want));
    }
    Some(out)
}

/// For a record just created on `side.other()` from `source_id` on `side`: the back-link the
/// source needs (its partner is new, so nothing can be there yet), and the marker.
pub(crate) fn for_create(ctx: &PairContext, side: Side, source_id: &str, created_id: &str) -> Needed {
    let (left_id, right_id) =
        if side == Side::Left { (source_id, created_id) } else { (created_id, source_id) };
    let mut out = Needed { marker: format!("{left_id}|{right_id}"), ..Needed::default() };
    if let Some(ext) = ctx.pair.identity.external_id(side) {
        let slot = if side == Side::Left { &mut out.left } else { &mut out.right };
        slot.insert(ext.field.clone(), Value::String(format!("{}{created_id}", ext.prefix)));
    }
    out
}

/// The unreadable remote fields of each side, from the connectors' capabilities.
pub(crate) fn unreadable_of(ctx_caps: [Option<&connector_api::ObjectCaps>; 2]) -> [BTreeSet<String>; 2] {
    ctx_caps.map(|o| o.map(|o| o.unreadable_fields.iter().cloned().collect()).unwrap_or_default())
}
