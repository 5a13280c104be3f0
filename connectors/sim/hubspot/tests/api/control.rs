//! The `/_sim/` control API over HTTP: seed, edit, bulk touch, clock, records, request log.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn control_routes_drive_hidden_state() {
    let s = sim().await;
    let seeded = s
        .client
        .post(s.url("/_sim/seed"))
        .json(&json!({"object": "companies", "records": [{"name": "A"}, {"name": "B"}, {"name": "C"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(seeded.status(), StatusCode::OK);
    let ids: Value = seeded.json().await.unwrap();
    let first = ids["ids"][0].as_u64().unwrap();
    let clock: Value = s
        .client
        .post(s.url("/_sim/clock"))
        .json(&json!({"advance_ms": 250}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(clock["now_ms"], t0().timestamp_millis() + 250);
    let edit = s
        .client
        .post(s.url("/_sim/edit"))
        .json(&json!({"object": "companies", "id": first, "properties": {"domain": "a.io"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(edit.status(), StatusCode::OK);
    let got = s.get(&format!("/crm/v3/objects/companies/{first}")).await;
    assert_eq!(got.body["properties"]["domain"], "a.io");
    assert_eq!(got.body["properties"]["hs_lastmodifieddate"], "2026-03-02T10:00:00.250Z");
    s.client.post(s.url("/_sim/clock")).json(&json!({"advance_ms": 1})).send().await.unwrap();
    let touch: Value = s
        .client
        .post(s.url("/_sim/bulk-touch"))
        .json(&json!({"object": "companies", "count": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(touch["ids"].as_array().unwrap().len(), 2);
    let truth: Value =
        s.client.get(s.url("/_sim/records?object=companies")).send().await.unwrap().json().await.unwrap();
    let stamps: Vec<i64> =
        truth.as_array().unwrap().iter().map(|r| r["updated_ms"].as_i64().unwrap()).collect();
    assert_eq!(stamps[0], stamps[1], "bulk-touched records share one timestamp");
    assert_eq!(stamps[0], touch["timestamp_ms"].as_i64().unwrap());
    assert_ne!(stamps[2], stamps[0]);
    let log: Value = s.client.get(s.url("/_sim/requests")).send().await.unwrap().json().await.unwrap();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 1, "control calls are not logged: {log:?}");
    assert_eq!(log[0]["method"], "GET");
    assert_eq!(log[0]["status"], 200);
    let pending: Value = s.client.get(s.url("/_sim/webhooks")).send().await.unwrap().json().await.unwrap();
    assert_eq!(pending[0]["subscriptionType"], "company.propertyChange");
    let bad = s.client.get(s.url("/_sim/records?object=deals")).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}
