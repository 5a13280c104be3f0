//! WhiteLabelCRO-specific behaviour against the simulator: pacing, quarantine of malformed
//! events, partial status changes, writes and their per-item errors, auth and redaction, and the
//! simulator's webhook signature checked by the connector's verifier.

mod common;

use std::time::Duration;

use common::{WlcroDriver, world, world_with};
use connector_api::{
    Connector, ConnectorError, ErrorClass, FieldMap, IdentityKey, PullRequest, Write, WriteOp,
};
use connector_conformance::{ConformanceDriver, drain};
use connector_whitelabelcro::webhook::{SignatureScheme, WebhookVerifier};
use secrecy::SecretString;
use serde_json::{Value, json};

fn update(key: &str, id: &str, fields: Value) -> Write {
    let fields: FieldMap = serde_json::from_value(fields).unwrap();
    Write { key: key.into(), op: WriteOp::Update { id: id.into(), fields } }
}

fn status_of(d: &WlcroDriver, id: &str) -> Option<String> {
    let n: i64 = id.parse().ok()?;
    let c = d.clients().into_iter().find(|c| c["client_id"].as_i64() == Some(n))?;
    c.get("status_name").and_then(Value::as_str).map(str::to_string)
}

#[tokio::test]
async fn steady_reads_are_paced_and_never_provoke_a_429() {
    let w = world(false).await;
    let id = w.driver.seed(w.driver.sample(1)).await.unwrap();
    let start = w.driver.now();
    for _ in 0..130 {
        assert_eq!(w.connector.fetch("clients", std::slice::from_ref(&id)).await.unwrap().len(), 1);
    }
    let log = w.driver.request_log().await;
    assert_eq!(log.len(), 130);
    assert!(log.iter().all(|l| l.status == 200), "a steady run provoked a non-200");
    assert!(w.driver.now() - start >= chrono::Duration::seconds(120), "130 reads at 60/min take two minutes");
    assert_eq!(w.connector.stats().throttled, 0);
}

#[tokio::test]
async fn malformed_event_is_quarantined_while_the_page_proceeds() {
    let w = world(false).await;
    let a = w.driver.seed(w.driver.sample(1)).await.unwrap();
    w.driver
        .state
        .inject_event("client.created", json!({"client_id": "not-a-number", "email": "x@y.test"}), None)
        .unwrap();
    let b = w.driver.seed(w.driver.sample(2)).await.unwrap();
    let req = PullRequest {
        object: "clients",
        checkpoint: None,
        rewind: None,
        horizon: w.driver.now(),
        since: None,
        until: None,
        limit: 50,
    };
    let page = w.connector.pull(req.clone()).await.unwrap();
    let ids: Vec<_> = page.changes.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids, vec![a, b]);
    assert_eq!(page.quarantined.len(), 1);
    assert!(page.quarantined[0].reason.contains("client_id"), "{}", page.quarantined[0].reason);
    assert!(page.quarantined[0].id.is_some(), "the event id is kept");
    // Not quarantined again when the tail is re-polled.
    let req = PullRequest { checkpoint: Some(&page.next), ..req };
    let again = w.connector.pull(req).await.unwrap();
    assert!(again.changes.is_empty() && again.quarantined.is_empty());
}

#[tokio::test]
async fn status_changes_are_partial_and_routed_by_status_kind() {
    let w = world(true).await;
    let id = w.driver.seed(w.driver.sample(1)).await.unwrap();
    let (_, leads_cp) = drain(&w.connector, "leads", None, None, 50, w.driver.now()).await.unwrap();
    let (_, clients_cp) = drain(&w.connector, "clients", None, None, 50, w.driver.now()).await.unwrap();
    w.driver.advance(Duration::from_secs(60)).await;
    let n: i64 = id.parse().unwrap();
    w.driver.state.ui_status(n, "Lead - Contacted", None).unwrap();
    w.driver.state.ui_status(n, "Active Client", None).unwrap();
    let (leads, _) = drain(&w.connector, "leads", Some(&leads_cp), None, 50, w.driver.now()).await.unwrap();
    let (clients, _) =
        drain(&w.connector, "clients", Some(&clients_cp), None, 50, w.driver.now()).await.unwrap();
    assert_eq!(leads.len(), 1);
    assert!(leads[0].partial);
    assert_eq!(leads[0].fields, FieldMap::from([("status".into(), json!("Lead - Contacted"))]));
    assert_eq!(clients.len(), 1, "the conversion shows up in clients");
    assert_eq!((clients[0].id.as_str(), clients[0].partial), (id.as_str(), true));
    // Now a client: Find Lead no longer returns it, Find Client does.
    assert!(w.connector.fetch("leads", std::slice::from_ref(&id)).await.unwrap().is_empty());
    assert_eq!(w.connector.fetch("clients", std::slice::from_ref(&id)).await.unwrap().len(), 1);
}

