//! `apply` through sObject Collections: per-row outcomes, classification, idempotent creates.

use std::collections::BTreeMap;

use connector_api::write::Written;
use connector_api::{Connector, ConnectorError, ErrorClass, FieldMap, IdentityKey, Write, WriteOp};
use serde_json::{Value, json};
use sim_salesforce::{DuplicateMode, DuplicateRule, ExternalEdit, ObjectKind};

use crate::support::{EXT, World, contact, world};

fn fields(v: Value) -> FieldMap {
    v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn create(key: &str, ext: &str, f: Value) -> Write {
    let external_id = Some(IdentityKey { field: EXT.into(), value: ext.into() });
    Write { key: key.into(), op: WriteOp::Create { fields: fields(f), external_id } }
}

fn live_with_ext(w: &World, ext: &str) -> usize {
    w.sim
        .records()
        .iter()
        .filter(|r| r.deleted_at.is_none() && r.fields.get(EXT).map(String::as_str) == Some(ext))
        .count()
}

async fn apply(w: &World, writes: Vec<Write>) -> BTreeMap<String, Result<Written, ConnectorError>> {
    let n = writes.len();
    let out = w.sf.apply("Contact", writes).await.unwrap();
    assert_eq!(out.len(), n, "one outcome per write");
    out.into_iter().map(|o| (o.key, o.result)).collect()
}

#[tokio::test]
async fn a_partly_failed_collection_maps_each_row() {
    let w = world().await;
    let locked = w.seed(ObjectKind::Contact, contact("Locked", "locked@example.com"));
    let existing = w.seed(ObjectKind::Contact, contact("Dup", "dup@example.com"));
    // A commit-lagged edit holds the row lock for a minute.
    let edit = ExternalEdit { id: locked.clone(), visible_after_secs: 60, ..ExternalEdit::default() };
    w.sim.edit(edit).unwrap();
    w.sim.set_duplicate_rules(vec![DuplicateRule {
        object: ObjectKind::Contact,
        field: "Email".into(),
        mode: DuplicateMode::Block,
    }]);

    let writes = vec![
        create("ok", "wl-1", contact("Fine", "fine@example.com")),
        create("no-last-name", "wl-2", json!({"Email": "nolast@example.com"})),
        create("duplicate", "wl-3", contact("Again", "dup@example.com")),
        Write {
            key: "locked".into(),
            op: WriteOp::Update { id: locked.clone(), fields: fields(json!({"Title": "CEO"})) },
        },
        Write {
            key: "update".into(),
            op: WriteOp::Update { id: existing[..15].to_string(), fields: fields(json!({"Title": "CTO"})) },
        },
    ];
    let out = apply(&w, writes).await;
    let ok = out["ok"].as_ref().unwrap();
    assert!(ok.created);
    assert_eq!(ok.id.len(), 18);
    let invalid = out["no-last-name"].as_ref().unwrap_err();
    assert!(
        matches!(invalid, ConnectorError::Invalid { code: Some(c), .. } if c == "REQUIRED_FIELD_MISSING"),
        "{invalid:?}"
    );
    let dup = out["duplicate"].as_ref().unwrap_err();
    assert!(
        matches!(dup, ConnectorError::Invalid { code: Some(c), .. } if c == "DUPLICATES_DETECTED"),
        "{dup:?}"
    );
    assert_eq!(out["locked"].as_ref().unwrap_err().class(), ErrorClass::Transient);
    assert!(out["locked"].as_ref().unwrap_err().is_retryable());
    let upd = out["update"].as_ref().unwrap();
    assert_eq!((upd.id.as_str(), upd.created), (existing.as_str(), false));

    // Successes landed exactly once, failures not at all.
    assert_eq!(live_with_ext(&w, "wl-1"), 1);
    assert_eq!(live_with_ext(&w, "wl-2") + live_with_ext(&w, "wl-3"), 0);
    assert_eq!(w.sim.record(&existing).unwrap().fields["Title"], "CTO");
    let collection_calls =
        w.sim.log.entries().iter().filter(|e| e.path.contains("/composite/sobjects")).count();
    assert_eq!(collection_calls, 2, "one upsert call and one update call, no retries of row failures");
}

#[tokio::test]
async fn replaying_a_create_upserts_instead_of_duplicating() {
    let w = world().await;
    let write = create("k1", "wl-42", contact("Once", "once@example.com"));
    let first = apply(&w, vec![write.clone()]).await.remove("k1").unwrap().unwrap();
    assert!(first.created);
    let second = apply(&w, vec![write]).await.remove("k1").unwrap().unwrap();
    assert!(!second.created, "the replay found the record");
    assert_eq!(second.id, first.id);
    assert_eq!(live_with_ext(&w, "wl-42"), 1);
}

#[tokio::test]
async fn deletes_map_per_row_and_a_repeat_is_harmless() {
    let w = world().await;
    let id = w.seed(ObjectKind::Contact, contact("Bye", "bye@example.com"));
    let del = |key: &str, id: &str| Write { key: key.into(), op: WriteOp::Delete { id: id.into() } };
    let out = apply(&w, vec![del("d1", &id), del("d2", "003000000009999AAA")]).await;
    assert_eq!(out["d1"].as_ref().unwrap().id, id);
    assert_eq!(out["d2"].as_ref().unwrap_err().class(), ErrorClass::NotFound);
    assert!(w.sim.record(&id).unwrap().deleted_at.is_some());
    let out = apply(&w, vec![del("d1", &id)]).await;
    assert!(out["d1"].is_ok(), "already deleted is the intended effect: {:?}", out["d1"]);
}

#[tokio::test]
async fn more_than_200_writes_are_refused_whole() {
    let w = world().await;
    let writes = (0..201)
        .map(|i| create(&format!("k{i}"), &format!("wl-{i}"), contact("N", "n@example.com")))
        .collect();
    let err = w.sf.apply("Contact", writes).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Invalid);
    assert_eq!(w.requests_to("/composite"), 0);
}

