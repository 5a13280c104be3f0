//! The request pipeline of the real API surface: the gate middleware (request id, injected faults,
//! maintenance 503) and [`Call`], which runs auth (401, then 403), the rate limit (429) and then the
//! handler's own validation (400/422), attaching `X-Request-Id` and the `X-RateLimit-*` headers.

use axum::extract::{FromRequestParts, Query, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::Value;
use sim_core::Injected;

use crate::auth::{AuthOutcome, Principal, Scope};
use crate::error::ApiError;
use crate::ratelimit::{Bucket, Quota};
use crate::state::{Inner, SimState};

/// The request id of one request, set by [`api_gate`].
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Seconds sent in `Retry-After` with a 503 when the fault config names none.
pub const DEFAULT_UNAVAILABLE_RETRY_AFTER: u64 = 30;

/// Middleware for every real-API route: assigns the request id, applies the fault gate, and sets
/// `X-Request-Id` on every response (spec §1 SUGGESTION).
pub async fn api_gate(State(state): State<SimState>, mut req: Request, next: Next) -> Response {
    let rid = state.request_id();
    req.extensions_mut().insert(RequestId(rid.clone()));
    let (injected, latency) = state.faults.decide();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let retry = state.faults.config().retry_after_secs;
    let mut resp = match injected {
        Injected::None => next.run(req).await,
        Injected::TooManyRequests(ra) => ApiError::rate_limited("injected", ra).into_response_with(&rid),
        Injected::Unavailable => {
            ApiError::unavailable(retry.unwrap_or(DEFAULT_UNAVAILABLE_RETRY_AFTER)).into_response_with(&rid)
        }
        Injected::ServerError => ApiError::internal().into_response_with(&rid),
    };
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// A successful answer.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// JSON body (`None`: empty, e.g. 204).
    pub body: Option<Value>,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// For an update: whether it changed the stored record (the request log keeps it).
    pub effect: Option<sim_core::WriteEffect>,
}

impl Reply {
    /// 200 with a JSON body.
    pub fn ok(body: Value) -> Self {
        Self::with(StatusCode::OK, body)
    }

    /// Any status with a JSON body.
    pub fn with(status: StatusCode, body: Value) -> Self {
        Self { status, body: Some(body), headers: Vec::new(), effect: None }
    }

    /// The same reply, recording that the update it answers changed the stored record or not.
    pub fn written<'a>(mut self, changed: bool, fields: impl IntoIterator<Item = &'a String>) -> Self {
        self.effect = Some(sim_core::WriteEffect::one(changed, fields));
        self
    }

    /// 204 No Content.
    pub fn no_content() -> Self {
        Self { status: StatusCode::NO_CONTENT, body: None, headers: Vec::new(), effect: None }
    }
}

/// What a handler gets: the caller and the time.
#[derive(Debug)]
pub struct Ctx {
    /// The authenticated key.
    pub who: Principal,
    /// Simulator time of the request.
    pub now: chrono::DateTime<chrono::Utc>,
    /// The decoded query pairs.
    pub query: Vec<(String, String)>,
}

impl Ctx {
    /// Rejects any query parameter outside `allowed` (400 `unknown_parameter`) and repeats (400).
    pub fn only_params(&self, allowed: &[&str]) -> Result<(), ApiError> {
        for (i, (k, _)) in self.query.iter().enumerate() {
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::unknown_parameter(k));
            }
            if self.query[..i].iter().any(|(k2, _)| k2 == k) {
                return Err(ApiError::invalid(format!("query parameter '{k}' given more than once")));
            }
        }
        Ok(())
    }

    /// A query parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// One real-API call, extracted before the body.
#[derive(Debug)]
pub struct Call {
    state: SimState,
    request_id: String,
    key: Option<String>,
    query: Result<Vec<(String, String)>, String>,
}

impl FromRequestParts<SimState> for Call {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &SimState) -> Result<Self, Self::Rejection> {
        let request_id = match parts.extensions.get::<RequestId>() {
            Some(r) => r.0.clone(),
            None => state.request_id(),
        };
        let key = parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::to_string);
        let query = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map(|q| q.0)
            .map_err(|_| "malformed query string".to_string());
        Ok(Call { state: state.clone(), request_id, key, query })
    }
}

fn with_quota(mut resp: Response, quota: Option<&Quota>) -> Response {
    if let Some(q) = quota {
        for (name, value) in q.headers() {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(HeaderName::from_static(name), v);
            }
        }
    }
    resp
}

impl Call {
    /// The shared state.
    pub fn state(&self) -> &SimState {
        &self.state
    }

    /// Runs `f` under the lock after auth and the rate limit. `f` validates and acts.
    pub fn run(
        self,
        scope: Scope,
        bucket: Bucket,
        f: impl FnOnce(&Ctx, &mut Inner) -> Result<Reply, ApiError>,
    ) -> Response {
        let now = self.state.now();
        let rid = self.request_id;
        let mut inner = self.state.lock();
        let who = match inner.keys.check(self.key.as_deref(), scope) {
            AuthOutcome::Unauthorized(e) => return e.into_response_with(&rid),
            AuthOutcome::Forbidden(who, e) => {
                // 403s count against the bucket (spec §7 SUGGESTION).
                let q = inner.limiter.hit(&who.key, bucket, now);
                return with_quota(e.into_response_with(&rid), Some(&q));
            }
            AuthOutcome::Ok(who) => who,
        };
        let mut quota = inner.limiter.hit(&who.key, bucket, now);
        if quota.exceeded {
            quota.remaining = 0;
            let e = ApiError::rate_limited(bucket.as_str(), Some(quota.retry_after));
            return with_quota(e.into_response_with(&rid), Some(&quota));
        }
        let query = match self.query {
            Ok(q) => q,
            Err(m) => return with_quota(ApiError::invalid(m).into_response_with(&rid), Some(&quota)),
        };
        let ctx = Ctx { who, now, query };
        let resp = match f(&ctx, &mut inner) {
            Ok(reply) => {
                let mut resp = match reply.body {
                    Some(b) => (reply.status, axum::Json(b)).into_response(),
                    None => reply.status.into_response(),
                };
                if let Some(effect) = reply.effect {
                    resp.extensions_mut().insert(effect);
                }
                for (name, value) in reply.headers {
                    if let Ok(v) = HeaderValue::from_str(&value) {
                        resp.headers_mut().insert(HeaderName::from_static(name), v);
                    }
                }
                resp
            }
            Err(e) => e.into_response_with(&rid),
        };
        with_quota(resp, Some(&quota))
    }
}

/// The fallback for unknown paths and methods: 404 with the §8 body.
pub async fn not_found(call: Call) -> Response {
    let rid = call.request_id.clone();
    ApiError::not_found("resource").into_response_with(&rid)
}

/// Parses a JSON object body: malformed JSON or a non-object → 400 (spec §8).
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::invalid("the body must be a JSON object")),
        Err(_) => Err(ApiError::invalid("malformed JSON body")),
    }
}
