//! The review items the stages open, and the open items they consult: refusals (with the
//! fingerprints that hold the same write back), ambiguous and taken identities, dangling
//! back-links. Building an item decides nothing; the stages decide when one is opened.

use std::collections::{BTreeMap, BTreeSet};

use connector_api::ConnectorError;
use serde_json::json;

use crate::mapping::{CanonMap, Side};
use crate::store::{Link, NewReviewItem, ReviewFilter, ReviewItem, ReviewKind, ReviewState};

use super::context::PairContext;
use super::error::SyncError;

/// The key under which a write-rejected review item keeps the fingerprints of the writes that
/// were refused (the write and the content of the record it was sent to).
pub(crate) const REFUSED: &str = "refused";
/// The key under which a write-rejected item keeps the remote's error code and field name.
pub(crate) const REMOTE: &str = "remote";

/// The pair's open write-rejected and field-conflict items, by link: what a page's settlement
/// may find stale (superseded) and the refusal fingerprints that hold a write back.
pub(crate) async fn open_by_link(ctx: &PairContext) -> Result<BTreeMap<i64, Vec<ReviewItem>>, SyncError> {
    let mut out: BTreeMap<i64, Vec<ReviewItem>> = BTreeMap::new();
    for kind in [ReviewKind::WriteRejected, ReviewKind::FieldConflict] {
        let filter = ReviewFilter {
            pair: Some(ctx.pair.name.clone()),
            kind: Some(kind),
            state: Some(ReviewState::Open),
            ..ReviewFilter::default()
        };
        for item in ctx.store.list_review(&filter).await? {
            if let Some(link) = item.link_id {
                out.entry(link).or_default().push(item);
            }
        }
    }
    Ok(out)
}

/// The refusal fingerprints of the open write-rejected items in `open`, by link.
pub(crate) fn refusals(open: &BTreeMap<i64, Vec<ReviewItem>>) -> BTreeMap<i64, BTreeSet<String>> {
    open.iter()
        .map(|(link, items)| {
            let fingerprints = items
                .iter()
                .filter(|i| i.kind == ReviewKind::WriteRejected)
                .flat_map(|i| refused_in(i).collect::<Vec<_>>())
                .collect();
            (*link, fingerprints)
        })
        .collect()
}

/// The refusal fingerprints an item keeps.
pub(crate) fn refused_in(item: &ReviewItem) -> impl Iterator<Item = String> + '_ {
    item.candidates
        .get(REFUSED)
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
}

/// A review item for a write the remote refused for good, keeping what the remote named: its
/// error code and the field (mapped back to the pair's canonical name when it is a mapped
/// field). Never a value: the message is the connector's, which carries names and codes only.
pub(crate) fn refused_item(
    ctx: &PairContext,
    source: Side,
    source_id: &str,
    target_id: &str,
    e: &ConnectorError,
) -> NewReviewItem {
    let (code, remote_field) = match e {
        ConnectorError::Invalid { code, field, .. } => (code.clone(), field.clone()),
        _ => (None, None),
    };
    let target = source.other();
    let canonical = remote_field
        .as_ref()
        .and_then(|f| ctx.pair.fields.iter().find(|m| m.remote(target).contains(f)).map(|m| m.name.clone()));
    let mut detail = Vec::new();
    if let Some(code) = &code {
        detail.push(format!("code {code}"));
    }
    if let Some(f) = &remote_field {
        detail.push(format!("field `{f}`"));
    }
    tracing::warn!(
        pair = %ctx.pair.name,
        system = %ctx.pair.endpoint(target).system,
        code = code.as_deref().unwrap_or("-"),
        field = remote_field.as_deref().unwrap_or("-"),
        "the remote refused a write for good; it waits in the review queue"
    );
    let error = if detail.is_empty() { e.to_string() } else { format!("{} ({})", e, detail.join(", ")) };
    let mut item = rejected_item(ctx, source, source_id, target_id, &error);
    note_remote(ctx, target, &mut item, e);
    // One open item per link and field: a refusal naming a field is that field's item.
    item.field = canonical.or(remote_field.clone());
    item.candidates = json!({ REMOTE: { "code": code, "field": remote_field } });
    item
}

/// Adds refusal fingerprints to an item's `candidates` (keeping what else it holds).
pub(crate) fn with_refusals(item: &mut NewReviewItem, refusals: Vec<String>) {
    if !item.candidates.is_object() {
        item.candidates = json!({});
    }
    item.candidates[REFUSED] = json!(refusals);
}