#[tokio::test]
async fn a_locked_row_succeeds_when_resent_after_the_lock_and_its_neighbour_stays_written_once() {
    let w = world().await;
    let ids = w.seed_many(
        ObjectKind::Contact,
        vec![contact("Free", "free@example.com"), contact("Held", "held@example.com")],
    );
    // A data-loader transaction holds the second row until it commits.
    let txn = w.sim.open_transaction();
    let held = ExternalEdit {
        id: ids[1].clone(),
        fields: crate::support::obj(json!({"LeadSource": "Loader"})),
        txn: Some(txn),
        ..ExternalEdit::default()
    };
    w.sim.edit(held).unwrap();
    let update = |key: &str, id: &str, title: &str| Write {
        key: key.into(),
        op: WriteOp::Update { id: id.into(), fields: fields(json!({"Title": title})) },
    };
    let out = apply(&w, vec![update("free", &ids[0], "CEO"), update("held", &ids[1], "CTO")]).await;
    assert!(out["free"].is_ok(), "{:?}", out["free"]);
    assert!(out["held"].as_ref().unwrap_err().is_retryable(), "{:?}", out["held"]);
    let free = w.sim.record(&ids[0]).unwrap();
    assert_eq!(free.fields["Title"], "CEO");
    assert!(!w.sim.record(&ids[1]).unwrap().fields.contains_key("Title"));

    w.advance(5);
    w.sim.commit_transaction(txn).unwrap();
    // The caller resends only the row that failed for now.
    let out = apply(&w, vec![update("held", &ids[1], "CTO")]).await;
    assert!(out["held"].is_ok(), "{:?}", out["held"]);
    let held = w.sim.record(&ids[1]).unwrap();
    assert_eq!((held.fields["Title"].as_str(), held.fields["LeadSource"].as_str()), ("CTO", "Loader"));
    assert_eq!(w.sim.record(&ids[0]).unwrap().last_modified, free.last_modified, "written once");
}

/// The fields Salesforce names reach the error, the first in `field`, every one in the message,
/// no value: an unknown field on an update (`INVALID_FIELD`) and a create missing the required
/// `LastName` (`REQUIRED_FIELD_MISSING`), both as the simulator answers them.
#[tokio::test]
async fn rejections_name_the_fields_and_code_but_no_value() {
    let w = world().await;
    let id = w.seed(ObjectKind::Contact, contact("Named", "named@example.com"));
    let writes = vec![
        Write {
            key: "unknown".into(),
            op: WriteOp::Update { id, fields: fields(json!({"Shoe_Size__c": "Quillon-44"})) },
        },
        create("no-last-name", "wl-7", json!({"Email": "quillon@example.com", "Title": "Quillon"})),
    ];
    let out = apply(&w, writes).await;
    let cases = [
        ("unknown", "INVALID_FIELD", "Shoe_Size__c"),
        ("no-last-name", "REQUIRED_FIELD_MISSING", "LastName"),
    ];
    for (key, want_code, want_field) in cases {
        let Err(ConnectorError::Invalid { message, code, field }) = &out[key] else {
            panic!("{key}: {:?}", out[key])
        };
        assert_eq!(code.as_deref(), Some(want_code), "{key}: {message}");
        assert_eq!(field.as_deref(), Some(want_field), "{key}: {message}");
        assert!(message.contains(want_field), "{key}: {message}");
        assert!(!message.contains("Quillon") && !message.contains("example.com"), "{key}: {message}");
    }
}
