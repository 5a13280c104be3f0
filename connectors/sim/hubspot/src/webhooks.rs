//! Webhook events and their delivery: the outbox, batches of up to 100 events, signature v3
//! (spec §12) and retries with `attemptNumber`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;

/// Events per delivery (spec §12 / scenarios H.2).
pub const MAX_BATCH: usize = 100;
/// Deliveries are retried up to this many attempts, then dropped (spec §12: up to 10 retries).
pub const MAX_ATTEMPTS: u32 = 10;

/// Escapes the request-validation docs have verifiers decode before hashing; HubSpot hashes the
/// decoded form, so [`sign_v3`] decodes them too.
const DECODED: &[(&str, &str)] = &[
    ("%3A", ":"),
    ("%2F", "/"),
    ("%3F", "?"),
    ("%40", "@"),
    ("%21", "!"),
    ("%24", "$"),
    ("%27", "'"),
    ("%28", "("),
    ("%29", ")"),
    ("%2A", "*"),
    ("%2C", ","),
    ("%3B", ";"),
];

/// Signature v3: base64(HMAC-SHA256(secret, method + uri + body + timestamp)), where `uri` is the
/// full URL called (its escapes from the documented set decoded) and `timestamp_ms` is the value of
/// `X-HubSpot-Request-Timestamp`.
pub fn sign_v3(secret: &str, method: &str, uri: &str, body: &str, timestamp_ms: i64) -> String {
    let mut uri = uri.to_string();
    for (from, to) in DECODED {
        uri = uri.replace(from, to).replace(&from.to_lowercase(), to);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac takes any key length");
    mac.update(format!("{method}{uri}{body}{timestamp_ms}").as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// One webhook event as HubSpot sends it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    /// Unique per event (duplicates on retry keep it).
    pub event_id: u64,
    /// Subscription id (fixed per subscription type in the simulator).
    pub subscription_id: u64,
    /// The account.
    pub portal_id: u64,
    /// The app.
    pub app_id: u64,
    /// Epoch ms.
    pub occurred_at: i64,
    /// `contact.creation`, `contact.propertyChange`, `contact.deletion`, `contact.restore`,
    /// `contact.merge` (and `company.*`).
    pub subscription_type: String,
    /// 1 on first delivery.
    pub attempt_number: u32,
    /// The record.
    pub object_id: u64,
    /// For property changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_name: Option<String>,
    /// For property changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_value: Option<String>,
    /// `API`, `CRM_UI`, `MERGE`, …
    pub change_source: String,
    /// For merges.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_object_id: Option<u64>,
    /// For merges.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_object_ids: Option<Vec<u64>>,
    /// For merges (the survivor's id after the merge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_object_id: Option<u64>,
}

/// A signed delivery ready to POST.
#[derive(Debug, Clone, Serialize)]
pub struct SignedBatch {
    /// Full URL it is sent to (also what was signed).
    pub uri: String,
    /// Raw JSON array body.
    pub body: String,
    /// `X-HubSpot-Request-Timestamp`.
    pub timestamp_ms: i64,
    /// `X-HubSpot-Signature-v3`.
    pub signature_v3: String,
    /// The events inside (kept for retries).
    pub events: Vec<WebhookEvent>,
}

/// The pending events.
#[derive(Debug, Default)]
pub struct Outbox {
    events: Vec<WebhookEvent>,
    next_event_id: u64,
    /// Portal (account) id stamped on events.
    pub portal_id: u64,
    /// App id stamped on events.
    pub app_id: u64,
}

impl Outbox {
    /// An empty outbox for one portal and app.
    pub fn new(portal_id: u64, app_id: u64) -> Self {
        Self { portal_id, app_id, ..Self::default() }
    }

    /// Queues an event, giving it a fresh event id and the portal/app/subscription ids.
    pub fn push(&mut self, mut event: WebhookEvent) {
        self.next_event_id += 1;
        event.event_id = self.next_event_id;
        event.portal_id = self.portal_id;
        event.app_id = self.app_id;
        event.subscription_id = subscription_id(&event.subscription_type);
        self.events.push(event);
    }

    /// Events not yet delivered.
    pub fn pending(&self) -> &[WebhookEvent] {
        &self.events
    }

    /// Drains the outbox into signed batches of at most [`MAX_BATCH`] events.
    pub fn take_batches(&mut self, secret: &str, uri: &str, now_ms: i64) -> Vec<SignedBatch> {
        let events = std::mem::take(&mut self.events);
        events.chunks(MAX_BATCH).map(|chunk| sign_batch(secret, uri, now_ms, chunk.to_vec())).collect()
    }

    /// Puts a failed batch back with `attemptNumber` bumped (dropped after [`MAX_ATTEMPTS`]).
    pub fn requeue(&mut self, batch: SignedBatch) {
        for mut e in batch.events {
            if e.attempt_number < MAX_ATTEMPTS {
                e.attempt_number += 1;
                self.events.push(e);
            }
        }
    }
}

/// Signs one batch.
pub fn sign_batch(secret: &str, uri: &str, now_ms: i64, events: Vec<WebhookEvent>) -> SignedBatch {
    let body = serde_json::to_string(&events).expect("events serialise");
    let signature_v3 = sign_v3(secret, "POST", uri, &body, now_ms);
    SignedBatch { uri: uri.to_string(), body, timestamp_ms: now_ms, signature_v3, events }
}

fn subscription_id(kind: &str) -> u64 {
    kind.bytes().fold(1000_u64, |acc, b| acc.wrapping_mul(31).wrapping_add(u64::from(b))) % 1_000_000
}

/// A new event with the per-outbox fields left for [`Outbox::push`] to fill.
pub fn event(kind: String, object_id: u64, occurred_at: i64, change_source: &str) -> WebhookEvent {
    WebhookEvent {
        event_id: 0,
        subscription_id: 0,
        portal_id: 0,
        app_id: 0,
        occurred_at,
        subscription_type: kind,
        attempt_number: 1,
        object_id,
        property_name: None,
        property_value: None,
        change_source: change_source.to_string(),
        primary_object_id: None,
        merged_object_ids: None,
        new_object_id: None,
    }
}

/// POSTs one batch with the v3 (and no legacy) signature headers; true on a 2xx answered.
pub async fn post_batch(client: &reqwest::Client, batch: &SignedBatch) -> bool {
    let res = client
        .post(&batch.uri)
        .header("content-type", "application/json")
        .header("X-HubSpot-Signature-v3", &batch.signature_v3)
        .header("X-HubSpot-Request-Timestamp", batch.timestamp_ms.to_string())
        .body(batch.body.clone())
        .send()
        .await;
    matches!(res, Ok(r) if r.status().is_success())
}
