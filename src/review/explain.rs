//! Why an item waits for a person, in plain words with the rule behind it, and what to do about
//! it: "Both WhiteLabelCRO and HubSpot changed the first name since they last agreed; the
//! mapping syncs it both ways and leaves such a conflict to a person." Shared by the web pages,
//! `review show` and the JSON API (`explanation`).

use serde::Serialize;

use super::candidate_ids;
use super::names::SideName;
use crate::store::{ReviewItem, ReviewKind, Side};

/// An item explained for the person deciding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// What happened and why the engine did not decide.
    pub summary: String,
    /// The mapping rule behind it, in words (`None` when no rule applies).
    pub rule: Option<String>,
    /// What the person can do.
    pub todo: String,
}

/// A canonical field name as words: `first_name` → `first name`.
pub fn field_words(field: &str) -> String {
    field.replace('_', " ")
}

/// What a mapping rule means, in words, with the two systems named.
pub fn rule_words(rule: &str, left: &str, right: &str) -> String {
    match rule {
        "two_way" => "the mapping syncs it both ways and says a person decides when both change".into(),
        "two_way(newest)" => "the mapping syncs it both ways and lets the newer change win".into(),
        "left" => format!("the mapping makes {left} its system of record"),
        "right" => format!("the mapping makes {right} its system of record"),
        "prefer_left_unless_blank" => format!("the mapping prefers {left}'s value unless it is blank"),
        "prefer_right_unless_blank" => format!("the mapping prefers {right}'s value unless it is blank"),
        "create_only" => "the mapping writes it only when a record is created".into(),
        other => format!("the mapping's rule is `{other}`"),
    }
}

/// Explains `item`, whose pair has `left` and `right`.
pub fn explain(item: &ReviewItem, left: &SideName, right: &SideName) -> Explanation {
    let (l, r) = (left.system.label.as_str(), right.system.label.as_str());
    let field = item.field.as_deref().map(field_words).unwrap_or_else(|| "record".into());
    let rule = item.rule.as_deref().map(|rule| rule_words(rule, l, r));
    let (summary, todo) = match item.kind {
        ReviewKind::FieldConflict => conflict(item, &field, l, r),
        ReviewKind::AmbiguousIdentity => ambiguous(item, l, r),
        ReviewKind::WriteRejected => rejected(item, left, right),
        ReviewKind::HeldBack => held_back(item, left, right),
        ReviewKind::Deleted => (
            sides_named(&item.reason, l, r),
            format!(
                "Check whether the record should be gone in both systems; acknowledge to accept the delete, \
                 or ignore to leave {l} and {r} as they are."
            ),
        ),
    };
    Explanation { summary, rule, todo }
}

fn conflict(item: &ReviewItem, field: &str, l: &str, r: &str) -> (String, String) {
    let summary = match item.reason.as_str() {
        "both_changed" => format!("Both {l} and {r} changed the {field} since they last agreed."),
        "too_close_to_call" => format!(
            "Both {l} and {r} changed the {field}, so close together in time that the newer one cannot be told."
        ),
        "no_modified_time" => format!(
            "Both {l} and {r} changed the {field}; one of them does not say when its records change, so the newer change cannot be told."
        ),
        other => sides_named(other, l, r),
    };
    let todo = format!(
        "Keep {l}'s value, keep {r}'s value, keep the last agreed value or type the right one; the next sync \
         writes it to whichever system does not have it yet."
    );
    (summary, todo)
}

fn ambiguous(item: &ReviewItem, l: &str, r: &str) -> (String, String) {
    let (this, other) = if item.left_id.is_some() { (l, r) } else { (r, l) };
    let id = item.left_id.as_deref().or(item.right_id.as_deref()).unwrap_or("?");
    let n = candidate_ids(item).len();
    (
        format!(
            "The {this} record {id} matches {n} {other} records by the same identity (such as the email), so it was not linked to any."
        ),
        format!(
            "Open the candidates in {other}, choose the one that is this person and link it; or ignore to leave it unlinked."
        ),
    )
}

/// The system (label) a write-rejected or held-back item is about, and the other one.
fn remote_and_other<'a>(item: &ReviewItem, left: &'a SideName, right: &'a SideName) -> (&'a str, &'a str) {
    match item.remote_system.as_deref() {
        Some(s) if s == right.system.name => (&right.system.label, &left.system.label),
        Some(s) if s == left.system.name => (&left.system.label, &right.system.label),
        _ => (&right.system.label, &left.system.label),
    }
}

