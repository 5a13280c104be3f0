//! SOQL `query` / `queryAll` and cursor paging via `nextRecordsUrl` (spec §3): batches of
//! min(2000, `Sforce-Query-Options: batchSize`, the `max_batch` quirk), cursors that expire
//! (`INVALID_QUERY_LOCATOR`), deleted rows only in `queryAll`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use http::HeaderMap;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::gate::ApiVersion;
use crate::ids;
use crate::soql;
use crate::state::{Cursor, SimState};

/// Default and maximum batch size.
pub const MAX_BATCH: usize = 2000;
/// Smallest batch size a client may ask for.
pub const MIN_BATCH: usize = 200;

fn requested_batch(headers: &HeaderMap) -> usize {
    headers
        .get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').find_map(|p| p.trim().strip_prefix("batchSize=")))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .map_or(MAX_BATCH, |n| n.clamp(MIN_BATCH, MAX_BATCH))
}

fn page(version: &str, locator: &str, cursor: &Cursor, offset: usize) -> Value {
    let end = (offset + cursor.batch).min(cursor.rows.len());
    let done = end >= cursor.rows.len();
    let mut body = json!({"totalSize": cursor.rows.len(), "done": done, "records": cursor.rows[offset..end]});
    if !done {
        body["nextRecordsUrl"] = json!(format!("/services/data/{version}/query/{locator}-{end}"));
    }
    body
}

fn run(
    state: &SimState,
    v: &ApiVersion,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    all: bool,
) -> ApiResult<Response> {
    let q =
        params.get("q").ok_or_else(|| ApiError::bad_request("MALFORMED_QUERY", "q parameter required"))?;
    let plan = soql::plan(&soql::parse(q)?, &state.custom_fields())?;
    if let Some(f) =
        plan.filter_fields().into_iter().find(|f| !f.filterable || !state.filterable(plan.object, &f.name))
    {
        let msg = format!("field '{}' can not be filtered in a query call", f.name);
        return Err(ApiError::bad_request("INVALID_FIELD", msg).with_fields(vec![f.name.clone()]));
    }
    let now = state.now();
    let mut g = state.lock();
    g.store.purge_expired(now);
    let batch = requested_batch(headers).min(g.quirks.max_batch.max(1));
    let visible = g.store.all().filter_map(|r| r.view(now)).filter(|r| all || r.deleted_at.is_none());
    let matched = plan.run(visible);
    if plan.count {
        return Ok(Json(json!({"totalSize": matched.len(), "done": true, "records": []})).into_response());
    }
    let rows: Vec<Value> = matched.into_iter().map(|r| r.to_json(&plan.fields, &v.raw)).collect();
    g.next_cursor += 1;
    let locator = ids::to_18(&ids::short_id("01g", g.next_cursor));
    let cursor = Cursor { rows, batch, last_used: now };
    let body = page(&v.raw, &locator, &cursor, 0);
    if body["done"] == json!(false) {
        g.cursors.insert(locator, cursor);
    }
    Ok(Json(body).into_response())
}

/// `GET /query?q=…` — live rows only.
pub async fn query(
    State(state): State<SimState>,
    Extension(v): Extension<ApiVersion>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    run(&state, &v, &headers, &params, false)
}

/// `GET /queryAll?q=…` — includes recycle-bin rows (`IsDeleted`, `MasterRecordId`).
pub async fn query_all(
    State(state): State<SimState>,
    Extension(v): Extension<ApiVersion>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    run(&state, &v, &headers, &params, true)
}

/// `GET /query/{locator}-{offset}` — the next batch of an open cursor.
pub async fn more(
    State(state): State<SimState>,
    Extension(v): Extension<ApiVersion>,
    Path((_v, next)): Path<(String, String)>,
) -> ApiResult<Response> {
    let invalid = || ApiError::bad_request("INVALID_QUERY_LOCATOR", "invalid query locator");
    let (locator, offset) = next.rsplit_once('-').ok_or_else(invalid)?;
    let offset: usize = offset.parse().map_err(|_| invalid())?;
    let now = state.now();
    let mut g = state.lock();
    let ttl = Duration::seconds(g.quirks.cursor_ttl_secs);
    let cursor = g.cursors.get_mut(locator).ok_or_else(invalid)?;
    if cursor.last_used + ttl <= now || offset >= cursor.rows.len() {
        return Err(invalid());
    }
    cursor.last_used = now;
    Ok(Json(page(&v.raw, locator, cursor, offset)).into_response())
}
