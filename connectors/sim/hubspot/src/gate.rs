//! The request gate in front of the real API: injected faults (generic and HubSpot's own 423 /
//! 502 / 504 / 524), Bearer auth, rate limits with their headers, and the `correlationId` every
//! error body carries. Control routes (`/_sim`) pass straight through.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sim_core::Injected;

use crate::SimState;
use crate::control::PREFIX;
use crate::error::ApiError;
use crate::ratelimit::Policy;

/// HubSpot-specific fault rates (0–1 each), rolled after the generic [`sim_core::FaultGate`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quirks {
    /// 423 Locked on writes (spec §4: "wait ≥2 s").
    pub rate_423: f64,
    /// 502 processing limit.
    pub rate_502: f64,
    /// 504 processing limit.
    pub rate_504: f64,
    /// 524 (no response within 100 s).
    pub rate_524: f64,
}

fn with_status(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn injected_response(inj: Injected) -> Option<Response> {
    match inj {
        Injected::None => None,
        Injected::TooManyRequests(retry_after) => {
            let mut r = with_status(StatusCode::TOO_MANY_REQUESTS, Policy::Burst.body());
            if let Some(secs) = retry_after {
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            Some(r)
        }
        Injected::Unavailable => Some(
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", "Service unavailable")
                .into_response(),
        ),
        Injected::ServerError => Some(
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "internal error")
                .into_response(),
        ),
    }
}

fn quirk_response(state: &SimState, is_write: bool) -> Option<Response> {
    let mut inner = state.lock();
    let q = inner.quirks.clone();
    let roll: f64 = inner.rng.random();
    let locked = if is_write { q.rate_423 } else { 0.0 };
    let (status, category, msg) = if roll < locked {
        (423, "LOCKED", "The resource is locked; wait at least 2 seconds before retrying.")
    } else if roll < locked + q.rate_502 {
        (502, "BAD_GATEWAY", "Processing limit reached; pause and retry.")
    } else if roll < locked + q.rate_502 + q.rate_504 {
        (504, "GATEWAY_TIMEOUT", "Processing limit reached; pause and retry.")
    } else if roll < locked + q.rate_502 + q.rate_504 + q.rate_524 {
        (524, "TIMEOUT", "A timeout occurred.")
    } else {
        return None;
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    Some(ApiError::new(status, category, msg).into_response())
}

/// The accepted Bearer token of the request, if any.
fn authorized(state: &SimState, req: &Request) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())?;
    let token = value.strip_prefix("Bearer ")?;
    state.config.tokens.iter().any(|ok| ok == token).then(|| token.to_string())
}

/// The 401 body (category `INVALID_AUTHENTICATION`, spec §11).
fn unauthorized() -> Response {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can \
         find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
    )
    .into_response()
}

/// axum middleware: see the module doc.
pub async fn gate(State(state): State<SimState>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with(PREFIX) {
        return next.run(req).await;
    }
    let resp = admit_and_run(&state, req, next).await;
    add_correlation_id(&state, resp).await
}

async fn admit_and_run(state: &SimState, req: Request, next: Next) -> Response {
    let (inj, latency) = state.faults.decide();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(r) = injected_response(inj) {
        return r;
    }
    let is_write = req.method() != Method::GET;
    if let Some(r) = quirk_response(state, is_write) {
        return r;
    }
    if req.uri().path().starts_with("/oauth/") {
        return next.run(req).await; // token info: the token is in the body
    }
    let Some(token) = authorized(state, &req) else {
        return unauthorized();
    };
    if let Some(needed) = crate::properties::required_scopes(req.method(), req.uri().path()) {
        let granted = state.scopes_of(&token);
        if !needed.iter().any(|n| granted.contains(n)) {
            return crate::properties::missing_scopes(&needed).into_response();
        }
    }
    let is_search = req.method() == Method::POST && req.uri().path().ends_with("/search");
    let now = state.clock.now();
    let admitted = state.lock().limiter.admit(now, is_search);
    let headers = match admitted {
        Ok(h) => h,
        Err(policy) => return with_status(StatusCode::TOO_MANY_REQUESTS, policy.body()),
    };
    let mut resp = next.run(req).await;
    if let Some(h) = headers {
        for (name, value) in h.pairs() {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, v);
            }
        }
    }
    resp
}

async fn add_correlation_id(state: &SimState, resp: Response) -> Response {
    if resp.status().as_u16() < 400 {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = to_bytes(body, 1 << 20).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let id = state.correlation_id();
    if map.get("errorType").is_some() {
        map.entry("requestId").or_insert_with(|| json!(id.clone()));
    }
    map.entry("correlationId").or_insert_with(|| json!(id));
    let out = serde_json::to_vec(&map).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(out))
}