fn rejected(item: &ReviewItem, left: &SideName, right: &SideName) -> (String, String) {
    let (target, source) = remote_and_other(item, left, right);
    let on = match (&item.remote_field, &item.field) {
        (Some(remote), _) => format!(" on its field `{remote}`"),
        (None, Some(f)) => format!(" on the {}", field_words(f)),
        _ => String::new(),
    };
    let said = match (&item.remote_code, &item.remote_message) {
        (Some(code), Some(m)) => format!(" It said: {code}: {m}"),
        (None, Some(m)) => format!(" It said: {m}"),
        _ => format!(" {}", sides_named(&item.reason, &left.system.label, &right.system.label)),
    };
    (
        format!("{target} refused the update from {source} for good{on}, so it is not sent again.{said}"),
        format!(
            "Correct the value in {source} (or the field's rules in {target}), then acknowledge: the next \
             sync tries once more. Ignore leaves both systems as they are."
        ),
    )
}

fn held_back(item: &ReviewItem, left: &SideName, right: &SideName) -> (String, String) {
    let (system, _) = remote_and_other(item, left, right);
    match (&item.remote_field, &item.field) {
        (Some(remote), Some(field)) => (
            format!(
                "{system} no longer returns its field `{remote}` (the {}), so that field is held on every \
                 record: neither read nor written, and no blank replaces a value.",
                field_words(field)
            ),
            format!(
                "Restore the field `{remote}` in {system} or change the mapping, then acknowledge this item; \
                 the other fields keep syncing meanwhile."
            ),
        ),
        _ => (
            format!(
                "A safety cap held a whole page of changes back instead of writing past it. {}",
                sides_named(&item.reason, &left.system.label, &right.system.label)
            ),
            "Look at the changes with `crosswalk sync --dry-run`; if they are right, raise the cap in the \
             mapping, then acknowledge this item."
                .into(),
        ),
    }
}

/// An engine reason with "the left side" / "the right side" replaced by the systems' names.
fn sides_named(reason: &str, l: &str, r: &str) -> String {
    reason.replace(&format!("the {} side", Side::Left), l).replace(&format!("the {} side", Side::Right), r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::names::Directory;

    fn item(kind: ReviewKind, reason: &str) -> ReviewItem {
        let json = serde_json::json!({
            "id": 1, "pair": "p", "link_id": null, "kind": kind, "field": "first_name",
            "base_value": null, "left_value": null, "right_value": null, "left_modified_at": null,
            "right_modified_at": null, "left_id": "7", "right_id": "9", "rule": "two_way",
            "reason": reason, "candidates": {}, "detected_at": "2026-11-12T10:00:00Z", "run_id": "r",
            "state": "open", "resolution": null, "applied_run_id": null,
            "updated_at": "2026-11-12T10:00:00Z", "remote_system": null, "remote_code": null,
            "remote_message": null, "remote_field": null, "person": null
        });
        serde_json::from_value(json).expect("an item")
    }

    #[test]
    fn a_conflict_names_both_systems_the_field_and_the_rule() {
        let dir = Directory::default();
        let (l, r) = dir.sides("p");
        let e = explain(&item(ReviewKind::FieldConflict, "both_changed"), &l, &r);
        assert_eq!(
            e.summary,
            "Both left system and right system changed the first name since they last agreed."
        );
        assert_eq!(
            e.rule.as_deref(),
            Some("the mapping syncs it both ways and says a person decides when both change")
        );
    }

    #[test]
    fn a_rejection_says_the_field_code_and_message() {
        let dir = Directory::default();
        let (l, r) = dir.sides("p");
        let mut i = item(ReviewKind::WriteRejected, "right rejected the write");
        i.remote_system = Some("right".into());
        i.remote_code = Some("INVALID_EMAIL".into());
        i.remote_message = Some("Email address is invalid".into());
        i.remote_field = Some("email".into());
        let e = explain(&i, &l, &r);
        assert!(e.summary.starts_with("right system refused the update from left system"), "{}", e.summary);
        assert!(
            e.summary.contains("`email`") && e.summary.contains("INVALID_EMAIL: Email address is invalid")
        );
        assert!(e.todo.contains("Correct the value in left system"), "{}", e.todo);
    }
}
