//! sObject Collections (spec §6): create/update/delete/upsert of ≤200 records in one call (one
//! API request), `allOrNone`, per-item results in input order, HTTP 200 even if all failed.
//!
//! Spec gaps, filled from the platform's documented examples: per-item errors use
//! `statusCode` (not `errorCode`); under `allOrNone` rows that would have succeeded report
//! `ALL_OR_NONE_OPERATION_ROLLED_BACK`; more than 200 records is 400 `EXCEEDED_ID_LIMIT`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Map, Value, json};

use super::{allow_save, json_body, lock_fault, object};
use crate::error::{ApiError, ApiResult};
use crate::gate::ApiVersion;
use crate::schema::ObjectKind;
use crate::state::{Inner, SimState};
use crate::writes::{self, WriteCtx};

/// Maximum records per collections call.
pub const MAX_RECORDS: usize = 200;

/// An update's effect on an existing record: whether a stored value changed, and the fields sent.
type Effect = (bool, Vec<String>);

enum Op<'a> {
    Create,
    Update,
    Upsert(ObjectKind, &'a str),
}

struct Outcome {
    id: Option<String>,
    created: Option<bool>,
    /// For an update of an existing record: whether a stored value changed, and the fields sent.
    changed: Option<Effect>,
    error: Option<ApiError>,
}

fn too_many() -> ApiError {
    ApiError::bad_request(
        "EXCEEDED_ID_LIMIT",
        "record limit reached. cannot submit more than 200 records into this call",
    )
}

fn parse_request(body: &Bytes) -> ApiResult<(bool, Vec<Map<String, Value>>)> {
    let v = json_body(body)?;
    let all_or_none = v["allOrNone"].as_bool().unwrap_or(false);
    let records = v["records"]
        .as_array()
        .ok_or_else(|| ApiError::bad_request("JSON_PARSER_ERROR", "records required"))?;
    if records.len() > MAX_RECORDS {
        return Err(too_many());
    }
    let rows = records.iter().map(|r| r.as_object().cloned().unwrap_or_default()).collect();
    Ok((all_or_none, rows))
}

fn row_object(row: &Map<String, Value>) -> ApiResult<ObjectKind> {
    let ty = row.get("attributes").and_then(|a| a["type"].as_str());
    ty.and_then(ObjectKind::parse)
        .ok_or_else(|| ApiError::bad_request("INVALID_TYPE", "Must send a concrete entity type."))
}

fn apply_row(
    inner: &mut Inner,
    ctx: &WriteCtx<'_>,
    op: &Op<'_>,
    row: &Map<String, Value>,
) -> ApiResult<(String, bool, Option<Effect>)> {
    let object = row_object(row)?;
    let custom = ctx.custom;
    match op {
        Op::Create => {
            let changes = writes::parse_body(object, row, custom, &[])?;
            lock_fault(inner)?;
            Ok((writes::create(&mut inner.store, ctx, object, &changes)?, true, None))
        }
        Op::Update => {
            let id = row.iter().find(|(k, _)| k.eq_ignore_ascii_case("id")).and_then(|(_, v)| v.as_str());
            let id = id.ok_or_else(|| {
                ApiError::bad_request("MISSING_ARGUMENT", "Id not specified in an update call")
            })?;
            let changes = writes::parse_body(object, row, custom, &["id"])?;
            lock_fault(inner)?;
            let (id, changed) = writes::update_tracked(&mut inner.store, ctx, object, id, &changes)?;
            Ok((id, false, Some((changed, changes.keys().cloned().collect()))))
        }
        Op::Upsert(expected, ext) => {
            if object != *expected {
                return Err(ApiError::bad_request(
                    "INVALID_TYPE",
                    "All records must be of the URL's sObject type",
                ));
            }
            let value = row.iter().find(|(k, _)| k.eq_ignore_ascii_case(ext)).and_then(|(_, v)| v.as_str());
            let value = value.ok_or_else(|| {
                ApiError::bad_request("MISSING_ARGUMENT", format!("{ext} not specified"))
                    .with_fields(vec![ext.to_string()])
            })?;
            let mut changes = writes::parse_body(object, row, custom, &[ext])?;
            let matches = writes::ext_matches(&inner.store, object, ext, value);
            if matches.len() > 1 {
                return Err(ApiError::bad_request(
                    "DUPLICATE_EXTERNAL_ID",
                    format!("{ext}: more than one record found for external id field"),
                )
                .with_fields(vec![ext.to_string()]));
            }
            lock_fault(inner)?;
            match matches.first() {
                Some(id) => {
                    let (id, changed) = writes::update_tracked(&mut inner.store, ctx, object, id, &changes)?;
                    Ok((id, false, Some((changed, changes.keys().cloned().collect()))))
                }
                None => {
                    changes.insert(ext.to_string(), Some(value.to_string()));
                    Ok((writes::create(&mut inner.store, ctx, object, &changes)?, true, None))
                }
            }
        }
    }
}

fn rolled_back() -> ApiError {
    ApiError::bad_request(
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "Record rolled back because not all records were valid and the request was using AllOrNone header",
    )
}

