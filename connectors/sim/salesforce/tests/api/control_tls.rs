//! The `/_sim/` control API over HTTP, system-only stamps, back-dated imports, ground truth,
//! the request log, and serving over TLS.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sim_salesforce::{ObjectKind, SeedRecord, start_tls};

use super::{answer, config, sim, t0};

#[tokio::test]
async fn system_only_changes_move_systemmodstamp_but_not_lastmodifieddate() {
    let s = sim().await;
    let ids = s.seed_contacts(3);
    s.state.advance(Duration::minutes(1));
    assert_eq!(s.state.touch_system(ObjectKind::Contact, None), 3);
    let r = s.state.record(&ids[0]).unwrap();
    assert_eq!(r.modstamp, t0() + Duration::minutes(1));
    assert_eq!(r.last_modified, t0());
    let q = s.query("query", "SELECT Id FROM Contact WHERE LastModifiedDate > 2026-03-01T12:00:00Z").await;
    assert_eq!(q.body["totalSize"], 0, "a LastModifiedDate cursor misses system-only changes");
}

#[tokio::test]
async fn imports_can_back_date_last_modified_but_not_systemmodstamp() {
    let s = sim().await;
    let back = t0() - Duration::days(400);
    let rec = SeedRecord {
        object: Some(ObjectKind::Account),
        fields: json!({"Name": "Old"}).as_object().unwrap().clone(),
        created_date: Some(back),
        last_modified_date: Some(back),
        ..SeedRecord::default()
    };
    let id = s.state.seed(vec![rec]).unwrap().remove(0);
    let r = s.state.record(&id).unwrap();
    assert_eq!((r.created, r.last_modified, r.modstamp), (back, back, t0()));
}

#[tokio::test]
async fn control_api_over_http_seeds_edits_merges_and_reports_ground_truth() {
    let s = sim().await;
    let ctl = |p: &str| format!("{}/_sim{p}", s.base());
    let seeded = answer(
        s.http
            .post(ctl("/seed"))
            .json(&json!({"records": [
                {"object": "Contact", "fields": {"LastName": "A"}},
                {"object": "Contact", "fields": {"LastName": "B"}}]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let ids: Vec<String> = serde_json::from_value(seeded.body["ids"].clone()).unwrap();
    let clock =
        answer(s.http.post(ctl("/clock")).json(&json!({"advance_secs": 60})).send().await.unwrap()).await;
    assert_eq!(clock.body["now"], "2026-03-01T12:01:00Z");
    let edit = s
        .http
        .post(ctl("/edit"))
        .json(&json!({"id": ids[0], "fields": {"Title": "VP"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(edit.status(), StatusCode::NO_CONTENT);
    let merged =
        s.http.post(ctl("/merge")).json(&json!({"master": ids[0], "losers": [ids[1]]})).send().await.unwrap();
    assert_eq!(merged.status(), StatusCode::NO_CONTENT);
    let recs = answer(s.http.get(ctl("/records?object=Contact")).send().await.unwrap()).await;
    let loser = recs.body.as_array().unwrap().iter().find(|r| r["id"] == ids[1].as_str()).unwrap().clone();
    assert_eq!(loser["master_record_id"], ids[0].as_str());
    assert!(loser["deleted_at"].is_string());
    let undel = s.http.post(ctl("/undelete")).json(&json!({"id": ids[1]})).send().await.unwrap();
    assert_eq!(undel.status(), StatusCode::NO_CONTENT);
    assert!(s.state.record(&ids[1]).unwrap().deleted_at.is_none());

    s.get("/limits").await;
    let log = answer(s.http.get(ctl("/requests")).send().await.unwrap()).await;
    let paths: Vec<&str> = log.body.as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        vec!["/services/oauth2/token", "/services/data/v62.0/limits"],
        "control calls are not logged"
    );
    let quirks = s.http.put(ctl("/quirks")).json(&json!({"daily_limit": 1})).send().await.unwrap();
    assert_eq!(quirks.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.get("/limits").await.status, StatusCode::FORBIDDEN);
    let exp = s.http.post(ctl("/tokens/expire")).send().await.unwrap();
    assert_eq!(exp.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.get("/limits").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn serves_https_with_a_certificate_clients_can_trust() {
    let (handle, state) = start_tls(config()).await.unwrap();
    let cert = reqwest::Certificate::from_pem(handle.cert_pem.as_bytes()).unwrap();
    assert_eq!(state.cert_pem().as_deref(), Some(handle.cert_pem.as_str()));
    let trusting = reqwest::Client::builder().tls_certs_only([cert]).build().unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "sim-consumer-key"),
        ("client_secret", "sim-consumer-secret"),
    ];
    let url = format!("{}/services/oauth2/token", handle.base_url());
    let tok: Value = trusting.post(&url).form(&form).send().await.unwrap().json().await.unwrap();
    assert!(tok["instance_url"].as_str().unwrap().starts_with("https://localhost:"));
    let untrusting = reqwest::Client::new();
    assert!(
        untrusting.post(&url).form(&form).send().await.is_err(),
        "self-signed cert is not publicly trusted"
    );
    handle.stop();
}