/// Keeps on a write-rejected `item` what the `target` system said: its error code, message and
/// the field it named (never a value). The item's `field` stays as it was: it is part of the key
/// that keeps one item open per link.
pub(crate) fn note_remote(ctx: &PairContext, target: Side, item: &mut NewReviewItem, e: &ConnectorError) {
    item.remote_system = Some(ctx.pair.endpoint(target).system.clone());
    match e {
        ConnectorError::Invalid { message, code, field } => {
            item.remote_message = Some(message.clone());
            item.remote_code = code.clone();
            item.remote_field = field.clone();
        }
        other => item.remote_message = Some(other.to_string()),
    }
}

/// A review item for a write the remote rejected for good.
pub(crate) fn rejected_item(
    ctx: &PairContext,
    source: Side,
    source_id: &str,
    target_id: &str,
    error: &str,
) -> NewReviewItem {
    let target = source.other();
    let (left_id, right_id) = match source {
        Side::Left => (source_id, target_id),
        Side::Right => (target_id, source_id),
    };
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    NewReviewItem {
        pair: ctx.pair.name.clone(),
        kind: ReviewKind::WriteRejected,
        left_id: non_empty(left_id),
        right_id: non_empty(right_id),
        reason: format!("{} rejected the write: {error}", ctx.pair.endpoint(target).system),
        detected_at: ctx.clock.now(),
        run_id: ctx.run_id.clone(),
        ..NewReviewItem::default()
    }
}
/// The review item for a record whose match over there is linked to another record here.
pub(crate) fn taken_item(ctx: &PairContext, side: Side, id: &str, ids: Vec<String>) -> NewReviewItem {
    let (left_id, right_id) =
        if side == Side::Left { (Some(id.to_string()), None) } else { (None, Some(id.to_string())) };
    let other = ctx.pair.endpoint(side.other());
    NewReviewItem {
        pair: ctx.pair.name.clone(),
        kind: ReviewKind::AmbiguousIdentity,
        left_id,
        right_id,
        reason: format!(
            "{} {id} matches {} record(s) on {} that are already linked to another record: {} holds this \
             person twice; merge the duplicates there, or ignore this item; nothing was created",
            ctx.pair.endpoint(side).system,
            ids.len(),
            other.system,
            ctx.pair.endpoint(side).system,
        ),
        candidates: json!({ "side": side.other().as_str(), "ids": ids, "taken": true }),
        detected_at: ctx.clock.now(),
        run_id: ctx.run_id.clone(),
        ..NewReviewItem::default()
    }
}

/// Every record id named by an open ambiguous-identity item of the pair: the record itself and
/// its candidates.
pub(crate) async fn disputed_ids(ctx: &PairContext) -> Result<BTreeSet<String>, SyncError> {
    let filter = ReviewFilter {
        pair: Some(ctx.pair.name.clone()),
        kind: Some(ReviewKind::AmbiguousIdentity),
        state: Some(ReviewState::Open),
        ..ReviewFilter::default()
    };
    let mut out = BTreeSet::new();
    for item in ctx.store.list_review(&filter).await? {
        out.extend(item.left_id.into_iter().chain(item.right_id));
        if let Some(ids) = item.candidates.get("ids").and_then(|v| v.as_array()) {
            out.extend(ids.iter().filter_map(|v| v.as_str().map(str::to_string)));
        }
    }
    Ok(out)
}

/// The pair's open review items of one kind.
pub(crate) async fn open_of_kind(ctx: &PairContext, kind: ReviewKind) -> Result<Vec<ReviewItem>, SyncError> {
    let filter = ReviewFilter {
        pair: Some(ctx.pair.name.clone()),
        kind: Some(kind),
        state: Some(ReviewState::Open),
        ..ReviewFilter::default()
    };
    Ok(ctx.store.list_review(&filter).await?)
}

/// The record a review item names on `side`.
pub(crate) fn names(item: &ReviewItem, side: Side) -> Option<&str> {
    match side {
        Side::Left => item.left_id.as_deref(),
        Side::Right => item.right_id.as_deref(),
    }
}

/// A review item for a record whose back-link points at a record that is gone.
pub(crate) fn dangling(ctx: &PairContext, side: Side, id: &str, target: &str) -> NewReviewItem {
    let (left_id, right_id) = match side {
        Side::Left => (Some(id.to_string()), None),
        Side::Right => (None, Some(id.to_string())),
    };
    let other = ctx.pair.endpoint(side.other());
    NewReviewItem {
        pair: ctx.pair.name.clone(),
        kind: ReviewKind::Deleted,
        left_id,
        right_id,
        reason: format!(
            "{} {id} is linked by its back-link to {} record {target}, which no longer exists; it was not re-created",
            ctx.pair.endpoint(side).system,
            other.system
        ),
        detected_at: ctx.clock.now(),
        run_id: ctx.run_id.clone(),
        ..NewReviewItem::default()
    }
}

