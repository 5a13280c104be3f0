//! Single-record routes (spec §2): list with opaque `after`, get by id / `idProperty`, create,
//! PATCH, DELETE (archive), merge; plus the account API-usage endpoint (§10).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use crate::SimState;
use crate::error::{ApiError, ApiResult};
use crate::model::{ObjectType, Record, split_props};
use crate::schema::Catalog;
use crate::store::Source;

/// List page size cap (spec §2: at most 100; larger values are clamped — the spec doesn't say
/// whether HubSpot clamps or rejects, SUGGESTION: clamp).
pub const LIST_MAX: usize = 100;

/// Parses the `{object}` path segment.
pub fn object_type(segment: &str) -> ApiResult<ObjectType> {
    ObjectType::parse(segment).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", format!("Unknown object type {segment}"))
    })
}

/// Parses a JSON body into `T`, answering HubSpot's 400 instead of axum's rejection.
pub fn parse_body<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::validation(format!("Invalid input JSON: {e}")))
}

/// Accepts an id sent either as a JSON string or a number.
pub fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(serde::de::Error::custom("id must be a string")),
    }
}

/// Requested properties that exist: HubSpot leaves unknown names out of the answer instead of
/// failing the read (so a property deleted in HubSpot simply stops coming back). When none of
/// the requested names exist, only `hs_object_id` comes back.
pub fn known_props(catalog: &Catalog, object: ObjectType, requested: Vec<String>) -> Vec<String> {
    if requested.is_empty() {
        return requested;
    }
    let known: Vec<String> = requested.into_iter().filter(|p| catalog.get(object, p).is_some()).collect();
    if known.is_empty() { vec!["hs_object_id".to_string()] } else { known }
}

/// Object types `associations=` may name on list and get. The simulator stores no associations,
/// so every record answers like a real record without any (no `associations` key); a name that is
/// not an object type is refused.
const ASSOCIATION_TYPES: &[&str] = &[
    "contacts",
    "companies",
    "deals",
    "tickets",
    "line_items",
    "products",
    "quotes",
    "calls",
    "emails",
    "meetings",
    "notes",
    "tasks",
    "communications",
    "postal_mail",
];

fn check_associations(raw: Option<&String>) -> ApiResult<()> {
    for name in split_props(raw.map(String::as_str)) {
        let base = name.strip_suffix('s').unwrap_or(&name);
        if !ASSOCIATION_TYPES.iter().any(|t| *t == name || t.strip_suffix('s') == Some(base)) {
            return Err(ApiError::validation(format!("Unable to infer object type from: {name}")));
        }
    }
    Ok(())
}

fn flag(q: &HashMap<String, String>, name: &str) -> bool {
    q.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Query parameters of a read. Scalars keep their last value; `properties` may be repeated
/// (`properties=a&properties=b`, OpenAPI collection format "multi", which the official SDKs send)
/// or comma-separated (`properties=a,b`), or both: every value counts, in order, without repeats.
#[derive(Debug, Default)]
pub struct ReadQuery {
    /// Scalar parameters (`limit`, `after`, `archived`, `idProperty`).
    pub params: HashMap<String, String>,
    /// The requested properties; empty means the defaults.
    pub properties: Vec<String>,
}

impl ReadQuery {
    /// Collects the pairs of a query string.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut params = HashMap::new();
        let mut properties: Vec<String> = Vec::new();
        for (k, v) in pairs {
            if k == "properties" {
                for p in split_props(Some(&v)) {
                    if !properties.contains(&p) {
                        properties.push(p);
                    }
                }
            } else {
                params.insert(k, v);
            }
        }
        Self { params, properties }
    }
}

/// What a create or update answers: every stored property plus the defaults.
pub fn render_written(r: &Record) -> Value {
    let mut props: Vec<String> = r.object.default_properties().iter().map(|p| (*p).to_string()).collect();
    for k in r.properties.keys() {
        if !props.contains(k) {
            props.push(k.clone());
        }
    }
    props.push("hs_lastmodifieddate".to_string());
    props.dedup();
    r.render(&props)
}

