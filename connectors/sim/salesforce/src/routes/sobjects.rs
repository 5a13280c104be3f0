//! sObject rows (spec §5): create, retrieve, update, delete by id, and upsert by external id
//! (201 created / 200 updated from v46, 204 before; 300 on several matches).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::{allow_save, json_body, lock_fault, object};
use crate::error::{ApiError, ApiResult};
use crate::gate::ApiVersion;
use crate::schema::ObjectKind;
use crate::state::SimState;
use crate::writes::{self, WriteCtx};

/// The first API version whose upsert-update answers 200 with a body (spec §5).
pub const UPSERT_200_SINCE: u32 = 46;

fn body_object(body: &Bytes) -> ApiResult<serde_json::Map<String, Value>> {
    match json_body(body)? {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad_request("JSON_PARSER_ERROR", "Expected a JSON object")),
    }
}

/// `POST /sobjects/{Object}` → 201 `{"id","success","errors"}`.
pub async fn create(
    State(state): State<SimState>,
    Path((_v, obj)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let object = object(&obj)?;
    let body = body_object(&body)?;
    let custom = state.custom_fields();
    let changes = writes::parse_body(object, &body, &custom, &[])?;
    let now = state.now();
    let mut g = state.lock();
    lock_fault(&mut g)?;
    let inner = &mut *g;
    let ctx = WriteCtx {
        now,
        custom: &custom,
        rules: &inner.dup_rules,
        allow_save: allow_save(&headers),
        enforce_lengths: inner.quirks.enforce_lengths,
    };
    let id = writes::create(&mut inner.store, &ctx, object, &changes)?;
    Ok((StatusCode::CREATED, Json(json!({"id": id, "success": true, "errors": []}))).into_response())
}

/// `GET /sobjects/{Object}/{id}[?fields=a,b]`.
pub async fn retrieve(
    State(state): State<SimState>,
    Extension(v): Extension<ApiVersion>,
    Path((_v, obj, id)): Path<(String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let object = object(&obj)?;
    let custom = state.custom_fields();
    let fields = match params.get("fields") {
        Some(list) => list
            .split(',')
            .map(|f| object.field(f.trim(), &custom).ok_or_else(|| bad_field(object, f)))
            .collect::<ApiResult<Vec<_>>>()?,
        None => object.fields(&custom),
    };
    let now = state.now();
    let g = state.lock();
    let rec = g
        .store
        .get(&id)
        .filter(|r| r.object == object)
        .and_then(|r| r.view(now))
        .filter(|r| r.deleted_at.is_none())
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(rec.to_json(&fields, &v.raw)).into_response())
}

fn bad_field(object: ObjectKind, f: &str) -> ApiError {
    ApiError::bad_request(
        "INVALID_FIELD",
        format!("No such column '{}' on entity '{}'", f.trim(), object.name()),
    )
}

/// `PATCH /sobjects/{Object}/{id}` → 204.
pub async fn update(
    State(state): State<SimState>,
    Path((_v, obj, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let object = object(&obj)?;
    let body = body_object(&body)?;
    let custom = state.custom_fields();
    let changes = writes::parse_body(object, &body, &custom, &[])?;
    let now = state.now();
    let mut g = state.lock();
    lock_fault(&mut g)?;
    let inner = &mut *g;
    let ctx = WriteCtx {
        now,
        custom: &custom,
        rules: &inner.dup_rules,
        allow_save: allow_save(&headers),
        enforce_lengths: inner.quirks.enforce_lengths,
    };
    let (_, changed) = writes::update_tracked(&mut inner.store, &ctx, object, &id, &changes)?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.extensions_mut().insert(sim_core::WriteEffect::one(changed, changes.keys()));
    Ok(resp)
}

/// `DELETE /sobjects/{Object}/{id}` → 204 (to the recycle bin).
pub async fn delete(
    State(state): State<SimState>,
    Path((_v, obj, id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let object = object(&obj)?;
    let now = state.now();
    let mut g = state.lock();
    lock_fault(&mut g)?;
    writes::delete(&mut g.store, now, Some(object), &id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /sobjects/{Object}/{ExtIdField}/{value}[?fields=a,b]` (simple-salesforce's
/// `get_by_custom_id`): the record whose External ID field holds `value`; 404 when none, 300 with
/// the matches' URLs when several.
pub async fn retrieve_by_ext(
    State(state): State<SimState>,
    Extension(v): Extension<ApiVersion>,
    Path((_v, obj, field, value)): Path<(String, String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let object = object(&obj)?;
    let custom = state.custom_fields();
    let ext = writes::external_id_field(&custom, object, &field).ok_or_else(ApiError::not_found)?;
    let fields = match params.get("fields") {
        Some(list) => list
            .split(',')
            .map(|f| object.field(f.trim(), &custom).ok_or_else(|| bad_field(object, f)))
            .collect::<ApiResult<Vec<_>>>()?,
        None => object.fields(&custom),
    };
    let now = state.now();
    let g = state.lock();
    let matches = writes::ext_matches(&g.store, object, &ext, &value);
    if matches.len() > 1 {
        let (status, body) = writes::multiple_choices(&v.raw, object, &matches);
        return Ok((status, Json(body)).into_response());
    }
    let rec = matches
        .first()
        .and_then(|id| g.store.get(id))
        .and_then(|r| r.view(now))
        .filter(|r| r.deleted_at.is_none())
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(rec.to_json(&fields, &v.raw)).into_response())
}

/// `PATCH /sobjects/{Object}/{ExtIdField}/{value}[?updateOnly=true]`.
pub async fn upsert(
    State(state): State<SimState>,
    Extension(v): Extension<ApiVersion>,
    Path((_v, obj, field, value)): Path<(String, String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let object = object(&obj)?;
    let custom = state.custom_fields();
    let ext = writes::external_id_field(&custom, object, &field).ok_or_else(ApiError::not_found)?;
    let body = body_object(&body)?;
    if let Some(bad) = body.keys().find(|k| k.eq_ignore_ascii_case("Id") || k.eq_ignore_ascii_case(&ext)) {
        return Err(ApiError::bad_request(
            "INVALID_FIELD",
            format!("{bad} is not allowed in the body of an upsert by {ext}"),
        )
        .with_fields(vec![bad.clone()]));
    }
    let mut changes = writes::parse_body(object, &body, &custom, &[])?;
    let update_only = params.get("updateOnly").is_some_and(|v| v == "true");
    let now = state.now();
    let mut g = state.lock();
    let matches = writes::ext_matches(&g.store, object, &ext, &value);
    if matches.len() > 1 {
        let (status, body) = writes::multiple_choices(&v.raw, object, &matches);
        return Ok((status, Json(body)).into_response());
    }
    lock_fault(&mut g)?;
    let inner = &mut *g;
    let ctx = WriteCtx {
        now,
        custom: &custom,
        rules: &inner.dup_rules,
        allow_save: allow_save(&headers),
        enforce_lengths: inner.quirks.enforce_lengths,
    };
    match matches.first() {
        Some(id) => {
            let (id, changed) = writes::update_tracked(&mut inner.store, &ctx, object, id, &changes)?;
            let mut resp = if v.major < UPSERT_200_SINCE {
                StatusCode::NO_CONTENT.into_response()
            } else {
                Json(json!({"id": id, "success": true, "errors": [], "created": false})).into_response()
            };
            resp.extensions_mut().insert(sim_core::WriteEffect::one(changed, changes.keys()));
            Ok(resp)
        }
        None if update_only => Err(ApiError::not_found()),
        None => {
            changes.insert(ext, Some(value));
            let id = writes::create(&mut inner.store, &ctx, object, &changes)?;
            Ok((StatusCode::CREATED, Json(json!({"id": id, "success": true, "errors": [], "created": true})))
                .into_response())
        }
    }
}