/// The fields that name the person of a record (for the review queue), from its canonical form.
pub(crate) fn person_of(canon: &CanonMap) -> serde_json::Value {
    let named = crate::store::Person::FIELDS.iter().filter_map(|&k| Some((k, canon.get(k)?.clone()?)));
    serde_json::Value::Object(named.map(|(k, v)| (k.to_string(), serde_json::Value::String(v))).collect())
}

/// The review item for a record that matches several records over there.
pub(crate) fn ambiguous_item(
    ctx: &PairContext,
    side: Side,
    id: &str,
    ids: &[String],
    canon: &CanonMap,
) -> NewReviewItem {
    let (left_id, right_id) =
        if side == Side::Left { (Some(id.to_string()), None) } else { (None, Some(id.to_string())) };
    let pair = &ctx.pair;
    NewReviewItem {
        pair: pair.name.clone(),
        kind: ReviewKind::AmbiguousIdentity,
        left_id,
        right_id,
        reason: format!(
            "{} {id} matches {} records on {}; link it to one of them or ignore",
            pair.endpoint(side).system,
            ids.len(),
            pair.endpoint(side.other()).system
        ),
        candidates: json!({ "side": side.other().as_str(), "ids": ids, "person": person_of(canon) }),
        detected_at: ctx.clock.now(),
        run_id: ctx.run_id.clone(),
        ..NewReviewItem::default()
    }
}

/// The review item for a delete (or a merge into an already linked survivor) of a linked record
/// whose pair does not ignore deletes: the link was removed, the other side left as it is.
pub(crate) fn deleted_item(
    ctx: &PairContext,
    side: Side,
    link: &Link,
    change_id: &str,
    merged: bool,
) -> NewReviewItem {
    NewReviewItem {
        pair: ctx.pair.name.clone(),
        link_id: Some(link.id),
        kind: ReviewKind::Deleted,
        left_id: Some(link.left_id.clone()),
        right_id: Some(link.right_id.clone()),
        reason: format!(
            "record {change_id} was {} on the {side} side ({}); the link was removed and the other side left as it is",
            if merged { "merged into an already linked record" } else { "deleted" },
            ctx.pair.endpoint(side).system
        ),
        detected_at: ctx.clock.now(),
        run_id: ctx.run_id.clone(),
        ..NewReviewItem::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(candidates: serde_json::Value) -> ReviewItem {
        let at = chrono::DateTime::UNIX_EPOCH;
        ReviewItem {
            id: 1,
            pair: "p".into(),
            link_id: Some(7),
            kind: ReviewKind::WriteRejected,
            field: None,
            base_value: None,
            left_value: None,
            right_value: None,
            left_modified_at: None,
            right_modified_at: None,
            left_id: None,
            right_id: None,
            rule: None,
            reason: String::new(),
            candidates,
            detected_at: at,
            run_id: "r".into(),
            state: ReviewState::Open,
            resolution: None,
            applied_run_id: None,
            updated_at: at,
            remote_system: None,
            remote_code: None,
            remote_message: None,
            remote_field: None,
            person: None,
        }
    }

    #[test]
    fn refusal_fingerprints_are_read_back_from_an_item() {
        let mut new =
            NewReviewItem { candidates: json!({ REMOTE: { "code": "E1" } }), ..NewReviewItem::default() };
        with_refusals(&mut new, vec!["k1".into(), "k2".into()]);
        assert_eq!(new.candidates[REMOTE]["code"], "E1", "what the item held is kept");
        let stored = item(new.candidates.clone());
        assert_eq!(refused_in(&stored).collect::<Vec<_>>(), ["k1", "k2"]);
        let by_link = BTreeMap::from([(7, vec![stored, item(json!({}))])]);
        assert_eq!(refusals(&by_link)[&7], BTreeSet::from(["k1".to_string(), "k2".to_string()]));
    }

    #[test]
    fn the_person_of_a_record_names_only_person_fields() {
        let canon: CanonMap = [
            ("email".to_string(), Some("a@x.io".to_string())),
            ("status".to_string(), Some("Lead".to_string())),
            ("first_name".to_string(), None),
        ]
        .into();
        let person = person_of(&canon);
        assert_eq!(person.get("email").and_then(|v| v.as_str()), Some("a@x.io"));
        assert!(person.get("status").is_none(), "not a person field");
        assert!(person.get("first_name").is_none(), "a blank value names nothing");
    }
}
