//! Batch endpoints: the 100-input cap, 207 multi-status, trace-id rule for create, upsert `new`.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sim_hubspot::ObjectType;

use crate::common::*;

#[tokio::test]
async fn more_than_100_inputs_is_a_validation_error() {
    let s = sim().await;
    let inputs: Vec<Value> =
        (0..101).map(|i| json!({"properties": {"firstname": format!("n{i}")}})).collect();
    let r = s.post("/crm/v3/objects/contacts/batch/create", json!({ "inputs": inputs })).await;
    assert_error(&r, 400, "VALIDATION_ERROR");
    assert!(s.state.records(ObjectType::Contacts).is_empty());
    let inputs: Vec<Value> =
        (0..100).map(|i| json!({"properties": {"firstname": format!("n{i}")}})).collect();
    let r = s.post("/crm/v3/objects/contacts/batch/create", json!({ "inputs": inputs })).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["status"], "COMPLETE");
    assert_eq!(r.body["results"].as_array().unwrap().len(), 100);
}

#[tokio::test]
async fn batch_create_is_all_or_nothing_without_trace_ids_and_207_with_them() {
    let s = sim().await;
    let bad = json!({"inputs": [
        {"properties": {"email": "ok@x.io"}},
        {"properties": {"email": "bad@x.io", "nope": "1"}},
    ]});
    let r = s.post("/crm/v3/objects/contacts/batch/create", bad).await;
    assert_error(&r, 400, "VALIDATION_ERROR");
    assert!(s.state.records(ObjectType::Contacts).is_empty(), "nothing may be created");
    let traced = json!({"inputs": [
        {"properties": {"email": "ok@x.io"}, "objectWriteTraceId": "t1"},
        {"properties": {"email": "bad@x.io", "nope": "1"}, "objectWriteTraceId": "t2"},
    ]});
    let r = s.post("/crm/v3/objects/contacts/batch/create", traced).await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS, "{}", r.body);
    assert_eq!(r.body["numErrors"], 1);
    assert_eq!(r.body["errors"][0]["context"]["objectWriteTraceId"][0], "t2");
    assert_eq!(r.body["results"][0]["properties"]["email"], "ok@x.io");
}

#[tokio::test]
async fn batch_read_and_update_report_unknown_ids_in_207() {
    let s = sim().await;
    let id = s.create_contact(json!({"email": "r@x.io"})).await;
    let r = s
        .post(
            "/crm/v3/objects/contacts/batch/read",
            json!({"inputs": [{"id": id}, {"id": "999"}], "properties": ["email"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS);
    assert_eq!(r.body["results"][0]["properties"]["email"], "r@x.io");
    assert_eq!(r.body["errors"][0]["category"], "OBJECT_NOT_FOUND");
    assert_eq!(r.body["errors"][0]["context"]["ids"][0], "999");
    let by_email = s
        .post(
            "/crm/v3/objects/contacts/batch/read",
            json!({"inputs": [{"id": "R@x.io"}], "idProperty": "email"}),
        )
        .await;
    assert_eq!(by_email.status, StatusCode::OK);
    assert_eq!(by_email.body["results"][0]["id"], id.as_str());
    let u = s
        .post(
            "/crm/v3/objects/contacts/batch/update",
            json!({"inputs": [{"id": id, "properties": {"phone": "1"}}, {"id": "999", "properties": {"phone": "2"}}]}),
        )
        .await;
    assert_eq!(u.status, StatusCode::MULTI_STATUS);
    assert_eq!(u.body["results"][0]["properties"]["phone"], "1");
    assert_eq!(u.body["errors"][0]["context"]["ids"][0], "999");
    let dup = s
        .post(
            "/crm/v3/objects/contacts/batch/update",
            json!({"inputs": [{"id": id, "properties": {}}, {"id": id, "properties": {}}]}),
        )
        .await;
    assert_error(&dup, 400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn upsert_marks_new_and_can_reject_sparse_email_upserts() {
    let s = sim().await;
    let existing = s.create_contact(json!({"email": "u@x.io"})).await;
    let body = json!({"inputs": [
        {"id": "u@x.io", "idProperty": "email", "properties": {"firstname": "U"}},
        {"id": "v@x.io", "idProperty": "email", "properties": {"firstname": "V"}},
    ]});
    let r = s.post("/crm/v3/objects/contacts/batch/upsert", body.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["results"][0]["new"], false);
    assert_eq!(r.body["results"][0]["id"], existing.as_str());
    assert_eq!(r.body["results"][1]["new"], true);
    assert_eq!(r.body["results"][1]["properties"]["email"], "v@x.io");
    let mut beh = s.state.behaviour();
    beh.email_upsert_required = vec!["firstname".into(), "lastname".into()];
    s.state.set_behaviour(beh);
    let r = s.post("/crm/v3/objects/contacts/batch/upsert", body).await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS);
    assert_eq!(r.body["numErrors"], 2);
    assert_eq!(r.body["errors"][0]["category"], "VALIDATION_ERROR");
}

#[tokio::test]
async fn a_sparse_email_upsert_is_refused_by_default_as_the_spec_says() {
    let s = sim().await;
    s.create_contact(json!({"email": "p@x.io", "firstname": "P", "phone": "1"})).await;
    let sparse =
        json!({"inputs": [{"id": "p@x.io", "idProperty": "email", "properties": {"firstname": "Q"}}]});
    let r = s.post("/crm/v3/objects/contacts/batch/upsert", sparse.clone()).await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS, "{}", r.body);
    assert!(r.body["errors"][0]["message"].as_str().unwrap().contains("phone"), "{}", r.body);
    let full = json!({"inputs": [{"id": "p@x.io", "idProperty": "email", "properties": {"firstname": "Q", "phone": "2"}}]});
    let r = s.post("/crm/v3/objects/contacts/batch/upsert", full).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut beh = s.state.behaviour();
    beh.email_upsert_allow_partial = true;
    s.state.set_behaviour(beh);
    let r = s.post("/crm/v3/objects/contacts/batch/upsert", sparse).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}
