//! The 9 actions, the searches and the lookups (spec §5, §6).

mod common;

use chrono::Duration;
use common::{expect_error, json, lead, sim};
use serde_json::json;

const LEADS: &str = "/api/v1/integrations/leads";
const CLIENTS: &str = "/api/v1/integrations/clients";

#[tokio::test]
async fn create_lead_then_replay_by_external_id_returns_the_same_record_without_an_event() {
    let s = sim().await;
    let body =
        json!({"first_name": "Ana", "last_name": "Ruiz", "email": "ana@example.test", "external_id": "hs-1"});
    let (st, a) = json(s.post(LEADS, body).await).await;
    assert_eq!(st, 201);
    assert_eq!(a["status"], "Lead - New");
    assert_eq!(a["created_utc"], "2026-03-01T12:00:00Z");
    let changed =
        json!({"first_name": "Other", "last_name": "Name", "email": "x@example.test", "external_id": "hs-1"});
    let (st, b) = json(s.post(LEADS, changed).await).await;
    assert_eq!(st, 200);
    assert_eq!(b["client_id"], a["client_id"]);
    assert_eq!(s.state.events().len(), 1, "no second lead.created");
    assert_eq!(s.state.records()["clients"][0]["first_name"], "Ana", "replay does not update");
    // The namespace is shared with clients.
    let (st, c) = json(
        s.post(
            CLIENTS,
            json!({"first_name": "C", "last_name": "D", "email": "c@example.test",
        "external_id": "hs-1"}),
        )
        .await,
    )
    .await;
    assert_eq!((st, &c["client_id"]), (200, &a["client_id"]));
    // Without external_id: never deduplicated.
    let x = json(s.post(LEADS, lead("Ana", "ana@example.test")).await).await.1;
    let y = json(s.post(LEADS, lead("Ana", "ana@example.test")).await).await.1;
    assert_ne!(x["client_id"], y["client_id"]);
}