#[tokio::test]
async fn updates_and_status_writes_land_and_errors_are_per_item() {
    let w = world(true).await;
    let id = w.driver.seed(w.driver.sample(1)).await.unwrap();
    let writes = vec![update("u1", &id, json!({"phone": "555-0100", "status": "Lead - Qualified"}))];
    let out = w.connector.apply("leads", writes).await.unwrap();
    let written = out[0].result.clone().unwrap();
    assert!(!written.created);
    let truth = w.driver.record(&id).await.unwrap().unwrap();
    assert_eq!(truth["phone"], json!("555-0100"));
    assert_eq!(status_of(&w.driver, &id).as_deref(), Some("Lead - Qualified"));

    let bad = w
        .connector
        .apply("leads", vec![update("u2", &id, json!({"status": "Active Client"}))])
        .await
        .unwrap();
    assert_eq!(bad[0].result.clone().unwrap_err().class(), ErrorClass::Invalid, "non-lead status on a lead");
    let missing =
        w.connector.apply("leads", vec![update("u3", "99999", json!({"phone": "1"}))]).await.unwrap();
    assert_eq!(missing[0].result.clone().unwrap_err().class(), ErrorClass::NotFound);
    let unknown =
        w.connector.apply("clients", vec![update("u4", &id, json!({"status": "No Such Status"}))]).await;
    let e = unknown.unwrap()[0].result.clone().unwrap_err();
    assert_eq!(e.class(), ErrorClass::Invalid, "422 from the server: {e}");
    let del = Write { key: "d".into(), op: WriteOp::Delete { id: id.clone() } };
    assert_eq!(
        w.connector.apply("leads", vec![del]).await.unwrap()[0].result.clone().unwrap_err().class(),
        ErrorClass::Invalid
    );
}

#[tokio::test]
async fn create_client_with_status_and_find_by_email() {
    let w = world(false).await;
    let mut fields = w.driver.sample(5);
    fields.insert("status".into(), json!("On Hold"));
    let create = Write { key: "c1".into(), op: WriteOp::Create { fields, external_id: None } };
    let out = w.connector.apply("clients", vec![create]).await.unwrap();
    let id = out[0].result.clone().unwrap().id;
    assert_eq!(status_of(&w.driver, &id).as_deref(), Some("On Hold"));
    let key = IdentityKey { field: "email".into(), value: "CONF5@example.test".into() };
    let found = w.connector.find("clients", &key).await.unwrap();
    assert_eq!(found.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![id]);
    assert_eq!(found[0].fields["status"], json!("On Hold"));
    let nope = IdentityKey { field: "shoe_size".into(), value: "44".into() };
    assert_eq!(w.connector.find("clients", &nope).await.unwrap_err().class(), ErrorClass::Invalid);
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error_that_does_not_leak_the_key() {
    let secret = "wlcro_live_17_thisIsNotTheRightSecretAtAll0123456789abcd";
    let w = world_with(false, |cfg| cfg.api_key = SecretString::from(secret)).await;
    let e = w.connector.health().await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Auth);
    assert!(!e.to_string().contains("thisIsNotTheRight"), "{e}");
    assert!(!format!("{:?}", w.connector).contains("thisIsNotTheRight"));
    let ok = world(false).await;
    ok.connector.health().await.unwrap();
}

#[tokio::test]
async fn unknown_object_is_rejected() {
    let w = world(false).await;
    let e = w.connector.fetch("invoices", &["1".into()]).await.unwrap_err();
    assert!(matches!(e, ConnectorError::Invalid { .. }));
}

#[test]
fn the_simulators_signature_verifies_and_a_tampered_body_does_not() {
    let secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=";
    let body =
        br#"{"id":5,"type":"client.created","createdUtc":"2026-03-01T12:00:00Z","payload":{"client_id":3}}"#;
    let mut h = http::HeaderMap::new();
    h.insert("x-webhook-signature", sim_whitelabelcro::sign(secret, body).parse().unwrap());
    let now = common::t0();
    h.insert("x-webhook-timestamp", now.timestamp().to_string().parse().unwrap());
    let v = WebhookVerifier::new(SignatureScheme::default(), vec![SecretString::from(secret)]);
    let ch = v.receive("clients", &h, body, now).unwrap().unwrap();
    assert_eq!(ch.id, "3");
    let tampered = String::from_utf8_lossy(body).replace("\"client_id\":3", "\"client_id\":4");
    let q = v.receive("clients", &h, tampered.as_bytes(), now).unwrap_err();
    assert!(q.reason.contains("signature"), "{}", q.reason);
}

/// A 422 `validation_failed` from the simulator keeps its code and the field it names, mapped
/// to the record's field (`new_status` of Update Client Status is `status`), and no value: an
/// unknown status name, and an unknown employee on Create Client.
#[tokio::test]
async fn a_422_names_the_field_and_code_but_no_value() {
    let w = world(true).await;
    let id = w.driver.seed(w.driver.sample(1)).await.unwrap();
    let out = w.connector.apply("clients", vec![update("s", &id, json!({"status": "Quillon Status"}))]).await;
    let create = Write {
        key: "c".into(),
        op: WriteOp::Create {
            fields: serde_json::from_value(json!({
                "first_name": "Quillon", "last_name": "Quillon", "email": "quillon@example.test",
                "employee_id": 987_654
            }))
            .unwrap(),
            external_id: Some(IdentityKey { field: "external_id".into(), value: "hubspot_1".into() }),
        },
    };
    let created = w.connector.apply("clients", vec![create]).await;
    let cases = [(out.unwrap(), "status"), (created.unwrap(), "employee_id")];
    for (outcomes, want) in cases {
        let Err(ConnectorError::Invalid { message, code, field }) = outcomes[0].result.clone() else {
            panic!("{want}: {:?}", outcomes[0].result)
        };
        assert_eq!(code.as_deref(), Some("validation_failed"), "{message}");
        assert_eq!(field.as_deref(), Some(want), "{message}");
        assert!(message.contains("fields: "), "{message}");
        for value in ["Quillon", "987654", "example.test"] {
            assert!(!message.contains(value), "a value reached the message: {message}");
        }
    }
}
