//! The `/_sim/` HTTP control API (not part of the real API; no auth, not logged, not faulted).
//! Each route is a thin wrapper over a method in `control`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sim_core::FaultConfig;

use crate::auth::{ApiKeyConfig, Scope};
use crate::control::{ControlError, SeedRecord};
use crate::delivery::WebhookFaults;
use crate::model::ts;
use crate::ratelimit::RateLimitConfig;
use crate::state::SimState;

/// The control routes.
pub fn routes() -> Router<SimState> {
    Router::new()
        .route("/_sim/seed/clients", post(seed_clients))
        .route("/_sim/seed/leads", post(seed_leads))
        .route("/_sim/ui/clients/{id}", patch(ui_edit))
        .route("/_sim/ui/clients/{id}/status", post(ui_status))
        .route("/_sim/ui/events", post(ui_event))
        .route("/_sim/burst", post(burst))
        .route("/_sim/faults", get(get_faults).put(put_faults))
        .route("/_sim/webhook-faults", put(put_hook_faults))
        .route("/_sim/clock", get(get_clock).post(post_clock))
        .route("/_sim/requests", get(requests).delete(clear_requests))
        .route("/_sim/records", get(records))
        .route("/_sim/events", get(events))
        .route("/_sim/deliveries", get(deliveries))
        .route("/_sim/subscriptions", get(subscriptions))
        .route("/_sim/rate-limits", get(get_limits).put(put_limits))
        .route("/_sim/deliver", post(deliver))
        .route("/_sim/keys", post(add_key))
        .route("/_sim/keys/revoke", post(revoke_key))
}

fn fail(e: &ControlError) -> Response {
    let status = match e {
        ControlError::NotFound(_) => StatusCode::NOT_FOUND,
        ControlError::Invalid(_) => StatusCode::BAD_REQUEST,
    };
    (status, Json(json!({ "error": e.to_string() }))).into_response()
}

fn answer<T: serde::Serialize>(r: Result<T, ControlError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => fail(&e),
    }
}

/// `{"records": [...], "emit_events": false}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedBody {
    records: Vec<SeedRecord>,
    #[serde(default)]
    emit_events: bool,
}

fn seed_many(state: &SimState, body: SeedBody, lead: bool) -> Response {
    let ids: Result<Vec<i64>, ControlError> =
        body.records.into_iter().map(|r| state.seed_at(r, lead, body.emit_events, None)).collect();
    answer(ids.map(|ids| json!({ "client_ids": ids })))
}

async fn seed_clients(State(s): State<SimState>, Json(b): Json<SeedBody>) -> Response {
    seed_many(&s, b, false)
}

async fn seed_leads(State(s): State<SimState>, Json(b): Json<SeedBody>) -> Response {
    seed_many(&s, b, true)
}

async fn ui_edit(
    State(s): State<SimState>,
    Path(id): Path<i64>,
    Json(b): Json<Map<String, Value>>,
) -> Response {
    answer(s.ui_edit(id, &b).map(|()| json!({ "client_id": id })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UiStatus {
    status: String,
    #[serde(default)]
    user_id: Option<i64>,
}

async fn ui_status(State(s): State<SimState>, Path(id): Path<i64>, Json(b): Json<UiStatus>) -> Response {
    answer(s.ui_status(id, &b.status, b.user_id).map(|ev| json!({ "event_id": ev })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UiEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    company_id: Option<i64>,
}

async fn ui_event(State(s): State<SimState>, Json(b): Json<UiEvent>) -> Response {
    answer(s.inject_event(&b.kind, b.payload, b.company_id).map(|e| e.envelope()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Burst {
    count: usize,
    #[serde(default)]
    company_id: Option<i64>,
}

async fn burst(State(s): State<SimState>, Json(b): Json<Burst>) -> Response {
    answer(s.burst(b.count, b.company_id).map(|ids| json!({ "event_ids": ids })))
}

async fn get_faults(State(s): State<SimState>) -> Response {
    Json(s.faults.config()).into_response()
}

async fn put_faults(State(s): State<SimState>, Json(cfg): Json<FaultConfig>) -> Response {
    s.set_faults(cfg);
    Json(s.faults.config()).into_response()
}

async fn put_hook_faults(State(s): State<SimState>, Json(f): Json<WebhookFaults>) -> Response {
    s.set_webhook_faults(f.clone());
    Json(f).into_response()
}

/// `{"advance_secs"?, "offset_secs"?, "set"?: RFC 3339}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockOp {
    #[serde(default)]
    advance_secs: Option<i64>,
    #[serde(default)]
    offset_secs: Option<i64>,
    #[serde(default)]
    set: Option<DateTime<Utc>>,
}

async fn get_clock(State(s): State<SimState>) -> Response {
    Json(json!({ "now": ts(s.now()) })).into_response()
}

async fn post_clock(State(s): State<SimState>, Json(op): Json<ClockOp>) -> Response {
    if let Some(t) = op.set {
        s.clock.set(t);
    }
    if let Some(o) = op.offset_secs {
        s.set_clock_offset(Duration::seconds(o));
    }
    if let Some(a) = op.advance_secs {
        s.advance(Duration::seconds(a));
    }
    get_clock(State(s)).await
}

async fn requests(State(s): State<SimState>) -> Response {
    Json(s.requests()).into_response()
}

async fn clear_requests(State(s): State<SimState>) -> Response {
    s.log.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn records(State(s): State<SimState>) -> Response {
    Json(s.records()).into_response()
}

async fn events(State(s): State<SimState>) -> Response {
    let evs: Vec<Value> = s.events().iter().map(|e| e.envelope()).collect();
    Json(json!({ "events": evs, "count": evs.len() })).into_response()
}

async fn deliveries(State(s): State<SimState>) -> Response {
    let (d, a) = s.deliveries();
    Json(json!({ "deliveries": d, "attempts": a })).into_response()
}

async fn subscriptions(State(s): State<SimState>) -> Response {
    Json(json!({ "subscriptions": s.subscriptions() })).into_response()
}

async fn get_limits(State(s): State<SimState>) -> Response {
    Json(s.rate_limits()).into_response()
}

async fn put_limits(State(s): State<SimState>, Json(cfg): Json<RateLimitConfig>) -> Response {
    s.set_rate_limits(cfg);
    Json(s.rate_limits()).into_response()
}

async fn deliver(State(s): State<SimState>) -> Response {
    let sent = s.deliver_due(s.now()).await;
    Json(json!({ "sent": sent })).into_response()
}

/// `{"key", "scopes": "events:read,admin"}` (the key record's comma-separated form).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    key: String,
    #[serde(default)]
    scopes: String,
}

async fn add_key(State(s): State<SimState>, Json(b): Json<KeyBody>) -> Response {
    let ok = s.add_key(&ApiKeyConfig { key: b.key, scopes: Scope::parse_list(&b.scopes) });
    let status = if ok { StatusCode::CREATED } else { StatusCode::BAD_REQUEST };
    (status, Json(json!({ "added": ok }))).into_response()
}

async fn revoke_key(State(s): State<SimState>, Json(b): Json<KeyBody>) -> Response {
    let ok = s.revoke_key(&b.key);
    let status = if ok { StatusCode::OK } else { StatusCode::NOT_FOUND };
    (status, Json(json!({ "revoked": ok }))).into_response()
}
