//! Batch routes (spec §4): read / create / update / upsert / archive, at most 100 inputs, 207
//! multi-status with per-item `errors[]`. Batch create only reports per-item failures when every
//! input carries a unique `objectWriteTraceId`; otherwise one bad input fails the whole call and
//! nothing is created (the spec's inference, §13.7).

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::SimState;
use crate::error::{ApiError, ApiResult};
use crate::model::{ObjectType, iso_ms};
use crate::objects::{id_string, known_props, object_type, parse_body, render_written};
use crate::props;
use crate::store::{Source, Store};

/// Inputs per batch call.
pub const MAX_INPUTS: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    #[serde(default, deserialize_with = "opt_id")]
    id: Option<String>,
    #[serde(default)]
    id_property: Option<String>,
    #[serde(default)]
    properties: Map<String, Value>,
    #[serde(default)]
    object_write_trace_id: Option<String>,
}

fn opt_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    id_string(d).map(Some)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    inputs: Vec<Input>,
    #[serde(default)]
    properties: Vec<String>,
    #[serde(default)]
    id_property: Option<String>,
}

fn parse(body: &Bytes) -> ApiResult<Body> {
    let b: Body = parse_body(body)?;
    if b.inputs.len() > MAX_INPUTS {
        return Err(ApiError::validation(format!(
            "Too many inputs: {} (the limit is {MAX_INPUTS})",
            b.inputs.len()
        )));
    }
    Ok(b)
}

fn item_error(e: &ApiError, context: Value) -> Value {
    json!({ "status": "error", "category": e.category, "message": e.message, "context": context })
}

fn respond(state: &SimState, ok: StatusCode, results: Vec<Value>, errors: Vec<Value>) -> Response {
    let now = iso_ms(state.now_ms());
    let mut body = json!({
        "status": "COMPLETE", "results": results, "requestedAt": now, "startedAt": now, "completedAt": now,
    });
    if errors.is_empty() {
        return (ok, Json(body)).into_response();
    }
    body["numErrors"] = json!(errors.len());
    body["errors"] = Value::Array(errors);
    (StatusCode::MULTI_STATUS, Json(body)).into_response()
}

fn trace_context(input: &Input, id: Option<&str>) -> Value {
    match (&input.object_write_trace_id, id) {
        (Some(t), _) => json!({ "objectWriteTraceId": [t] }),
        (None, Some(id)) => json!({ "ids": [id] }),
        (None, None) => json!({}),
    }
}