#[tokio::test]
async fn leads_and_clients_share_one_id_space_and_creates_need_name_and_email() {
    let s = sim().await;
    let l = json(s.post(LEADS, lead("A", "a@example.test")).await).await.1;
    let (st, c) =
        json(s.post(CLIENTS, json!({"first_name": "B", "last_name": "C", "email": "b@example.test"})).await)
            .await;
    assert_eq!(st, 201);
    assert_eq!(c["status"], "Active Client");
    assert_eq!(c["client_id"].as_i64().unwrap(), l["client_id"].as_i64().unwrap() + 1);
    let kinds: Vec<String> = s.state.events().iter().map(|e| e.kind.clone()).collect();
    assert_eq!(kinds, ["lead.created", "client.created"]);
    expect_error(s.post(LEADS, json!({"first_name": "A", "last_name": "B"})).await, 400, "invalid_request")
        .await;
    let r = s
        .post(CLIENTS, json!({"first_name": "A", "last_name": "B", "email": "e@x.test", "status": "Nope"}))
        .await;
    let b = expect_error(r, 422, "validation_failed").await;
    assert!(b["error"]["details"]["fields"]["status"].is_string());
    let r = s.http.post(s.url(LEADS)).header("X-Api-Key", &s.key).body("{not json").send().await.unwrap();
    expect_error(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn field_updates_bump_updated_utc_but_emit_no_event() {
    let s = sim().await;
    let id = json(s.post(LEADS, lead("A", "a@example.test")).await).await.1["client_id"].as_i64().unwrap();
    s.state.advance(Duration::seconds(90));
    let (st, b) =
        json(s.patch(&format!("{LEADS}/{id}"), json!({"city": "Austin", "phone": null})).await).await;
    assert_eq!(st, 200);
    assert_eq!(b, json!({"success": true, "updated_utc": "2026-03-01T12:01:30Z", "client_id": id}));
    assert_eq!(s.state.events().len(), 1, "only the create");
    let rec = &s.state.records()["clients"][0];
    assert_eq!(rec["city"], "Austin");
    expect_error(s.patch(&format!("{LEADS}/{id}"), json!({})).await, 400, "invalid_request").await;
    expect_error(s.patch(&format!("{CLIENTS}/{id}"), json!({"email": null})).await, 400, "invalid_request")
        .await;
    expect_error(s.patch(&format!("{CLIENTS}/777777"), json!({"city": "X"})).await, 404, "not_found").await;
    let r = s.patch(&format!("{CLIENTS}/{id}"), json!({"employee_id": 9999})).await;
    expect_error(r, 422, "validation_failed").await;
}

#[tokio::test]
async fn status_changes_emit_events_and_lead_status_must_stay_a_lead_status() {
    let s = sim().await;
    let id = json(s.post(LEADS, lead("A", "a@example.test")).await).await.1["client_id"].as_i64().unwrap();
    let r = s.patch(&format!("{LEADS}/{id}/status"), json!({"new_status": "Active Client"})).await;
    expect_error(r, 422, "validation_failed").await;
    let (st, b) =
        json(s.patch(&format!("{LEADS}/{id}/status"), json!({"new_status": " lead - contacted "})).await)
            .await;
    assert_eq!(st, 200);
    assert_eq!(
        (b["previous_status"].as_str(), b["new_status"].as_str()),
        (Some("Lead - New"), Some("Lead - Contacted"))
    );
    // Conversion through Update Client Status; the id wins over a disagreeing name.
    let body = json!({"new_status": "Cancelled", "new_status_id": 4});
    let (st, b) = json(s.patch(&format!("{CLIENTS}/{id}/status"), body).await).await;
    assert_eq!((st, b["new_status"].as_str()), (200, Some("Active Client")));
    let evs = s.state.events();
    let kinds: Vec<&str> = evs.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["lead.created", "client.status_changed", "client.status_changed"],
        "no client.created"
    );
    assert_eq!(evs[2].payload["previous_status"], "Lead - Contacted");
    assert_eq!(evs[2].payload["new_status"], "Active Client");
    expect_error(s.patch(&format!("{CLIENTS}/{id}/status"), json!({})).await, 400, "invalid_request").await;
    let r = s.patch(&format!("{CLIENTS}/{id}/status"), json!({"new_status_id": 99})).await;
    expect_error(r, 422, "validation_failed").await;
}

#[tokio::test]
async fn notes_and_affiliates() {
    let s = sim().await;
    let id = json(s.post(LEADS, lead("A", "a@example.test")).await).await.1["client_id"].as_i64().unwrap();
    let (st, n) = json(s.post(&format!("{CLIENTS}/{id}/notes"), json!({"text": "called"})).await).await;
    assert_eq!(st, 201);
    assert!(n["client_note_id"].is_i64() && n["created_utc"].is_string());
    expect_error(s.post(&format!("{CLIENTS}/424242/notes"), json!({"text": "x"})).await, 404, "not_found")
        .await;
    expect_error(s.post(&format!("{CLIENTS}/{id}/notes"), json!({})).await, 400, "invalid_request").await;
    let body =
        json!({"first_name": "Pia", "last_name": "Z", "email": "pia@example.test", "external_id": "a-1"});
    let (st, a) = json(s.post("/api/v1/integrations/affiliates", body.clone()).await).await;
    assert_eq!(st, 201);
    assert_eq!(json(s.post("/api/v1/integrations/affiliates", body).await).await.0, 200, "replay");
    let eid = a["employee_id"].as_i64().unwrap();
    let (st, u) =
        json(s.patch(&format!("/api/v1/integrations/affiliates/{eid}"), json!({"phone": "5"})).await).await;
    assert_eq!((st, u["success"].as_bool()), (200, Some(true)));
    let kinds: Vec<String> = s.state.events().iter().map(|e| e.kind.clone()).collect();
    assert_eq!(kinds, ["lead.created", "affiliate.created"], "notes and updates emit nothing");
    let (_, affs) = json(s.get("/api/v1/integrations/lookups/affiliates").await).await;
    assert!(affs["affiliates"].as_array().unwrap().iter().any(|a| a["employee_id"] == eid));
    let (_, emps) = json(s.get("/api/v1/integrations/lookups/employees").await).await;
    assert!(emps["employees"].as_array().unwrap().iter().all(|e| e["employee_id"] != eid));
}

#[tokio::test]
async fn searches_match_exactly_and_find_lead_skips_converted_clients() {
    let s = sim().await;
    let body = json!({"first_name": "Ana", "last_name": "Ruiz", "email": "Ana@Example.test", "phone": "+1 (512) 555-0100"});
    let id = json(s.post(LEADS, body).await).await.1["client_id"].as_i64().unwrap();
    let (st, hit) = json(s.get("/api/v1/integrations/leads/search?email=ana@example.TEST").await).await;
    assert_eq!(st, 200);
    assert_eq!(hit.as_array().unwrap().len(), 1);
    let row = &hit[0];
    assert_eq!(row["client_id"], id);
    assert_eq!(
        (row["status"].as_str(), row["status_name"].as_str()),
        (Some("Lead - New"), Some("Lead - New"))
    );
    assert_eq!(row["full_name"], "Ana Ruiz");
    let (_, by_phone) = json(s.get("/api/v1/integrations/clients/find?phone=512.555.0100").await).await;
    assert_eq!(by_phone[0]["client_id"], id);
    let (_, none) = json(
        s.get(&format!("/api/v1/integrations/clients/search?email=ana@example.test&client_id={}", id + 1))
            .await,
    )
    .await;
    assert_eq!(none, json!([]), "criteria are ANDed");
    let (_, partial) = json(s.get("/api/v1/integrations/clients/search?email=ana@example").await).await;
    assert_eq!(partial, json!([]), "no partial match");
    s.patch(&format!("{CLIENTS}/{id}/status"), json!({"new_status": "Active Client"})).await;
    let (_, lead_hit) = json(s.get("/api/v1/integrations/leads/search?email=ana@example.test").await).await;
    assert_eq!(lead_hit, json!([]), "converted clients are not leads");
    let (_, client_hit) =
        json(s.get("/api/v1/integrations/clients/search?email=ana@example.test").await).await;
    assert_eq!(client_hit[0]["status"], "Active Client");
    expect_error(s.get("/api/v1/integrations/clients/search").await, 400, "invalid_request").await;
    expect_error(s.get("/api/v1/integrations/clients/search?name=Ana").await, 400, "unknown_parameter").await;
    let (_, st) = json(s.get("/api/v1/integrations/lookups/client-statuses").await).await;
    assert_eq!(st["count"], 7);
    assert_eq!(st["statuses"][0], json!({"status_id": 1, "status_name": "Lead - New", "is_lead": true}));
    let (_, cl) = json(s.get("/api/v1/integrations/lookups/clients?q=ruiz").await).await;
    assert_eq!(cl["count"], 1);
}