/// Runs `rows` against a copy of the store and commits it unless `all_or_none` saw a failure.
fn run(
    state: &SimState,
    headers: &HeaderMap,
    op: Op<'_>,
    all_or_none: bool,
    rows: &[Map<String, Value>],
) -> Vec<Outcome> {
    let now = state.now();
    let mut g = state.lock();
    let saved = g.store.clone();
    let rules = g.dup_rules.clone();
    let enforce_lengths = g.quirks.enforce_lengths;
    let custom = state.custom_fields();
    let ctx =
        WriteCtx { now, custom: &custom, rules: &rules, allow_save: allow_save(headers), enforce_lengths };
    let mut out: Vec<Outcome> = rows
        .iter()
        .map(|row| match apply_row(&mut g, &ctx, &op, row) {
            Ok((id, created, changed)) => {
                Outcome { id: Some(id), created: Some(created), changed, error: None }
            }
            Err(e) => Outcome { id: None, created: None, changed: None, error: Some(e) },
        })
        .collect();
    if all_or_none && out.iter().any(|o| o.error.is_some()) {
        g.store = saved;
        for o in out.iter_mut().filter(|o| o.error.is_none()) {
            *o = Outcome { id: None, created: None, changed: None, error: Some(rolled_back()) };
        }
    }
    out
}

fn render(out: Vec<Outcome>, with_created: bool) -> Response {
    let mut effect = sim_core::WriteEffect::default();
    for (changed, fields) in out.iter().filter(|o| o.error.is_none()).filter_map(|o| o.changed.as_ref()) {
        effect.add(*changed, fields);
    }
    let items: Vec<Value> = out
        .into_iter()
        .map(|o| {
            let mut v = match o.error {
                None => json!({"id": o.id, "success": true, "errors": []}),
                Some(e) => json!({"id": o.id, "success": false, "errors": [e.to_item_json()]}),
            };
            if with_created {
                v["created"] = json!(o.created.unwrap_or(false));
            }
            v
        })
        .collect();
    let mut resp = Json(items).into_response();
    if effect != sim_core::WriteEffect::default() {
        resp.extensions_mut().insert(effect);
    }
    resp
}

/// `POST /composite/sobjects` (create).
pub async fn create(State(state): State<SimState>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    let (all_or_none, rows) = parse_request(&body)?;
    Ok(render(run(&state, &headers, Op::Create, all_or_none, &rows), false))
}

/// `PATCH /composite/sobjects` (update; records carry `id`).
pub async fn update(State(state): State<SimState>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    let (all_or_none, rows) = parse_request(&body)?;
    Ok(render(run(&state, &headers, Op::Update, all_or_none, &rows), false))
}

/// `PATCH /composite/sobjects/{Object}/{ExtIdField}` (upsert; results carry `created`).
pub async fn upsert(
    State(state): State<SimState>,
    Path((_v, obj, field)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let object = object(&obj)?;
    let ext = writes::external_id_field(&state.custom_fields(), object, &field);
    let ext = ext.ok_or_else(ApiError::not_found)?;
    let (all_or_none, rows) = parse_request(&body)?;
    Ok(render(run(&state, &headers, Op::Upsert(object, &ext), all_or_none, &rows), true))
}

/// `DELETE /composite/sobjects?ids=a,b[&allOrNone=true]`.
pub async fn delete(
    State(state): State<SimState>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let ids: Vec<&str> =
        params.get("ids").map(|s| s.split(',').filter(|s| !s.is_empty()).collect()).unwrap_or_default();
    if ids.len() > MAX_RECORDS {
        return Err(too_many());
    }
    let all_or_none = params.get("allOrNone").is_some_and(|v| v == "true");
    let now = state.now();
    let mut g = state.lock();
    let saved = g.store.clone();
    let mut out: Vec<Outcome> = Vec::new();
    for id in &ids {
        let res = lock_fault(&mut g).and_then(|()| writes::delete(&mut g.store, now, None, id));
        out.push(match res {
            Ok(rid) => Outcome { id: Some(rid), created: None, changed: None, error: None },
            Err(e) => Outcome { id: Some((*id).to_string()), created: None, changed: None, error: Some(e) },
        });
    }
    if all_or_none && out.iter().any(|o| o.error.is_some()) {
        g.store = saved;
        for o in out.iter_mut().filter(|o| o.error.is_none()) {
            o.error = Some(rolled_back());
        }
    }
    Ok(render(out, false))
}

/// `GET /composite/sobjects/{Object}?ids=…&fields=…` — `null` for ids not found.
pub async fn retrieve(
    State(state): State<SimState>,
    Extension(v): Extension<ApiVersion>,
    Path((_v, obj)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let object = object(&obj)?;
    let custom = state.custom_fields();
    let list =
        params.get("fields").ok_or_else(|| ApiError::bad_request("MISSING_ARGUMENT", "fields required"))?;
    let fields = list
        .split(',')
        .map(|f| {
            object.field(f.trim(), &custom).ok_or_else(|| {
                ApiError::bad_request(
                    "INVALID_FIELD",
                    format!("No such column '{f}' on entity '{}'", object.name()),
                )
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let now = state.now();
    let g = state.lock();
    let rows: Vec<Value> = params
        .get("ids")
        .map(|s| s.split(',').collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|id| {
            g.store
                .get(id)
                .filter(|r| r.object == object)
                .and_then(|r| r.view(now))
                .filter(|r| r.deleted_at.is_none())
                .map_or(Value::Null, |r| r.to_json(&fields, &v.raw))
        })
        .collect();
    Ok(Json(rows).into_response())
}
