//! The HubSpot error body (spec §11) and the classified errors every handler returns.
//!
//! `correlationId` is filled in by the request gate (`gate.rs`) from the simulator's seeded rng, so
//! bodies built here never carry one.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// A HubSpot API error: status, `category` and message, plus optional `errors[]` and `context`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {category}: {message}")]
pub struct ApiError {
    /// HTTP status answered.
    pub status: StatusCode,
    /// HubSpot `category` (`VALIDATION_ERROR`, `OBJECT_NOT_FOUND`, …).
    pub category: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Per-item details (`errors[]`), omitted when empty.
    pub errors: Vec<Value>,
    /// Optional top-level `context`.
    pub context: Option<Value>,
}

impl ApiError {
    /// A bare error.
    pub fn new(status: StatusCode, category: &'static str, message: impl Into<String>) -> Self {
        Self { status, category, message: message.into(), errors: Vec::new(), context: None }
    }

    /// 400 `VALIDATION_ERROR`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    /// 404 `OBJECT_NOT_FOUND`.
    pub fn not_found(id: &str) -> Self {
        let mut e = Self::new(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", "resource not found");
        e.context = Some(json!({ "id": [id] }));
        e
    }

    /// 409 `CONFLICT` for a unique value already held by another record.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }

    /// The invalid-property 400 whose message is JSON inside a string (spec §11).
    pub fn invalid_property(name: &str, error: &str, detail: &str) -> Self {
        let inner = json!([{ "isValid": false, "message": detail, "error": error, "name": name }]);
        let mut e = Self::validation(format!("Property values were not valid: {inner}"));
        e.errors = vec![json!({
            "message": detail, "code": error, "context": { "propertyName": [name] }
        })];
        e
    }

    /// Adds `context` (used for batch item errors).
    pub fn with_context(mut self, context: Value) -> Self {
        self.context = Some(context);
        self
    }

    /// The JSON body, without `correlationId`.
    pub fn body(&self) -> Value {
        let mut m = Map::new();
        m.insert("status".into(), json!("error"));
        m.insert("message".into(), json!(self.message));
        m.insert("category".into(), json!(self.category));
        if !self.errors.is_empty() {
            m.insert("errors".into(), Value::Array(self.errors.clone()));
        }
        if let Some(c) = &self.context {
            m.insert("context".into(), c.clone());
        }
        Value::Object(m)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// The 404 for a path HubSpot does not serve.
pub fn unknown_route() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", "Resource not found").into_response()
}

/// The 405 for a method the path does not accept.
pub fn method_not_allowed() -> Response {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "VALIDATION_ERROR", "HTTP 405 Method Not Allowed")
        .into_response()
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;
