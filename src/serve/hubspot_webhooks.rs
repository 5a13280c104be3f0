//! `POST /webhooks/hubspot`: the HubSpot webhook receiver, and the pending-events bound both
//! receivers share ([`PendingGate`]).
//!
//! In the WhiteLabelCRO receiver's order:
//! 1. a body larger than `serve.max_body_bytes` gets 413 before it is read in full, so nothing
//!    oversized is hashed;
//! 2. signature v3 (spec §12) over `POST` + the public URL HubSpot called
//!    (`[systems.NAME.webhook] public_url` + the request's path and query) + the raw body + the
//!    timestamp, any configured client secret, the timestamp within the tolerance (5 min) → 401
//!    and nothing stored;
//! 3. more than `serve.max_pending` unprocessed events stored for the source → 503 with
//!    `Retry-After` and nothing stored: HubSpot retries a failed batch, so refusing loses nothing,
//!    while acknowledging and then dropping would;
//! 4. the batch (a JSON array of up to 100 events) is stored in one transaction
//!    (`Store::record_events`, one commit per delivery), each event once per `eventId` (unique
//!    on (system, event id), a repeat within the batch included), as an
//!    [`EventHint::Changes`] naming the contact or company (merges name the survivor and the
//!    merged ids). HubSpot events only notify: the next run re-reads the named records by id and
//!    never uses `propertyValue`. An event that cannot be read is stored as a quarantined hint
//!    (a dead letter in the next run) and the rest of the batch proceeds → 202 when anything new
//!    was stored, 200 when every event was a replay.
//!
//! A store failure answers 503 and stores nothing of the batch: the sender retries the whole
//! batch. A delivery that stored at least one fresh event wakes the micro-sync worker
//! (`AppState::deliveries`).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use connector_api::{Change, ChangeKind, FieldMap, Quarantined, SharedClock};
use connector_hubspot::webhook::{DEFAULT_TOLERANCE, verify_v3_any};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tracing::{info, warn};

use super::webhooks::{HookError, read_body, refused};
use crate::settings::{Settings, SystemSettings};
use crate::store::{Store, StoreError};
use crate::sync::webhook_events::EventHint;
use crate::webhook_settings::check_settings;

/// `serve.max_pending` when a receiver is built without settings.
pub const DEFAULT_MAX_PENDING: usize = 100_000;
/// What a 503 for a full queue asks the sender to wait, in seconds.
pub const RETRY_AFTER_SECS: u64 = 60;
/// How often a refusing gate re-counts the pending events (they drain as runs process them).
const RECOUNT_WHILE_FULL: Duration = Duration::from_secs(1);
/// How often an admitting gate re-counts (other receivers may share the store).
const RECOUNT_ANYWAY: Duration = Duration::from_secs(30);

/// Receives one HubSpot system's deliveries. Added to the admin router as an [`Extension`] by
/// [`HubspotReceiver::attach`]; without it the route answers 404.
pub struct HubspotReceiver {
    source: String,
    secrets: Vec<SecretString>,
    public_url: String,
    tolerance: Duration,
    max_body: usize,
    store: Arc<dyn Store>,
    clock: SharedClock,
    gate: PendingGate,
}

impl std::fmt::Debug for HubspotReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubspotReceiver")
            .field("source", &self.source)
            .field("secrets", &self.secrets.len())
            .field("public_url", &self.public_url)
            .field("tolerance", &self.tolerance)
            .field("max_body", &self.max_body)
            .field("max_pending", &self.gate.max)
            .finish()
    }
}

impl HubspotReceiver {
    /// A receiver storing events under `source` (the system's configured name), verifying with
    /// any of `secrets` over `public_url` (scheme and host HubSpot calls, no trailing path).
    pub fn new(
        source: impl Into<String>,
        secrets: Vec<SecretString>,
        public_url: impl Into<String>,
        max_body: usize,
        store: Arc<dyn Store>,
        clock: SharedClock,
    ) -> Self {
        Self {
            source: source.into(),
            secrets,
            public_url: public_url.into().trim_end_matches('/').to_string(),
            tolerance: DEFAULT_TOLERANCE,
            max_body,
            store,
            clock,
            gate: PendingGate::new(DEFAULT_MAX_PENDING),
        }
    }

