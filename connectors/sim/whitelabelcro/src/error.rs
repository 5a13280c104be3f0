//! The API error type and its wire body (spec §8 suggestion):
//! `{"error": {"code", "message", "details"?}, "request_id"}` with `Content-Type: application/json`.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

/// An error answer of the real API surface. `code` is one of the §8 snake_case codes.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `invalid_request`, `unknown_parameter`, `unauthorized`, ...
    pub code: &'static str,
    /// Human text (never carries field values).
    pub message: String,
    /// Optional structured details.
    pub details: Option<Value>,
    /// `Retry-After` seconds, for 429/503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: None, retry_after: None }
    }

    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 400 `unknown_parameter` with `details.parameter`.
    pub fn unknown_parameter(name: &str) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "unknown_parameter", "unknown query parameter");
        e.details = Some(json!({ "parameter": name }));
        e
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 `insufficient_scope` with `details.required_scope`.
    pub fn insufficient_scope(scope: &str) -> Self {
        let mut e = Self::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("this API key lacks the required scope '{scope}'"),
        );
        e.details = Some(json!({ "required_scope": scope }));
        e
    }

    /// 404 `not_found`.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 422 `validation_failed` with `details.fields: {name: reason}`.
    pub fn validation(field: &str, reason: &str) -> Self {
        let mut e = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "validation failed");
        e.details = Some(json!({ "fields": { field: reason } }));
        e
    }

    /// 429 `rate_limited` with `details.bucket`.
    pub fn rate_limited(bucket: &str, retry_after: Option<u64>) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "rate limit exceeded");
        e.details = Some(json!({ "bucket": bucket }));
        e.retry_after = retry_after;
        e
    }

    /// 503 `service_unavailable` with `Retry-After`.
    pub fn unavailable(retry_after: u64) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", "service unavailable");
        e.retry_after = Some(retry_after);
        e
    }

    /// 500 `internal_error` (only ever injected by the fault gate).
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal server error")
    }

    /// The §8 body.
    pub fn body(&self, request_id: &str) -> Value {
        let mut err = json!({ "code": self.code, "message": self.message });
        if let Some(d) = &self.details {
            err["details"] = d.clone();
        }
        json!({ "error": err, "request_id": request_id })
    }

    /// The full response (status, JSON body, `Retry-After`).
    pub fn into_response_with(self, request_id: &str) -> Response {
        let mut resp = (self.status, axum::Json(self.body(request_id))).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}
