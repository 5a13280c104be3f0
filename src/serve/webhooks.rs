//! `POST /webhooks/wlcro`: the WhiteLabelCRO webhook receiver.
//!
//! Authenticated by the delivery's signature, not by the admin token or CSRF. In order:
//! 1. a body larger than `serve.max_body_bytes` gets 413 before it is read in full (a declared
//!    `Content-Length` is refused at once; a streamed body is refused as soon as it passes the
//!    limit), so nothing oversized is ever hashed;
//! 2. the signature is checked over the raw bytes (constant time, any configured secret, the
//!    timestamp within the tolerance) → 401 `{"error":"unauthorized"}` (the reason only in the log,
//!    at debug) and nothing stored;
//!    then, above `serve.max_pending` unprocessed events of the system → 503 with `Retry-After`
//!    and nothing stored (the sender retries; see `hubspot_webhooks::PendingGate`);
//! 3. the event is read and persisted once per event id (`Store::record_events`, unique on
//!    (system, event id)) as an [`EventHint`] for the next run → 202 `{"status":"accepted"}`
//!    (which wakes the micro-sync worker: `AppState::deliveries`), or 200
//!    `{"status":"duplicate"}` for a replay;
//! 4. a correctly signed body that is not a readable event is persisted as a quarantined hint
//!    (the next run turns it into a dead letter with the reason) → 202 `{"status":"quarantined"}`:
//!    a 4xx would only make the sender retry the same bytes for 17 hours and trip its circuit
//!    breaker.
//!
//! The event id used for de-duplication is the one inside the signed body, never the unsigned
//! `X-Webhook-Event-Id` header.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use connector_api::SharedClock;
use connector_whitelabelcro::webhook::WebhookVerifier;
use connector_whitelabelcro::wire::Envelope;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tracing::{info, warn};

use super::hubspot_webhooks::{PendingGate, busy_response};
use crate::settings::{Settings, SystemSettings};
use crate::store::{Store, StoreError};
use crate::sync::webhook_events::EventHint;
use crate::webhook_settings::signature_scheme;

/// The objects whose changes a WhiteLabelCRO event can name.
const OBJECTS: [&str; 3] = ["people", "clients", "leads"];

/// Receives one WhiteLabelCRO system's deliveries. Added to the admin router as an
/// [`Extension`] by [`WlcroReceiver::attach`]; without it the route answers 404.
pub struct WlcroReceiver {
    source: String,
    verifier: WebhookVerifier,
    max_body: usize,
    store: Arc<dyn Store>,
    clock: SharedClock,
    gate: PendingGate,
}

impl std::fmt::Debug for WlcroReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WlcroReceiver")
            .field("source", &self.source)
            .field("verifier", &self.verifier)
            .field("max_body", &self.max_body)
            .finish()
    }
}

impl WlcroReceiver {
    /// A receiver storing events under `source` (the system's configured name).
    pub fn new(
        source: impl Into<String>,
        verifier: WebhookVerifier,
        max_body: usize,
        store: Arc<dyn Store>,
        clock: SharedClock,
    ) -> Self {
        let gate = PendingGate::new(super::hubspot_webhooks::DEFAULT_MAX_PENDING);
        Self { source: source.into(), verifier, max_body, store, clock, gate }
    }

    /// The same with another bound on unprocessed events (`serve.max_pending`): above it a
    /// delivery gets 503 with `Retry-After` and nothing is stored.
    pub fn with_max_pending(mut self, max_pending: usize) -> Self {
        self.gate = PendingGate::new(max_pending);
        self
    }