/// `GET /{object}`: id order, opaque `after` (base64 of the next record's id).
pub async fn list(
    State(state): State<SimState>,
    Path(object): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let object = object_type(&object)?;
    let ReadQuery { params: q, properties: props } = ReadQuery::from_pairs(pairs);
    check_associations(q.get("associations"))?;
    let limit = match q.get("limit") {
        Some(l) => l.parse::<usize>().map_err(|_| ApiError::validation("limit must be an integer"))?,
        None => 10,
    }
    .clamp(1, LIST_MAX);
    let from = match q.get("after") {
        None => 0,
        Some(a) => STANDARD
            .decode(a)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| ApiError::validation("Invalid paging cursor"))?,
    };
    let archived = flag(&q, "archived");
    let inner = state.lock();
    let props = known_props(&inner.store.catalog, object, props);
    let mut matching = inner.store.all(object).filter(|r| r.id >= from && r.archived() == archived);
    let page: Vec<&Record> = matching.by_ref().take(limit).collect();
    let more = matching.next();
    let results: Vec<Value> = page.iter().map(|r| r.render(&props)).collect();
    let mut body = json!({ "results": results });
    if let Some(n) = more {
        let after = STANDARD.encode(format!("{}\n", n.id));
        let link = format!("?after={after}");
        body["paging"] = json!({ "next": { "after": after, "link": link } });
    }
    Ok(Json(body))
}

/// `GET /{object}/{id}` (also `?idProperty=email` or a unique custom property).
pub async fn get_one(
    State(state): State<SimState>,
    Path((object, key)): Path<(String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let object = object_type(&object)?;
    let ReadQuery { params: q, properties: props } = ReadQuery::from_pairs(pairs);
    check_associations(q.get("associations"))?;
    let inner = state.lock();
    let props = known_props(&inner.store.catalog, object, props);
    let id = inner
        .store
        .resolve(object, &key, q.get("idProperty").map(String::as_str), flag(&q, "archived"))?
        .ok_or_else(|| ApiError::not_found(&key))?;
    let rec = inner.store.get(object, id).ok_or_else(|| ApiError::not_found(&key))?;
    Ok(Json(rec.render(&props)))
}

#[derive(Deserialize)]
struct WriteBody {
    #[serde(default)]
    properties: Map<String, Value>,
}

/// `POST /{object}` → 201.
pub async fn create(
    State(state): State<SimState>,
    Path(object): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let object = object_type(&object)?;
    let input: WriteBody = parse_body(&body)?;
    let now = state.now_ms();
    let rec = state.lock().store.create(object, &input.properties, now, Source::Api)?;
    Ok((StatusCode::CREATED, Json(render_written(&rec))).into_response())
}

/// `PATCH /{object}/{id}` (or `{email}?idProperty=email`) → 200.
pub async fn patch(
    State(state): State<SimState>,
    Path((object, key)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<Response> {
    let object = object_type(&object)?;
    let input: WriteBody = parse_body(&body)?;
    let now = state.now_ms();
    let mut inner = state.lock();
    let id = inner
        .store
        .resolve(object, &key, q.get("idProperty").map(String::as_str), false)?
        .ok_or_else(|| ApiError::not_found(&key))?;
    let (rec, changed) = inner.store.update_tracked(object, id, &input.properties, now, Source::Api)?;
    let mut resp = Json(render_written(&rec)).into_response();
    resp.extensions_mut().insert(sim_core::WriteEffect::one(changed, input.properties.keys()));
    Ok(resp)
}

/// `DELETE /{object}/{id}` → 204 (archive; idempotent, unknown ids also answer 204 — the spec
/// documents only the 204).
pub async fn delete(
    State(state): State<SimState>,
    Path((object, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let object = object_type(&object)?;
    let now = state.now_ms();
    let mut inner = state.lock();
    if let Ok(id) = key.parse::<u64>()
        && inner.store.get(object, id).is_some()
    {
        inner.store.archive(object, id, now, Source::Api)?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MergeBody {
    #[serde(deserialize_with = "id_string")]
    primary_object_id: String,
    #[serde(deserialize_with = "id_string")]
    object_id_to_merge: String,
}

/// `POST /{object}/merge` → 200 with the survivor.
pub async fn merge(
    State(state): State<SimState>,
    Path(object): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let object = object_type(&object)?;
    let input: MergeBody = parse_body(&body)?;
    let parse = |s: &str| s.parse::<u64>().map_err(|_| ApiError::not_found(s));
    let (primary, loser) = (parse(&input.primary_object_id)?, parse(&input.object_id_to_merge)?);
    let now = state.now_ms();
    let rec = state.lock().store.merge(object, primary, loser, now)?;
    Ok(Json(render_written(&rec)))
}

/// `GET /account-info/v3/api-usage/daily/private-apps`.
pub async fn api_usage(State(state): State<SimState>) -> Json<Value> {
    let inner = state.lock();
    let cfg = &inner.limiter.config;
    Json(json!({ "results": [{
        "name": "private-apps-api-calls-daily",
        "usageLimit": cfg.daily_max,
        "currentUsage": inner.limiter.daily_used(),
        "collectedAt": crate::model::iso_ms(state.now_ms()),
        "fetchStatus": "SUCCESS",
        "resetsAt": crate::model::iso_ms(inner.limiter.resets_at(state.clock.now()).timestamp_millis()),
    }]}))
}