/// `POST /{object}/batch/read`; unknown ids are reported together in one 207 error.
pub async fn read(
    State(state): State<SimState>,
    Path(object): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<Response> {
    let object = object_type(&object)?;
    let b = parse(&body)?;
    let archived = q.get("archived").is_some_and(|v| v == "true");
    let inner = state.lock();
    let props = known_props(&inner.store.catalog, object, b.properties.clone());
    let (mut results, mut missing) = (Vec::new(), Vec::new());
    for input in &b.inputs {
        let key = input.id.clone().unwrap_or_default();
        match inner.store.resolve(object, &key, b.id_property.as_deref(), archived)? {
            Some(id) => results.extend(inner.store.get(object, id).map(|r| r.render(&props))),
            None => missing.push(key),
        }
    }
    drop(inner);
    let errors = if missing.is_empty() {
        Vec::new()
    } else {
        let e = ApiError::new(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            "Could not get some objects, they may be deleted or not exist. Check that ids are valid.",
        );
        vec![item_error(&e, json!({ "ids": missing }))]
    };
    Ok(respond(&state, StatusCode::OK, results, errors))
}

/// Checks every create input up front (schema, uniqueness against the store and within the batch).
fn preflight(store: &Store, object: ObjectType, inputs: &[Input]) -> Vec<Option<ApiError>> {
    let mut seen: HashSet<(String, String)> = HashSet::new();
    inputs
        .iter()
        .map(|input| {
            let values = match props::validate(&store.catalog, object, None, &input.properties) {
                Ok(v) => v,
                Err(e) => return Some(e),
            };
            if let Err(e) = store.check_unique(object, None, &values) {
                return Some(e);
            }
            for (k, v) in values
                .iter()
                .filter(|(k, v)| !v.is_empty() && (*k == "email" || store.catalog.is_unique(object, k)))
            {
                if !seen.insert((k.clone(), v.to_lowercase())) {
                    return Some(ApiError::validation("Duplicate unique values in batch input"));
                }
            }
            None
        })
        .collect()
}

/// `POST /{object}/batch/create` → 201, or 207 with trace ids, or one 4xx for the whole call.
pub async fn create(
    State(state): State<SimState>,
    Path(object): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let object = object_type(&object)?;
    let b = parse(&body)?;
    let traces: HashSet<&str> = b.inputs.iter().filter_map(|i| i.object_write_trace_id.as_deref()).collect();
    let per_item = traces.len() == b.inputs.len();
    let now = state.now_ms();
    let mut inner = state.lock();
    let checks = preflight(&inner.store, object, &b.inputs);
    if !per_item && let Some(e) = checks.iter().flatten().next() {
        return Err(e.clone());
    }
    let (mut results, mut errors) = (Vec::new(), Vec::new());
    for (input, check) in b.inputs.iter().zip(checks) {
        let outcome = match check {
            Some(e) => Err(e),
            None => inner.store.create(object, &input.properties, now, Source::Api),
        };
        match outcome {
            Ok(rec) => results.push(render_written(&rec)),
            Err(e) => errors.push(item_error(&e, trace_context(input, None))),
        }
    }
    drop(inner);
    Ok(respond(&state, StatusCode::CREATED, results, errors))
}

/// `POST /{object}/batch/update` → 200 or 207 (unknown ids and invalid inputs per item).
pub async fn update(
    State(state): State<SimState>,
    Path(object): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let object = object_type(&object)?;
    let b = parse(&body)?;
    let mut ids = HashSet::new();
    if !b.inputs.iter().all(|i| ids.insert(i.id.clone())) {
        return Err(ApiError::validation("Duplicate IDs found in batch input"));
    }
    let now = state.now_ms();
    let mut inner = state.lock();
    let (mut results, mut errors) = (Vec::new(), Vec::new());
    let mut effect = sim_core::WriteEffect::default();
    for input in &b.inputs {
        let key = input.id.clone().unwrap_or_default();
        let id_prop = input.id_property.as_deref().or(b.id_property.as_deref());
        let outcome = inner
            .store
            .resolve(object, &key, id_prop, false)
            .and_then(|id| id.ok_or_else(|| ApiError::not_found(&key)))
            .and_then(|id| inner.store.update_tracked(object, id, &input.properties, now, Source::Api));
        match outcome {
            Ok((rec, changed)) => {
                effect.add(changed, input.properties.keys());
                results.push(render_written(&rec));
            }
            Err(e) => errors.push(item_error(&e, trace_context(input, Some(&key)))),
        }
    }
    drop(inner);
    let mut resp = respond(&state, StatusCode::OK, results, errors);
    resp.extensions_mut().insert(effect);
    Ok(resp)
}

/// Spec §4: partial upserts are not supported on `idProperty=email`. The item must carry every
/// property in `email_upsert_required` and (unless `email_upsert_allow_partial`) every property
/// the matched record holds.
fn check_email_upsert(store: &Store, object: ObjectType, key: &str, input: &Input) -> ApiResult<()> {
    let b = &store.behaviour;
    let mut missing: Vec<String> =
        b.email_upsert_required.iter().filter(|p| !input.properties.contains_key(*p)).cloned().collect();
    if !b.email_upsert_allow_partial
        && let Some(id) = store.resolve(object, key, Some("email"), false)?
        && let Some(rec) = store.get(object, id)
    {
        let held = rec
            .properties
            .keys()
            .filter(|p| *p != "email" && store.catalog.get(object, p).is_some_and(|d| !d.read_only_value));
        missing.extend(held.filter(|p| !input.properties.contains_key(*p)).cloned());
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::validation(format!(
        "Partial upserts are not supported when using email as idProperty; missing properties: {}. \
         Send every property, or upsert on a custom unique property",
        missing.join(", ")
    )))
}

fn upsert_one(
    store: &mut Store,
    object: ObjectType,
    input: &Input,
    now: i64,
    effect: &mut sim_core::WriteEffect,
) -> ApiResult<Value> {
    let key = input.id.clone().ok_or_else(|| ApiError::validation("id is required for upsert"))?;
    let id_prop = input.id_property.clone().ok_or_else(|| ApiError::validation("idProperty is required"))?;
    if id_prop == "email" {
        check_email_upsert(store, object, &key, input)?;
    }
    let (rec, new) = match store.resolve(object, &key, Some(&id_prop), false)? {
        Some(id) => {
            let (rec, changed) = store.update_tracked(object, id, &input.properties, now, Source::Api)?;
            effect.add(changed, input.properties.keys());
            (rec, false)
        }
        None => {
            let mut props = input.properties.clone();
            props.insert(id_prop, Value::String(key));
            (store.create(object, &props, now, Source::Api)?, true)
        }
    };
    let mut v = render_written(&rec);
    v["new"] = json!(new);
    Ok(v)
}

/// `POST /{object}/batch/upsert` → 200 or 207; each result carries `new`.
pub async fn upsert(
    State(state): State<SimState>,
    Path(object): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let object = object_type(&object)?;
    let b = parse(&body)?;
    let now = state.now_ms();
    let mut inner = state.lock();
    let (mut results, mut errors) = (Vec::new(), Vec::new());
    let mut effect = sim_core::WriteEffect::default();
    for input in &b.inputs {
        match upsert_one(&mut inner.store, object, input, now, &mut effect) {
            Ok(v) => results.push(v),
            Err(e) => errors.push(item_error(&e, trace_context(input, input.id.as_deref()))),
        }
    }
    drop(inner);
    let mut resp = respond(&state, StatusCode::OK, results, errors);
    if effect != sim_core::WriteEffect::default() {
        resp.extensions_mut().insert(effect);
    }
    Ok(resp)
}

/// `POST /{object}/batch/archive` → 204.
pub async fn archive(
    State(state): State<SimState>,
    Path(object): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let object = object_type(&object)?;
    let b = parse(&body)?;
    let now = state.now_ms();
    let mut inner = state.lock();
    let ids: BTreeMap<u64, ()> =
        b.inputs.iter().filter_map(|i| i.id.as_deref()?.parse::<u64>().ok()).map(|id| (id, ())).collect();
    for id in ids.keys() {
        if inner.store.get(object, *id).is_some() {
            inner.store.archive(object, *id, now, Source::Api)?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