    /// The receiver for the one `whitelabelcro` system with `webhook_secrets`, if there is one.
    /// Errors say which key to fix.
    pub fn from_settings(
        settings: &Settings,
        store: Arc<dyn Store>,
        clock: SharedClock,
    ) -> Result<Option<Self>, String> {
        let mut found = settings.systems.iter().filter_map(|(name, s)| match s {
            SystemSettings::Whitelabelcro(w) if !w.webhook_secrets.is_empty() => Some((name, w)),
            _ => None,
        });
        let Some((name, w)) = found.next() else { return Ok(None) };
        if let Some((other, _)) = found.next() {
            return Err(format!(
                "systems `{name}` and `{other}` both have webhook_secrets, but /webhooks/wlcro serves one \
                 WhiteLabelCRO system; keep the secrets on one of them"
            ));
        }
        let scheme = signature_scheme(w).map_err(|problems| {
            let (key, message) = &problems[0];
            format!("systems.{name}.webhook.{key}: {message}")
        })?;
        let secrets = w
            .webhook_secrets
            .iter()
            .map(|r| {
                r.resolve_min(crate::settings::MIN_WEBHOOK_SECRET)
                    .map_err(|why| format!("systems.{name}.webhook_secrets: {why}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let verifier = WebhookVerifier::new(scheme, secrets);
        Ok(Some(
            Self::new(name.clone(), verifier, settings.serve.max_body_bytes, store, clock)
                .with_max_pending(settings.serve.max_pending),
        ))
    }

    /// `router` with this receiver behind `POST /webhooks/wlcro`.
    pub fn attach(self, router: Router) -> Router {
        router.layer(Extension(Arc::new(self)))
    }
}

const NOT_CONFIGURED: &str = "no WhiteLabelCRO webhook secrets are configured (systems.NAME.webhook_secrets)";

/// Why a delivery was not accepted (both receivers).
#[derive(Debug, thiserror::Error)]
pub(super) enum HookError {
    /// No secrets for this source; the message names the setting.
    #[error("{0}")]
    NotConfigured(&'static str),
    #[error("the body is larger than {0} bytes (serve.max_body_bytes)")]
    TooLarge(usize),
    #[error("the body could not be read: {0}")]
    Read(String),
    /// The verifier's reason (never the secret or the expected signature).
    #[error("{0}")]
    Signature(String),
    #[error("the state store is unavailable; deliver again later")]
    Store(#[from] StoreError),
    #[error("too many events wait to be processed")]
    Busy,
}

impl IntoResponse for HookError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            HookError::NotConfigured(_) => (StatusCode::NOT_FOUND, "not_found"),
            HookError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            HookError::Read(_) => (StatusCode::BAD_REQUEST, "invalid"),
            HookError::Signature(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            HookError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            HookError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        };
        if let HookError::Signature(_) = &self {
            // Which check failed (signature, timestamp skew) helps a forger, not the sender.
            return (status, axum::Json(json!({"error": code}))).into_response();
        }
        (status, axum::Json(json!({"error": code, "message": self.to_string()}))).into_response()
    }
}

/// The answer to a refused delivery, logged (the reason only, never the body or a secret).
pub(super) fn refused(source: &str, e: HookError) -> Response {
    match &e {
        HookError::Busy => return busy_response(source),
        HookError::Signature(why) => {
            // The reason only at debug (it can carry the clock skew); never a secret or the body.
            tracing::debug!(source = %source, reason = %why, "webhook delivery refused: not authentic");
            warn!(source = %source, "webhook delivery refused: not authentic (401)");
        }
        HookError::Store(why) => warn!(source = %source, error = %why, "webhook delivery not stored"),
        _ => {}
    }
    e.into_response()
}

/// The body, at most `limit` bytes: a declared `Content-Length` over it is refused at once, a
/// streamed body as soon as it passes it, so nothing oversized is ever hashed.
pub(super) async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, HookError> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(HookError::TooLarge(limit));
    }
    read_limited(body, limit).await
}

/// `POST /webhooks/wlcro`.
pub(crate) async fn wlcro(
    State(state): State<super::AppState>,
    receiver: Option<Extension<Arc<WlcroReceiver>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(Extension(rx)) = receiver else {
        return HookError::NotConfigured(NOT_CONFIGURED).into_response();
    };
    match receive(&rx, &state.deliveries, &headers, body).await {
        Ok((status, word)) => (status, axum::Json(json!({"status": word}))).into_response(),
        Err(e) => refused(&rx.source, e),
    }
}

async fn receive(
    rx: &WlcroReceiver,
    deliveries: &Notify,
    headers: &HeaderMap,
    body: Body,
) -> Result<(StatusCode, &'static str), HookError> {
    let body = read_body(headers, body, rx.max_body).await?;
    let now = rx.clock.now();
    rx.verifier.verify(headers, &body, now).map_err(|e| HookError::Signature(e.to_string()))?;
    if !rx.gate.admit(rx.store.as_ref(), &rx.source, 1, now).await? {
        return Err(HookError::Busy);
    }
    let (event_id, hint) = hint_of(rx, headers, &body, now);
    let payload = serde_json::to_string(&hint).map_err(|e| HookError::Read(e.to_string()))?;
    let fresh = rx.store.record_events(&rx.source, &[(event_id.clone(), payload)], now).await?;
    let fresh = fresh.first().copied().unwrap_or(false);
    if fresh {
        deliveries.notify_one();
    }
    let word = match (&hint, fresh) {
        (_, false) => "duplicate",
        (EventHint::Quarantined(_), true) => "quarantined",
        (EventHint::Changes { .. }, true) => "accepted",
    };
    info!(source = %rx.source, event_id = %event_id, outcome = word, "webhook delivery");
    let status = if fresh { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok((status, word))
}

/// The event id to de-duplicate on and what to persist, from a body whose signature checked out:
/// the changes it names, or a quarantined item when it is not a readable event.
fn hint_of(
    rx: &WlcroReceiver,
    headers: &HeaderMap,
    body: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> (String, EventHint) {
    let envelope = serde_json::from_slice(body).ok().and_then(|v| Envelope::parse(&v).ok());
    let mut changes = Vec::new();
    let mut quarantined = None;
    for object in OBJECTS {
        match rx.verifier.receive(object, headers, body, now) {
            Ok(Some(change)) => changes.push(change),
            Ok(None) => {}
            Err(q) => {
                quarantined = Some(q);
                break;
            }
        }
    }
    match (envelope, quarantined) {
        (Some(env), None) => {
            (env.id.to_string(), EventHint::Changes { event_type: env.kind.clone(), changes })
        }
        (env, q) => {
            // Identical unreadable bodies share an id, so a retried bad delivery is stored once.
            let id = env.as_ref().map_or_else(
                || format!("invalid:{}", hex::encode(&Sha256::digest(body)[..16])),
                |e| e.id.to_string(),
            );
            let mut q = q.unwrap_or_else(|| connector_api::Quarantined {
                id: None,
                reason: "whitelabelcro webhook: the body is not an event envelope".into(),
                raw: String::new(),
            });
            // The record it names, when readable, so a retried dead letter can re-read it (the
            // event id is the stored event's key).
            q.id = env.and_then(|e| e.client_id().ok()).map(|id| id.to_string());
            q.raw = String::from_utf8_lossy(&body[..body.len().min(2000)]).into_owned();
            (id, EventHint::Quarantined(q))
        }
    }
}

/// Reads at most `limit` bytes; [`HookError::TooLarge`] as soon as the body passes it.
async fn read_limited(mut body: Body, limit: usize) -> Result<Bytes, HookError> {
    let mut buf = Vec::new();
    loop {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| HookError::Read(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(HookError::TooLarge(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}
