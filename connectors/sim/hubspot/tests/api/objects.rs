//! Single-record endpoints: auth, shapes, timestamps, validation, paging, archive, merge.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sim_hubspot::{MergedGet, ObjectType, SimConfig};

use crate::common::*;

#[tokio::test]
async fn missing_or_wrong_token_gets_401_invalid_authentication() {
    let s = sim().await;
    let none = s.call_as(None, Method::GET, "/crm/v3/objects/contacts", None).await;
    assert_error(&none, 401, "INVALID_AUTHENTICATION");
    let wrong = s.call_as(Some("nope"), Method::GET, "/crm/v3/objects/contacts", None).await;
    assert_error(&wrong, 401, "INVALID_AUTHENTICATION");
    assert_eq!(s.get("/crm/v3/objects/contacts").await.status, StatusCode::OK);
}

#[tokio::test]
async fn create_then_get_by_id_email_and_unique_property_with_string_values() {
    let cfg = SimConfig {
        schema: sim_hubspot::Schema { unique_properties: vec!["wlcro_id".into()], ..Default::default() },
        ..SimConfig::default()
    };
    let s = sim_with(cfg).await;
    let r = s
        .post(
            "/crm/objects/2026-03/contacts",
            json!({"properties": {"email": "Ann@X.io", "wlcro_id": "W-1"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["properties"]["hs_object_id"], id.as_str());
    assert_eq!(r.body["properties"]["createdate"], "2026-03-02T10:00:00.000Z");
    assert_eq!(r.body["archived"], false);
    let by_email = s.get("/crm/v3/objects/contacts/ann@x.io?idProperty=email&properties=email,phone").await;
    assert_eq!(by_email.body["id"], id.as_str());
    assert_eq!(by_email.body["properties"]["phone"], Value::Null);
    assert!(by_email.body["properties"].get("firstname").is_none(), "unrequested property returned");
    let by_custom = s.get("/crm/v3/objects/contacts/W-1?idProperty=wlcro_id").await;
    assert_eq!(by_custom.body["id"], id.as_str());
    let default = s.get(&format!("/crm/v3/objects/contacts/{id}")).await;
    let keys: Vec<&String> = default.body["properties"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"]);
    assert_error(
        &s.get("/crm/v3/objects/contacts/nobody@x.io?idProperty=email").await,
        404,
        "OBJECT_NOT_FOUND",
    );
    let dup = s
        .post("/crm/v3/objects/contacts", json!({"properties": {"email": "x@y.z", "wlcro_id": "W-1"}}))
        .await;
    assert_error(&dup, 409, "CONFLICT");
    let dup = s.post("/crm/v3/objects/contacts", json!({"properties": {"email": "ANN@x.io"}})).await;
    assert_error(&dup, 409, "CONFLICT");
}

#[tokio::test]
async fn every_write_bumps_the_millisecond_modified_date() {
    let s = sim().await;
    let id = s.create_contact(json!({"email": "a@b.io"})).await;
    s.state.advance(1_234);
    let r = s.patch(&format!("/crm/v3/objects/contacts/{id}"), json!({"properties": {}})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["properties"]["lastmodifieddate"], "2026-03-02T10:00:01.234Z");
    assert_eq!(r.body["updatedAt"], "2026-03-02T10:00:01.234Z");
    let c = s.post("/crm/v3/objects/companies", json!({"properties": {"name": "Acme"}})).await;
    let cid = c.body["id"].as_str().unwrap();
    s.state.advance(7);
    let r = s
        .patch(&format!("/crm/v3/objects/companies/{cid}"), json!({"properties": {"domain": "acme.io"}}))
        .await;
    assert_eq!(r.body["properties"]["hs_lastmodifieddate"], "2026-03-02T10:00:01.241Z");
    assert!(r.body["properties"].get("lastmodifieddate").is_none());
}

#[tokio::test]
async fn invalid_writes_get_documented_400_bodies() {
    let s = sim().await;
    let id = s.create_contact(json!({"email": "l@c.io", "lifecyclestage": "customer"})).await;
    let path = format!("/crm/v3/objects/contacts/{id}");
    let back = s.patch(&path, json!({"properties": {"lifecyclestage": "lead"}})).await;
    assert_error(&back, 400, "VALIDATION_ERROR");
    assert!(back.body["message"].as_str().unwrap().starts_with("Property values were not valid: ["));
    assert_eq!(s.patch(&path, json!({"properties": {"lifecyclestage": ""}})).await.status, StatusCode::OK);
    assert_eq!(
        s.patch(&path, json!({"properties": {"lifecyclestage": "lead"}})).await.status,
        StatusCode::OK
    );
    let unknown = s.patch(&path, json!({"properties": {"missing": "x"}})).await;
    assert!(unknown.body["message"].as_str().unwrap().contains("PROPERTY_DOESNT_EXIST"));
    assert_error(
        &s.patch(&path, json!({"properties": {"lastmodifieddate": "1"}})).await,
        400,
        "VALIDATION_ERROR",
    );
    let none = s.post("/crm/v3/objects/contacts", json!({"properties": {"phone": "1"}})).await;
    assert_error(&none, 400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn list_pages_with_an_opaque_cursor_and_archived_filter() {
    let s = sim().await;
    let recs: Vec<_> = (0..25).map(|i| props(json!({"firstname": format!("p{i}")}))).collect();
    let ids = s.state.seed(ObjectType::Contacts, &recs).unwrap();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let q = after.as_ref().map(|a| format!("&after={a}")).unwrap_or_default();
        let r = s.get(&format!("/crm/v3/objects/contacts?limit=10{q}")).await;
        assert_eq!(r.status, StatusCode::OK);
        seen.extend(
            r.body["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["id"].as_str().unwrap().parse::<u64>().unwrap()),
        );
        match r.body["paging"]["next"]["after"].as_str() {
            Some(a) => {
                assert!(a.parse::<u64>().is_err(), "cursor should be opaque, got {a}");
                after = Some(a.to_string());
            }
            None => break,
        }
    }
    assert_eq!(seen, ids);
    s.delete(&format!("/crm/v3/objects/contacts/{}", ids[3])).await;
    let arch = s.get("/crm/v3/objects/contacts?archived=true").await;
    assert_eq!(arch.body["results"].as_array().unwrap().len(), 1);
    assert_eq!(arch.body["results"][0]["archived"], true);
    assert!(arch.body["results"][0]["archivedAt"].is_string());
    assert_error(&s.get("/crm/v3/objects/contacts?after=%21%21").await, 400, "VALIDATION_ERROR");
}

/// Spec §2: a list page holds 10 records by default and at most 100 (a larger `limit` is
/// clamped), with the requested properties only.
#[tokio::test]
async fn list_pages_hold_ten_by_default_and_at_most_a_hundred() {
    let s = sim().await;
    let recs: Vec<_> =
        (0..150).map(|i| props(json!({"firstname": format!("p{i}"), "lastname": "L"}))).collect();
    s.state.seed(ObjectType::Contacts, &recs).unwrap();
    let results = |r: &Resp| r.body["results"].as_array().unwrap().clone();
    assert_eq!(results(&s.get("/crm/v3/objects/contacts").await).len(), 10);
    let big = s.get("/crm/v3/objects/contacts?limit=500&properties=lastname").await;
    assert_eq!(results(&big).len(), 100);
    let keys: Vec<String> = results(&big)[0]["properties"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["lastname"]);
    assert!(big.body["paging"]["next"]["after"].is_string(), "50 more to read");
}

/// The official SDKs send a list as repeated parameters (`properties=a&properties=b`); the comma
/// form also works, and the two can be mixed.
#[tokio::test]
async fn repeated_and_comma_separated_properties_are_both_read() {
    let s = sim().await;
    let recs = vec![props(json!({"email": "r@e.io", "firstname": "Rae", "phone": "+15550100"}))];
    let id = s.state.seed(ObjectType::Contacts, &recs).unwrap()[0];
    let names = |r: &Resp| -> Vec<String> {
        let mut keys: Vec<String> = r.body["properties"].as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    let one = s.get(&format!("/crm/v3/objects/contacts/{id}?properties=email&properties=phone")).await;
    assert_eq!(names(&one), ["email", "phone"]);
    assert_eq!(one.body["properties"]["phone"], "+15550100");
    let comma = s.get(&format!("/crm/v3/objects/contacts/{id}?properties=email,phone")).await;
    assert_eq!(names(&comma), ["email", "phone"]);
    let mixed = s
        .get(&format!(
            "/crm/v3/objects/contacts/{id}?properties=email,phone&properties=firstname&properties=email"
        ))
        .await;
    assert_eq!(names(&mixed), ["email", "firstname", "phone"]);
    let list =
        s.get("/crm/v3/objects/contacts?limit=5&properties=firstname&properties=lastmodifieddate").await;
    let first = &list.body["results"][0]["properties"];
    assert_eq!(first["firstname"], "Rae");
    assert!(first["lastmodifieddate"].is_string(), "{first}");
    assert!(first.get("email").is_none(), "unrequested property returned: {first}");
}

#[tokio::test]
async fn archive_hides_from_get_and_search_and_restore_brings_back() {
    let s = sim().await;
    let id = s.create_contact(json!({"email": "d@e.io"})).await;
    let r = s.delete(&format!("/crm/v3/objects/contacts/{id}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_error(&s.get(&format!("/crm/v3/objects/contacts/{id}")).await, 404, "OBJECT_NOT_FOUND");
    let a = s.get(&format!("/crm/v3/objects/contacts/{id}?archived=true")).await;
    assert_eq!(a.body["archived"], true);
    let search = s.post("/crm/v3/objects/contacts/search", json!({})).await;
    assert_eq!(search.body["total"], 0);
    s.state.advance(10);
    let back = s.state.restore(ObjectType::Contacts, id.parse().unwrap()).unwrap();
    assert_eq!(back.updated_ms, t0().timestamp_millis() + 10);
    assert_eq!(s.get(&format!("/crm/v3/objects/contacts/{id}")).await.status, StatusCode::OK);
    let kinds: Vec<String> = s.state.pending_webhooks().into_iter().map(|e| e.subscription_type).collect();
    assert_eq!(kinds, ["contact.creation", "contact.deletion", "contact.restore"]);
}

#[tokio::test]
async fn merge_archives_loser_and_records_merged_ids() {
    let s = sim().await;
    let a = s.create_contact(json!({"email": "a@m.io"})).await;
    let b = s.create_contact(json!({"email": "b@m.io", "phone": "555"})).await;
    s.state.take_webhook_batches("http://unused");
    let r =
        s.post("/crm/v3/objects/contacts/merge", json!({"primaryObjectId": a, "objectIdToMerge": b})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["id"], a.as_str());
    let got = s
        .get(&format!(
            "/crm/v3/objects/contacts/{a}?properties=hs_merged_object_ids,hs_additional_emails,phone"
        ))
        .await;
    assert_eq!(got.body["properties"]["hs_merged_object_ids"], b.as_str());
    assert_eq!(got.body["properties"]["hs_additional_emails"], "b@m.io");
    assert_eq!(got.body["properties"]["phone"], "555");
    let loser = s.get(&format!("/crm/v3/objects/contacts/{b}")).await;
    assert_eq!(loser.body["id"], a.as_str(), "default: merged-away id answers with the survivor");
    let kinds: Vec<String> = s.state.pending_webhooks().into_iter().map(|e| e.subscription_type).collect();
    assert_eq!(kinds, ["contact.merge", "contact.deletion"]);
    let mut beh = s.state.behaviour();
    beh.merged_get = MergedGet::NotFound;
    s.state.set_behaviour(beh);
    assert_error(&s.get(&format!("/crm/v3/objects/contacts/{b}")).await, 404, "OBJECT_NOT_FOUND");
    let truth = s.state.records(ObjectType::Contacts);
    assert!(truth.iter().any(|r| r.id.to_string() == b && r.archived() && r.merged_into.is_some()));
}

#[tokio::test]
async fn merge_can_mint_a_new_survivor_id() {
    let s = sim().await;
    let mut beh = s.state.behaviour();
    beh.merge_mints_new_id = true;
    s.state.set_behaviour(beh);
    let a = s.create_contact(json!({"email": "a@n.io"})).await;
    let b = s.create_contact(json!({"email": "b@n.io"})).await;
    let r =
        s.post("/crm/v3/objects/contacts/merge", json!({"primaryObjectId": a, "objectIdToMerge": b})).await;
    let new_id = r.body["id"].as_str().unwrap().to_string();
    assert!(new_id != a && new_id != b);
    let got =
        s.get(&format!("/crm/v3/objects/contacts/{new_id}?properties=hs_merged_object_ids,email")).await;
    assert_eq!(got.body["properties"]["hs_merged_object_ids"], format!("{b};{a}"));
    assert_eq!(got.body["properties"]["email"], "a@n.io");
    assert_eq!(s.get(&format!("/crm/v3/objects/contacts/{a}")).await.body["id"], new_id.as_str());
    let search = s.post("/crm/v3/objects/contacts/search", json!({})).await;
    assert_eq!(search.body["total"], 1, "only the survivor is searchable");
}
