//! Salesforce-shaped errors: the `[{"message","errorCode","fields"}]` array for whole-request
//! failures, and the per-item `{"statusCode","message","fields"}` shape inside collection results.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

/// One API error, as the platform reports it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status when this error fails a whole request.
    pub status: StatusCode,
    /// The `errorCode` / `statusCode` value, e.g. `MALFORMED_QUERY`.
    pub code: &'static str,
    /// Human text; never contains field values.
    pub message: String,
    /// Field names involved.
    pub fields: Vec<String>,
    /// `duplicateResult` for `DUPLICATES_DETECTED`.
    pub duplicate_result: Option<Value>,
}

impl ApiError {
    /// A 400 with this code and message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// An error with an explicit status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), fields: Vec::new(), duplicate_result: None }
    }

    /// 404 `NOT_FOUND` with the platform's text.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", "The requested resource does not exist")
    }

    /// 404 `ENTITY_IS_DELETED`.
    pub fn entity_deleted() -> Self {
        Self::new(StatusCode::NOT_FOUND, "ENTITY_IS_DELETED", "entity is deleted")
    }

    /// Attaches the field names involved.
    pub fn with_fields(mut self, fields: Vec<String>) -> Self {
        self.fields = fields;
        self
    }

    /// The element of a whole-request error array.
    pub fn to_json(&self) -> Value {
        let mut v = json!({ "message": self.message, "errorCode": self.code, "fields": self.fields });
        if let Some(d) = &self.duplicate_result {
            v["duplicateResult"] = d.clone();
        }
        v
    }

    /// The element of an `errors` array inside a collection/upsert item result (`statusCode`).
    pub fn to_item_json(&self) -> Value {
        let mut v = json!({ "statusCode": self.code, "message": self.message, "fields": self.fields });
        if let Some(d) = &self.duplicate_result {
            v["duplicateResult"] = d.clone();
        }
        v
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!([self.to_json()]))).into_response()
    }
}

/// Result type of the API handlers.
pub type ApiResult<T> = Result<T, ApiError>;
