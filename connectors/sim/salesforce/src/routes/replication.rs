//! The replication API over REST (spec §4): `sobjects/{Object}/updated/` and `/deleted/`, with
//! minute-truncated inclusive bounds, 30/15-day windows, `latestDateCovered` held back while a
//! long transaction is open, `EXCEEDED_ID_LIMIT` and purge-driven `INVALID_REPLICATION_DATE`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::object;
use crate::error::{ApiError, ApiResult};
use crate::state::{Inner, SimState};
use crate::time;

/// How far back getUpdated reaches.
pub const UPDATED_WINDOW_DAYS: i64 = 30;
/// How far back getDeleted reaches.
pub const DELETED_WINDOW_DAYS: i64 = 15;

fn bad_date(msg: &str) -> ApiError {
    ApiError::bad_request("INVALID_REPLICATION_DATE", msg)
}

/// Parses and truncates `start`/`end`, enforces `start < end` and the window; clamps `end` to now.
fn window(
    params: &HashMap<String, String>,
    now: DateTime<Utc>,
    days: i64,
) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
    let get =
        |k: &str| {
            params.get(k).and_then(|s| time::parse_datetime(s)).map(time::to_minute).ok_or_else(|| {
                ApiError::bad_request("MISSING_ARGUMENT", format!("{k} must be a valid dateTime"))
            })
        };
    let (start, end) = (get("start")?, get("end")?);
    if start >= end {
        return Err(bad_date("start date must chronologically precede end date"));
    }
    if start < now - Duration::days(days) {
        return Err(bad_date(&format!("startDate cannot be more than {days} days ago")));
    }
    Ok((start, end.min(time::to_minute(now))))
}

/// The earliest start of a write not yet visible (open transactions, commit lag), if any.
fn held_back(g: &Inner, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let txn = g.txns.values().map(|(start, _)| *start).min();
    let lag = g.store.all().filter(|r| r.visible_at > now).map(|r| r.modstamp).min();
    txn.into_iter().chain(lag).min().map(time::to_minute)
}

fn too_many(n: usize, cap: usize) -> ApiResult<()> {
    if n > cap {
        return Err(ApiError::bad_request("EXCEEDED_ID_LIMIT", "too many ids, narrow the date range"));
    }
    Ok(())
}

/// `GET /sobjects/{Object}/updated/?start=…&end=…`.
pub async fn updated(
    State(state): State<SimState>,
    Path((_v, obj)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let object = object(&obj)?;
    let now = state.now();
    let (start, end) = window(&params, now, UPDATED_WINDOW_DAYS)?;
    let g = state.lock();
    let ids: Vec<&str> = g
        .store
        .all()
        .filter(|r| r.object == object)
        .filter_map(|r| r.view(now))
        .filter(|r| r.deleted_at.is_none() && r.modstamp >= start && r.modstamp <= end)
        .map(|r| r.id.as_str())
        .collect();
    too_many(ids.len(), g.quirks.id_limit)?;
    let covered = held_back(&g, now).map_or(end, |h| h.min(end));
    Ok(Json(json!({"ids": ids, "latestDateCovered": time::render(covered)})).into_response())
}

/// `GET /sobjects/{Object}/deleted/?start=…&end=…`.
pub async fn deleted(
    State(state): State<SimState>,
    Path((_v, obj)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let object = object(&obj)?;
    let now = state.now();
    let (start, end) = window(&params, now, DELETED_WINDOW_DAYS)?;
    let mut g = state.lock();
    g.store.purge_expired(now);
    let purged = g.store.purged_until(object);
    if purged.is_some_and(|p| p >= start) {
        return Err(bad_date(
            "the recycle bin was purged inside the requested range; a full resync is needed",
        ));
    }
    let rows: Vec<_> = g
        .store
        .all()
        .filter(|r| r.object == object)
        .filter_map(|r| r.view(now))
        .filter_map(|r| r.deleted_at.filter(|d| *d >= start && *d <= end).map(|d| (r.id.as_str(), d)))
        .map(|(id, d)| json!({"id": id, "deletedDate": time::render(d)}))
        .collect();
    too_many(rows.len(), g.quirks.id_limit)?;
    let earliest = purged.unwrap_or_else(|| time::to_minute(now - Duration::days(DELETED_WINDOW_DAYS)));
    let covered = held_back(&g, now).map_or(end, |h| h.min(end));
    Ok(Json(json!({
        "deletedRecords": rows,
        "earliestDateAvailable": time::render(earliest),
        "latestDateCovered": time::render(covered),
    }))
    .into_response())
}
