//! Back-links: after a link is made by email (or a merge or relink moved it, or a create made
//! the other record), each system with a back-link field (`identity.left_external_id` /
//! `right_external_id`: WhiteLabelCRO `external_id`, HubSpot's unique property, Salesforce's
//! External ID) is told the other record's id, in the same run's batched writes. Later runs then
//! find the record by its back-link alone, even from an empty store.
//!
//! A back-link is written only where it is known to be empty: a readable one that is blank.
//! One that already names the partner costs nothing; one that names another record is left as
//! it is (that record's own probe decides, or a person). A back-link the system never returns
//! (WhiteLabelCRO's `external_id`) is unknown, not blank, and never written over — C12 of the
//! reliability harness found an email link overwriting the external id that named the right
//! contact — so it is set only on records crosswalk creates (the create carries it). The
//! readable back-link on the other side is enough for both directions to find the pair again:
//! the record holding it finds its partner by fetch, the partner finds it by search. The base
//! remembers for which pair of record ids the back-links were settled (`@backlinks`), so a link
//! is looked at again only when its records change (a merge, a relink).

use connector_api::FieldMap;
use serde_json::Value;

use crate::mapping::Side;
use crate::store::Link;

use super::context::PairContext;

/// The base key remembering the record ids the back-links were settled for.
pub(crate) const MARKER: &str = "@backlinks";
/// Added to the marker when crosswalk wrote a back-link itself.
const OURS: &str = ";written";

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

/// True when the back-links of `link`'s current records are settled (written or found in place).
pub(crate) fn settled(link: &Link) -> bool {
    let marker = marker(link);
    link.base.get(MARKER).cloned().flatten().is_some_and(|m| m == marker || m == format!("{marker}{OURS}"))
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
    let settled = link.base.get(MARKER).cloned().flatten();
    if settled.is_some_and(|m| m == marker || m == format!("{marker}{OURS}")) {
        return None;
    }
    let mut out = Needed { marker, ..Needed::default() };
    for (target, holds) in [(Side::Left, left), (Side::Right, right)] {
        let Some(ext) = ctx.pair.identity.external_id(target) else { continue };
        if ctx.unreadable(target).contains(&ext.field) {
            continue;
        }
        // Not read whole (a partial change): unknown this time; the marker waits for a whole read.
        let holds = holds?;
        let want = format!("{}{}", ext.prefix, link.record_id(target.other()));
        match holds.get(&ext.field).and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty()) {
            None => {
                let slot = if target == Side::Left { &mut out.left } else { &mut out.right };
                slot.insert(ext.field.clone(), Value::String(want));
            }
            Some(held) if held == want => {}
            Some(_) => tracing::warn!(
                pair = %ctx.pair.name,
                link = link.id,
                field = %ext.field,
                "a linked record's back-link names another record; it is left as it is"
            ),
        }
    }
    if !out.left.is_empty() || !out.right.is_empty() {
        out.marker.push_str(OURS);
    }
    Some(out)
}

/// True when the back-links of `link`'s records were written by crosswalk for this link (after
/// a link by email, say), so a back-link there is no independent evidence that the two belong
/// together: a stronger key found later may still move the link.
pub(crate) fn ours(link: &Link) -> bool {
    link.base.get(MARKER).cloned().flatten() == Some(format!("{}{OURS}", marker(link)))
}

/// For a record just created on `side.other()` from `source_id` on `side`: the back-link the
/// source needs, and the marker.
pub(crate) fn for_create(ctx: &PairContext, side: Side, source_id: &str, created_id: &str) -> Needed {
    let (left_id, right_id) =
        if side == Side::Left { (source_id, created_id) } else { (created_id, source_id) };
    let mut out = Needed { marker: format!("{left_id}|{right_id}"), ..Needed::default() };
    // The source matched nothing, so a readable back-link of its own is blank (it would have
    // been probed); an unreadable one is unknown and stays as it is.
    if let Some(ext) =
        ctx.pair.identity.external_id(side).filter(|e| !ctx.unreadable(side).contains(&e.field))
    {
        let slot = if side == Side::Left { &mut out.left } else { &mut out.right };
        slot.insert(ext.field.clone(), Value::String(format!("{}{created_id}", ext.prefix)));
        out.marker.push_str(OURS);
    }
    out
}