    /// The same with another timestamp tolerance.
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The same with another bound on unprocessed events (`serve.max_pending`).
    pub fn with_max_pending(mut self, max_pending: usize) -> Self {
        self.gate = PendingGate::new(max_pending);
        self
    }

    /// The receiver for the one `hubspot` system with webhook secrets, if there is one. Errors
    /// say which key to fix.
    pub fn from_settings(
        settings: &Settings,
        store: Arc<dyn Store>,
        clock: SharedClock,
    ) -> Result<Option<Self>, String> {
        let mut found = settings.systems.iter().filter_map(|(name, s)| {
            let SystemSettings::Hubspot(h) = s else { return None };
            let hook = settings.hubspot_webhooks.get(name).cloned().unwrap_or_default();
            let refs: Vec<_> = h.webhook_secret.iter().chain(&hook.secrets).cloned().collect();
            (!refs.is_empty()).then_some((name, refs, hook))
        });
        let Some((name, refs, hook)) = found.next() else { return Ok(None) };
        if let Some((other, _, _)) = found.next() {
            return Err(format!(
                "systems `{name}` and `{other}` both have webhook secrets, but /webhooks/hubspot serves one \
                 HubSpot system; keep the secrets on one of them"
            ));
        }
        let tolerance =
            check_settings(&hook).map_err(|(key, why)| format!("systems.{name}.webhook.{key}: {why}"))?;
        let Some(public_url) = hook.public_url.clone() else {
            return Err(format!(
                "systems.{name}.webhook.public_url: required with webhook secrets; the URL HubSpot calls \
                 (e.g. `https://sync.example.com`), which it signs"
            ));
        };
        let secrets = refs
            .iter()
            .map(|r| {
                r.resolve_min(crate::settings::MIN_WEBHOOK_SECRET)
                    .map_err(|why| format!("systems.{name}.webhook_secret(s): {why}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rx = Self::new(name.clone(), secrets, public_url, settings.serve.max_body_bytes, store, clock)
            .with_tolerance(tolerance)
            .with_max_pending(settings.serve.max_pending);
        Ok(Some(rx))
    }

    /// `router` with this receiver behind `POST /webhooks/hubspot`.
    pub fn attach(self, router: Router) -> Router {
        router.layer(Extension(Arc::new(self)))
    }
}

// --- the pending-events bound ----------------------------------------------------------------

/// Bounds the unprocessed events of one source, for a receiver's backpressure.
///
/// The store has no count query, so the gate keeps an estimate: read from the store
/// (`pending_events`, capped at the bound) when the gate starts, every [`RECOUNT_ANYWAY`], and
/// at most every [`RECOUNT_WHILE_FULL`] while it refuses; in between, each admitted event adds
/// one. Runs only ever lower the real count, so the estimate errs towards refusing early,
/// never towards storing past the bound (except by the events other processes stored since the
/// last count).
#[derive(Debug)]
pub(crate) struct PendingGate {
    max: usize,
    state: tokio::sync::Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    estimate: usize,
    counted_at: Option<DateTime<Utc>>,
}

impl PendingGate {
    pub(crate) fn new(max: usize) -> Self {
        Self { max, state: tokio::sync::Mutex::new(GateState::default()) }
    }

    /// `Ok(true)` when `source` is below the bound and `incoming` events may be stored (they
    /// are counted at once, so concurrent deliveries cannot all pass); `Ok(false)` when full.
    pub(crate) async fn admit(
        &self,
        store: &dyn Store,
        source: &str,
        incoming: usize,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut s = self.state.lock().await;
        let age = s.counted_at.map(|at| (now - at).to_std().unwrap_or_default());
        let recount = match age {
            None => true,
            Some(age) if s.estimate >= self.max => age >= RECOUNT_WHILE_FULL,
            Some(age) => age >= RECOUNT_ANYWAY,
        };
        if recount {
            s.estimate = store.count_pending_events(source, self.max.saturating_add(1)).await?;
            s.counted_at = Some(now);
        }
        if s.estimate >= self.max {
            return Ok(false);
        }
        s.estimate += incoming;
        Ok(true)
    }
}

/// The 503 a full queue answers, with `Retry-After`.
pub(crate) fn busy_response(source: &str) -> Response {
    warn!(source = %source, "webhook delivery refused: too many unprocessed events (serve.max_pending)");
    let body = json!({
        "error": "busy",
        "message": "too many webhook events wait to be processed; deliver again later",
    });
    let mut resp = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    resp
}

// --- the handler -----------------------------------------------------------------------------

const NOT_CONFIGURED: &str = "no HubSpot webhook secrets are configured (systems.NAME.webhook_secret)";

/// How one batch went.
#[derive(Debug, Default)]
struct Tally {
    accepted: usize,
    duplicates: usize,
    quarantined: usize,
}

/// `POST /webhooks/hubspot`.
pub(crate) async fn hubspot(
    State(state): State<super::AppState>,
    receiver: Option<Extension<Arc<HubspotReceiver>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(Extension(rx)) = receiver else {
        return HookError::NotConfigured(NOT_CONFIGURED).into_response();
    };
    match receive(&rx, &state.deliveries, &method, &uri, &headers, body).await {
        Ok(t) => {
            let word = if t.accepted + t.quarantined > 0 { "accepted" } else { "duplicate" };
            let status = if word == "accepted" { StatusCode::ACCEPTED } else { StatusCode::OK };
            let body = json!({"status": word, "accepted": t.accepted, "duplicates": t.duplicates,
                "quarantined": t.quarantined});
            (status, axum::Json(body)).into_response()
        }
        Err(e) => refused(&rx.source, e),
    }
}

async fn receive(
    rx: &HubspotReceiver,
    deliveries: &Notify,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Tally, HookError> {
    let body = read_body(headers, body, rx.max_body).await?;
    let now = rx.clock.now();
    let signed_uri = format!("{}{}", rx.public_url, uri.path_and_query().map_or("/", |p| p.as_str()));
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let secrets: Vec<&str> = rx.secrets.iter().map(|s| s.expose_secret()).collect();
    verify_v3_any(
        &secrets,
        method.as_str(),
        &signed_uri,
        &body,
        text("x-hubspot-request-timestamp"),
        text("x-hubspot-signature-v3"),
        now,
        rx.tolerance,
    )
    .map_err(|e| HookError::Signature(e.to_string()))?;
    let events = events_of(&body);
    if !rx.gate.admit(rx.store.as_ref(), &rx.source, events.len(), now).await? {
        return Err(HookError::Busy);
    }
    let rows = events
        .iter()
        .map(|(id, hint)| Ok((id.clone(), serde_json::to_string(hint)?)))
        .collect::<Result<Vec<_>, serde_json::Error>>()
        .map_err(|e| HookError::Read(e.to_string()))?;
    let fresh = rx.store.record_events(&rx.source, &rows, now).await?;
    let mut tally = Tally::default();
    for ((_, hint), fresh) in events.iter().zip(fresh) {
        match (fresh, hint) {
            (false, _) => tally.duplicates += 1,
            (true, EventHint::Quarantined(_)) => tally.quarantined += 1,
            (true, EventHint::Changes { .. }) => tally.accepted += 1,
        }
    }
    if tally.accepted + tally.quarantined > 0 {
        deliveries.notify_one();
    }
    info!(source = %rx.source, events = events.len(), accepted = tally.accepted, duplicates = tally.duplicates,
        quarantined = tally.quarantined, "webhook batch");
    Ok(tally)
}

/// The events of a batch whose signature checked out, each with the id to de-duplicate on and
/// what to persist. A body that is not a JSON array is one quarantined item.
fn events_of(body: &[u8]) -> Vec<(String, EventHint)> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => items.iter().map(event_of).collect(),
        _ => vec![quarantine(None, "hubspot webhook: the body is not a JSON array of events", body)],
    }
}

fn event_of(item: &Value) -> (String, EventHint) {
    let raw = item.to_string();
    let Some(event_id) = item.get("eventId").and_then(id_text) else {
        return quarantine(None, "hubspot webhook: an event without a numeric eventId", raw.as_bytes());
    };
    match changes_of(item, &event_id) {
        Ok((event_type, changes)) => (event_id, EventHint::Changes { event_type, changes }),
        Err(why) => quarantine(Some(event_id), &format!("hubspot webhook: {why}"), raw.as_bytes()),
    }
}

/// What an event names: its object's record (and a merge's other records), or nothing for
/// object types no pair syncs.
fn changes_of(item: &Value, event_id: &str) -> Result<(String, Vec<Change>), String> {
    let kind = item.get("subscriptionType").and_then(Value::as_str).ok_or("no subscriptionType")?;
    let occurred = item.get("occurredAt").and_then(Value::as_i64).ok_or("no occurredAt (epoch ms)")?;
    let occurred = DateTime::from_timestamp_millis(occurred).ok_or("occurredAt is out of range")?;
    let (singular, action) = kind.split_once('.').ok_or("subscriptionType is not `object.action`")?;
    let object = match singular {
        "contact" => "contacts",
        "company" => "companies",
        _ => return Ok((kind.to_string(), Vec::new())),
    };
    let id = item.get("objectId").and_then(id_text).ok_or("no numeric objectId")?;
    let change = |id: String, kind: ChangeKind| Change {
        object: object.to_string(),
        id,
        kind,
        modified_at: occurred,
        fields: FieldMap::default(),
        partial: true,
        event_id: Some(event_id.to_string()),
    };
    let mut changes = Vec::new();
    match action {
        "deletion" => changes.push(change(id, ChangeKind::Deleted)),
        "restore" => changes.push(change(id, ChangeKind::Undeleted)),
        "merge" => {
            let survivor = ["newObjectId", "primaryObjectId"]
                .iter()
                .find_map(|k| item.get(*k).and_then(id_text))
                .unwrap_or_else(|| id.clone());
            let merged = item.get("mergedObjectIds").and_then(Value::as_array).into_iter().flatten();
            for m in merged.filter_map(id_text).filter(|m| *m != survivor) {
                changes.push(change(m, ChangeKind::Merged { survivor_id: survivor.clone() }));
            }
            changes.push(change(survivor, ChangeKind::Upsert));
        }
        _ => changes.push(change(id, ChangeKind::Upsert)),
    }
    Ok((kind.to_string(), changes))
}

/// A HubSpot id: a JSON number, or a string of digits.
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => Some(s.clone()),
        _ => None,
    }
}

/// A quarantined item; without an event id, identical bytes share one so a retried bad event is
/// stored once.
fn quarantine(event_id: Option<String>, reason: &str, raw: &[u8]) -> (String, EventHint) {
    let key =
        event_id.clone().unwrap_or_else(|| format!("invalid:{}", hex::encode(&Sha256::digest(raw)[..16])));
    // The record the event names, when readable, so a retried dead letter can re-read it (the
    // event id is the stored event's key).
    let object_id = serde_json::from_slice::<Value>(raw)
        .ok()
        .and_then(|v| v.get("objectId").map(|id| id.to_string().trim_matches('"').to_string()));
    let q = Quarantined {
        id: object_id,
        reason: reason.to_string(),
        raw: String::from_utf8_lossy(&raw[..raw.len().min(2000)]).into_owned(),
    };
    (key, EventHint::Quarantined(q))
}
