//! The real REST surface under `/services/`, one module per resource family, plus helpers they
//! share (JSON body parsing, object lookup, the duplicate-rule header, lock-fault rolls).

pub mod composite;
pub mod describe;
pub mod query;
pub mod replication;
pub mod sobjects;

use axum::Json;
use axum::extract::{Extension, State};
use axum::response::IntoResponse;
use bytes::Bytes;
use http::HeaderMap;
use rand::Rng;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::gate::ApiVersion;
use crate::schema::ObjectKind;
use crate::state::{Inner, SimState};

/// Parses a request body as JSON (`JSON_PARSER_ERROR` otherwise).
pub fn json_body(body: &Bytes) -> ApiResult<Value> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("JSON_PARSER_ERROR", format!("Unexpected character at line {}", e.line()))
    })
}

/// Resolves an object from a URL segment (`NOT_FOUND` for unsupported objects).
pub fn object(name: &str) -> ApiResult<ObjectKind> {
    ObjectKind::parse(name).ok_or_else(ApiError::not_found)
}

/// `Sforce-Duplicate-Rule-Header: allowSave=true; …`
pub fn allow_save(headers: &HeaderMap) -> bool {
    headers
        .get("sforce-duplicate-rule-header")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').any(|p| p.trim().eq_ignore_ascii_case("allowSave=true")))
}

/// Rolls the injected `UNABLE_TO_LOCK_ROW` fault for one row write.
pub fn lock_fault(g: &mut Inner) -> ApiResult<()> {
    let rate = g.quirks.lock_rate;
    if rate > 0.0 && g.rng.random::<f64>() < rate {
        return Err(crate::writes::unable_to_lock());
    }
    Ok(())
}

/// `GET /services/data` — the version list (no auth, no limit header).
pub async fn versions() -> impl IntoResponse {
    Json(json!([{"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"}]))
}

/// `GET /services/data/vXX.X/limits`.
pub async fn limits(
    State(state): State<SimState>,
    Extension(_v): Extension<ApiVersion>,
) -> impl IntoResponse {
    let (used, max) = state.api_usage();
    Json(json!({
        "DailyApiRequests": {"Max": max, "Remaining": max.saturating_sub(used)},
        "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
        "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
        "SingleEmail": {"Max": 5000, "Remaining": 5000},
        "DataStorageMB": {"Max": 1024, "Remaining": 1024},
    }))
}
