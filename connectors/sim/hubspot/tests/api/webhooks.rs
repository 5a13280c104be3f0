//! Webhooks: signature v3 vectors, batches of ≤ 100 delivered with headers, retries.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sim_hubspot::{ObjectType, sign_v3};

use crate::common::*;

/// HMAC-SHA256 written out from RFC 2104, independent of the `hmac` crate the simulator uses.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0_u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(Sha256::digest(key).as_slice());
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).chain(msg.iter().copied()).collect();
    let inner = Sha256::digest(&ipad);
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).chain(inner.as_slice().iter().copied()).collect();
    Sha256::digest(&opad).to_vec()
}

#[test]
fn sign_v3_matches_fixed_and_independent_vectors() {
    // Fixed vector computed with Python's hmac/hashlib/base64.
    let body = r#"[{"eventId":1}]"#;
    let uri = "https://example.com/webhook?x=1";
    assert_eq!(
        sign_v3("yoursecret", "POST", uri, body, 1_700_000_000_000),
        "tBBk5b55HDTVbxMk8PicJwOGtWOAtJvmY5Af6MDNI5A="
    );
    assert_eq!(STANDARD.encode(hmac_sha256(b"k", b"")), "i7mQxAp9YcuXWXqUISUCW+UKyL63RDbjc1uYiTp/ZiA=");
    let expected = STANDARD.encode(hmac_sha256(b"s3cr3t", format!("POST{uri}{body}42").as_bytes()));
    assert_eq!(sign_v3("s3cr3t", "POST", uri, body, 42), expected);
    let long_key = "k".repeat(100);
    let expected = STANDARD.encode(hmac_sha256(long_key.as_bytes(), b"GEThttps://a.io/b1"));
    assert_eq!(sign_v3(&long_key, "GET", "https://a.io/b", "", 1), expected);
    // Escapes in the documented set are decoded before hashing.
    assert_eq!(
        sign_v3("s", "POST", "https://a.io/h%3Fq%3Dme%40x", "", 1),
        sign_v3("s", "POST", "https://a.io/h?q%3Dme@x", "", 1)
    );
    assert_ne!(sign_v3("s", "POST", "https://a.io/h", "", 1), sign_v3("s", "POST", "https://a.io/h", "", 2));
}

type Seen = Arc<Mutex<(u16, Vec<(HeaderMap, String)>)>>;

async fn receiver(answer: u16) -> (sim_core::SimHandle, Seen) {
    let seen: Seen = Arc::new(Mutex::new((answer, Vec::new())));
    let app = Router::new()
        .route(
            "/hook",
            post(|State(seen): State<Seen>, headers: HeaderMap, body: String| async move {
                let mut g = seen.lock().unwrap();
                g.1.push((headers, body));
                StatusCode::from_u16(g.0).unwrap()
            }),
        )
        .with_state(seen.clone());
    (sim_core::serve(app, 0).await.unwrap(), seen)
}

#[tokio::test]
async fn events_are_delivered_signed_in_batches_of_at_most_100() {
    let s = sim().await;
    let inputs: Vec<Value> =
        (0..100).map(|i| json!({"properties": {"firstname": format!("w{i}")}})).collect();
    s.post("/crm/v3/objects/contacts/batch/create", json!({"inputs": inputs.clone()})).await;
    s.post("/crm/v3/objects/contacts/batch/create", json!({"inputs": inputs[..50].to_vec()})).await;
    let (rx, seen) = receiver(200).await;
    let url = format!("{}/hook", rx.base_url());
    assert_eq!(s.state.deliver_webhooks(&url).await, (2, 0));
    let got = seen.lock().unwrap().1.clone();
    assert_eq!(got.len(), 2);
    for (headers, body) in &got {
        let ts: i64 = headers["x-hubspot-request-timestamp"].to_str().unwrap().parse().unwrap();
        assert_eq!(ts, t0().timestamp_millis());
        let sig = headers["x-hubspot-signature-v3"].to_str().unwrap();
        let expected =
            STANDARD.encode(hmac_sha256(SECRET.as_bytes(), format!("POST{url}{body}{ts}").as_bytes()));
        assert_eq!(sig, expected);
    }
    let first: Vec<Value> = serde_json::from_str(&got[0].1).unwrap();
    let second: Vec<Value> = serde_json::from_str(&got[1].1).unwrap();
    assert_eq!((first.len(), second.len()), (100, 50));
    assert_eq!(first[0]["subscriptionType"], "contact.creation");
    assert_eq!(first[0]["attemptNumber"], 1);
    assert!(first[0]["portalId"].is_u64() && first[0]["occurredAt"].is_i64());
    assert!(s.state.pending_webhooks().is_empty());
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_a_higher_attempt_number() {
    let s = sim().await;
    let id = s.create_contact(json!({"email": "h@x.io"})).await;
    s.state.external_edit(ObjectType::Contacts, id.parse().unwrap(), &props(json!({"phone": "7"}))).unwrap();
    let (rx, seen) = receiver(500).await;
    let url = format!("{}/hook", rx.base_url());
    assert_eq!(s.state.deliver_webhooks(&url).await, (0, 1));
    let pending = s.state.pending_webhooks();
    assert_eq!(pending.len(), 2);
    assert!(pending.iter().all(|e| e.attempt_number == 2));
    assert_eq!(pending[1].subscription_type, "contact.propertyChange");
    assert_eq!(pending[1].property_name.as_deref(), Some("phone"));
    assert_eq!(pending[1].change_source, "CRM_UI");
    seen.lock().unwrap().0 = 204;
    assert_eq!(s.state.deliver_webhooks(&url).await, (1, 0));
    let last: Vec<Value> = serde_json::from_str(&seen.lock().unwrap().1[1].1).unwrap();
    assert_eq!(last[0]["attemptNumber"], 2);
    assert_eq!(last[0]["eventId"], pending[0].event_id);
}
