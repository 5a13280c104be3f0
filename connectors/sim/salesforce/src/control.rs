//! The `/_sim/` control API (not part of Salesforce): seed, external edits, transactions,
//! merges, deletes/undeletes/purges, conversion, faults, quirks, duplicate rules, token expiry,
//! clock, request log, ground truth and the org's custom fields (`GET|PUT schema`,
//! `POST schema/fields`, `DELETE schema/fields/{object}/{name}`). Each route wraps a `SimState`
//! method.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use sim_core::FaultConfig;

use crate::control_ops::{ExternalEdit, SeedRecord};
use crate::custom::{CustomField, Schema};
use crate::error::{ApiError, ApiResult};
use crate::schema::ObjectKind;
use crate::state::{Quirks, SimState};
use crate::writes::DuplicateRule;

#[derive(Deserialize)]
struct Seed {
    records: Vec<SeedRecord>,
}

#[derive(Deserialize)]
struct Touch {
    object: ObjectKind,
    ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Merge {
    master: String,
    losers: Vec<String>,
}

#[derive(Deserialize)]
struct IdBody {
    id: String,
}

#[derive(Deserialize)]
struct Purge {
    object: ObjectKind,
    before: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct Convert {
    lead: String,
    contact: Option<String>,
    account: Option<String>,
}

#[derive(Deserialize)]
struct ClockOp {
    advance_secs: Option<i64>,
    set: Option<DateTime<Utc>>,
    offset_secs: Option<i64>,
}

#[derive(Deserialize)]
struct RecordsQuery {
    object: Option<ObjectKind>,
}

async fn seed(State(s): State<SimState>, Json(b): Json<Seed>) -> ApiResult<Response> {
    Ok(Json(json!({"ids": s.seed(b.records)?})).into_response())
}

async fn edit(State(s): State<SimState>, Json(b): Json<ExternalEdit>) -> ApiResult<Response> {
    s.edit(b)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn touch(State(s): State<SimState>, Json(b): Json<Touch>) -> Response {
    Json(json!({"touched": s.touch_system(b.object, b.ids)})).into_response()
}

async fn open_txn(State(s): State<SimState>) -> Response {
    Json(json!({"txn": s.open_transaction()})).into_response()
}

async fn commit_txn(State(s): State<SimState>, Path(txn): Path<u64>) -> ApiResult<Response> {
    Ok(Json(json!({"committed": s.commit_transaction(txn)?})).into_response())
}

async fn merge(State(s): State<SimState>, Json(b): Json<Merge>) -> ApiResult<Response> {
    s.merge(&b.master, &b.losers)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete(State(s): State<SimState>, Json(b): Json<IdBody>) -> ApiResult<Response> {
    s.delete(&b.id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn undelete(State(s): State<SimState>, Json(b): Json<IdBody>) -> ApiResult<Response> {
    s.undelete(&b.id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn purge(State(s): State<SimState>, Json(b): Json<Purge>) -> Response {
    Json(json!({"purged": s.purge(b.object, b.before)})).into_response()
}

async fn convert(State(s): State<SimState>, Json(b): Json<Convert>) -> ApiResult<Response> {
    s.convert_lead(&b.lead, b.contact.as_deref(), b.account.as_deref())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn set_faults(State(s): State<SimState>, Json(b): Json<FaultConfig>) -> Response {
    s.faults.set(b);
    StatusCode::NO_CONTENT.into_response()
}

async fn set_quirks(State(s): State<SimState>, Json(b): Json<Quirks>) -> Response {
    s.set_quirks(b);
    StatusCode::NO_CONTENT.into_response()
}

async fn get_quirks(State(s): State<SimState>) -> Response {
    Json(s.quirks()).into_response()
}

async fn set_rules(State(s): State<SimState>, Json(b): Json<Vec<DuplicateRule>>) -> Response {
    s.set_duplicate_rules(b);
    StatusCode::NO_CONTENT.into_response()
}

async fn expire(State(s): State<SimState>) -> Response {
    s.expire_tokens();
    StatusCode::NO_CONTENT.into_response()
}

async fn clock(State(s): State<SimState>, Json(b): Json<ClockOp>) -> Response {
    if let Some(t) = b.set {
        s.clock.set(t);
    }
    if let Some(o) = b.offset_secs {
        s.clock.set_offset(Duration::seconds(o));
    }
    if let Some(a) = b.advance_secs {
        s.clock.advance(Duration::seconds(a));
    }
    Json(json!({"now": s.clock.now()})).into_response()
}

async fn get_clock(State(s): State<SimState>) -> Response {
    Json(json!({"now": s.clock.now()})).into_response()
}

async fn requests(State(s): State<SimState>) -> Response {
    Json(s.log.entries()).into_response()
}

async fn clear_requests(State(s): State<SimState>) -> Response {
    s.log.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn records(State(s): State<SimState>, Query(q): Query<RecordsQuery>) -> Response {
    let recs: Vec<_> = s.records().into_iter().filter(|r| q.object.is_none_or(|o| r.object == o)).collect();
    Json(recs).into_response()
}

async fn usage(State(s): State<SimState>) -> Response {
    let (used, max) = s.api_usage();
    Json(json!({"used": used, "max": max})).into_response()
}

async fn get_schema(State(s): State<SimState>) -> Response {
    Json(s.schema()).into_response()
}

fn schema_error(message: String) -> ApiError {
    ApiError::bad_request("INVALID_SCHEMA", message)
}

async fn put_schema(State(s): State<SimState>, Json(b): Json<Schema>) -> ApiResult<Response> {
    s.set_schema(&b).map_err(schema_error)?;
    Ok(Json(s.schema()).into_response())
}

/// Adds or replaces one custom field (an admin editing it in Setup).
async fn put_field(State(s): State<SimState>, Json(f): Json<CustomField>) -> ApiResult<Response> {
    let mut schema = s.schema();
    schema.fields.retain(|g| !(g.object == f.object && g.name.eq_ignore_ascii_case(&f.name)));
    schema.fields.push(f);
    s.set_schema(&schema).map_err(schema_error)?;
    Ok(Json(s.schema()).into_response())
}

/// Deletes one custom field (its values stop being readable; writes to it fail).
async fn delete_field(
    State(s): State<SimState>,
    Path((object, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    let object = ObjectKind::parse(&object).ok_or_else(ApiError::not_found)?;
    let mut schema = s.schema();
    let before = schema.fields.len();
    schema.fields.retain(|g| !(g.object == object && g.name.eq_ignore_ascii_case(&name)));
    if schema.fields.len() == before {
        return Err(ApiError::not_found().with_fields(vec![name]));
    }
    s.set_schema(&schema).map_err(schema_error)?;
    Ok(Json(s.schema()).into_response())
}

async fn cert(State(s): State<SimState>) -> Response {
    match s.cert_pem() {
        Some(pem) => pem.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The control routes, to be nested at `/_sim`.
pub fn routes() -> Router<SimState> {
    Router::new()
        .route("/seed", post(seed))
        .route("/edit", post(edit))
        .route("/system-touch", post(touch))
        .route("/transactions", post(open_txn))
        .route("/transactions/{txn}/commit", post(commit_txn))
        .route("/merge", post(merge))
        .route("/delete", post(delete))
        .route("/undelete", post(undelete))
        .route("/purge", post(purge))
        .route("/convert-lead", post(convert))
        .route(
            "/faults",
            put(set_faults).get(|State(s): State<SimState>| async move { Json(s.faults.config()) }),
        )
        .route("/quirks", put(set_quirks).get(get_quirks))
        .route("/duplicate-rules", put(set_rules))
        .route("/tokens/expire", post(expire))
        .route("/clock", post(clock).get(get_clock))
        .route("/requests", get(requests).delete(clear_requests))
        .route("/records", get(records))
        .route("/usage", get(usage))
        .route("/cert", get(cert))
        .route("/schema", get(get_schema).put(put_schema))
        .route("/schema/fields", post(put_field))
        .route("/schema/fields/{object}/{name}", axum::routing::delete(delete_field))
}
