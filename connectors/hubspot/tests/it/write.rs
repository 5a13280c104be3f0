//! Writes: idempotent creates through upsert, and per-item outcomes of a 207.

use connector_api::{Connector, ConnectorError, ErrorClass, IdentityKey, Write, WriteOp};
use serde_json::{Value, json};
use sim_hubspot::ObjectType;

use crate::common::{UNIQUE, world};

fn fields(v: Value) -> connector_api::FieldMap {
    v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn create(key: &str, ext: &str, f: Value) -> Write {
    Write {
        key: key.to_string(),
        op: WriteOp::Create {
            fields: fields(f),
            external_id: Some(IdentityKey { field: UNIQUE.to_string(), value: ext.to_string() }),
        },
    }
}

#[tokio::test]
async fn replaying_a_create_never_duplicates() {
    let w = world().await;
    let write = create("k1", "W-1", json!({"email": "a@example.test", "firstname": "Ann"}));
    let first = w.conn.apply("contacts", vec![write.clone()]).await.unwrap();
    let second = w.conn.apply("contacts", vec![write]).await.unwrap();
    let a = first[0].result.clone().unwrap();
    let b = second[0].result.clone().unwrap();
    assert!(a.created && !b.created);
    assert_eq!(a.id, b.id);
    let matching = w
        .sim
        .records(ObjectType::Contacts)
        .into_iter()
        .filter(|r| r.properties.get(UNIQUE).map(String::as_str) == Some("W-1"))
        .count();
    assert_eq!(matching, 1);
    // find by the unique property and by email sees it at once.
    let by_ext = IdentityKey { field: UNIQUE.into(), value: "W-1".into() };
    assert_eq!(w.conn.find("contacts", &by_ext).await.unwrap()[0].id, a.id);
    let by_email = IdentityKey { field: "email".into(), value: "a@example.test".into() };
    assert_eq!(w.conn.find("contacts", &by_email).await.unwrap()[0].id, a.id);
    let nobody = IdentityKey { field: "email".into(), value: "nobody@example.test".into() };
    assert!(w.conn.find("contacts", &nobody).await.unwrap().is_empty());
}

#[tokio::test]
async fn partial_failure_maps_outcomes_to_their_writes() {
    let w = world().await;
    let ids = w.seed_contacts(2, "p");
    let writes = vec![
        Write {
            key: "u-ok".into(),
            op: WriteOp::Update { id: ids[0].to_string(), fields: fields(json!({"firstname": "Zed"})) },
        },
        Write {
            key: "u-missing".into(),
            op: WriteOp::Update { id: "999999999".into(), fields: fields(json!({"firstname": "X"})) },
        },
        Write {
            key: "u-bad".into(),
            op: WriteOp::Update { id: ids[1].to_string(), fields: fields(json!({"no_such_prop": "X"})) },
        },
        create("c-ok", "W-2", json!({"email": "b@example.test"})),
        create("c-bad", "W-3", json!({"email": "c@example.test", "lifecyclestage": "Not A Stage"})),
        Write { key: "d-ok".into(), op: WriteOp::Delete { id: ids[1].to_string() } },
    ];
    let out = w.conn.apply("contacts", writes).await.unwrap();
    let by_key =
        |k: &str| out.iter().find(|o| o.key == k).unwrap_or_else(|| panic!("{k} answered")).result.clone();
    assert_eq!(out.len(), 6);
    assert_eq!(by_key("u-ok").unwrap().id, ids[0].to_string());
    assert_eq!(by_key("u-missing").unwrap_err().class(), ErrorClass::NotFound);
    let bad = by_key("u-bad").unwrap_err();
    assert_eq!(bad.class(), ErrorClass::Invalid, "{bad:?}");
    assert!(by_key("c-ok").unwrap().created);
    assert!(matches!(by_key("c-bad"), Err(ConnectorError::Invalid { .. })));
    assert!(by_key("d-ok").is_ok());
    let live = w.sim.records(ObjectType::Contacts);
    assert_eq!(live.iter().find(|r| r.id == ids[0]).unwrap().properties["firstname"], "Zed");
    assert!(live.iter().find(|r| r.id == ids[1]).unwrap().archived_at_ms.is_some());
    // fetch skips missing ids.
    let got = w.conn.fetch("contacts", &[ids[0].to_string(), "999999999".into()]).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].fields["firstname"], json!("Zed"));
}

/// The error of `key` in `out`, which must be `Invalid`: (message, code, field).
fn rejection(out: &[connector_api::WriteOutcome], key: &str) -> (String, Option<String>, Option<String>) {
    let o = out.iter().find(|o| o.key == key).unwrap_or_else(|| panic!("{key} answered"));
    match o.result.clone() {
        Err(ConnectorError::Invalid { message, code, field }) => (message, code, field),
        other => panic!("{key}: {other:?}"),
    }
}

/// Every write path keeps the property HubSpot names and its code, never the value: a backward
/// `lifecyclestage` move and an unknown property in a batch update (207 items whose property
/// is only in the JSON-in-a-string message), a bad enumeration value in an upsert (207) and in
/// a plain create (a whole-request 400).
#[tokio::test]
async fn rejections_name_the_property_and_code_but_no_value() {
    let w = world().await;
    let seeded = [
        json!({"email": "z@example.test", "lifecyclestage": "customer"}),
        json!({"email": "v@example.test"}),
    ];
    let ids = w.sim.seed(ObjectType::Contacts, &seeded.map(fields_map)).unwrap();
    let id = ids[0];
    let update = |key: &str, id: u64, f: Value| Write {
        key: key.into(),
        op: WriteOp::Update { id: id.to_string(), fields: fields(f) },
    };
    let writes = vec![
        update("back", ids[0], json!({"lifecyclestage": "subscriber", "firstname": "Quillon"})),
        update("unknown", ids[1], json!({"shoe_size_xq": "Quillon"})),
        create("upsert", "W-9", json!({"email": "y@example.test", "lifecyclestage": "Quillonstage"})),
        Write {
            key: "plain".into(),
            op: WriteOp::Create {
                fields: fields(json!({"email": "x@example.test", "lifecyclestage": "Quillonstage"})),
                external_id: None,
            },
        },
    ];
    let out = w.conn.apply("contacts", writes).await.unwrap();
    let cases = [
        ("back", "lifecyclestage", "INVALID_PROPERTY_VALUE"),
        ("unknown", "shoe_size_xq", "PROPERTY_DOESNT_EXIST"),
        ("upsert", "lifecyclestage", "INVALID_OPTION"),
        ("plain", "lifecyclestage", "INVALID_OPTION"),
    ];
    for (key, property, detail) in cases {
        let (message, code, field) = rejection(&out, key);
        assert_eq!(code.as_deref(), Some("VALIDATION_ERROR"), "{key}: {message}");
        assert_eq!(field.as_deref(), Some(property), "{key}: {message}");
        assert!(message.contains(property) && message.contains(detail), "{key}: {message}");
        for value in ["Quillon", "subscriber", "customer", "example.test"] {
            assert!(!message.contains(value), "{key}: a value reached the message: {message}");
        }
    }
    let contact = w.sim.records(ObjectType::Contacts).into_iter().find(|r| r.id == id).unwrap();
    assert_eq!(contact.properties.get("lifecyclestage").map(String::as_str), Some("customer"));
}

fn fields_map(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap()
}
