//! `POST /{object}/search` (spec §5): filter groups (AND within, OR across) with the documented
//! operators, one sort, `limit` ≤ 200, integer-offset `after`, `total`, a 400 once
//! `after + limit > 10,000`, a 3,000-character body limit, configurable filter limits, archived
//! records never returned, and matching against the lagging index (`Store::indexed`) while the
//! returned properties are the live record's — so a record edited after indexing can come back
//! with a timestamp outside the requested window, as integrators have seen.

use std::cmp::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::SimState;
use crate::error::{ApiError, ApiResult};
use crate::model::{ObjectType, Record, parse_ms};
use crate::objects::{known_props, object_type, parse_body};

/// Results reachable through one query.
pub const RESULT_CAP: usize = 10_000;
/// Page size cap.
pub const MAX_LIMIT: usize = 200;
/// Request body cap in characters.
pub const MAX_BODY: usize = 3_000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    property_name: String,
    operator: String,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    high_value: Option<Value>,
    #[serde(default)]
    values: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct Group {
    #[serde(default)]
    filters: Vec<Filter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchBody {
    #[serde(default)]
    filter_groups: Vec<Group>,
    #[serde(default)]
    sorts: Vec<Value>,
    #[serde(default)]
    properties: Vec<String>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    after: Option<Value>,
    #[serde(default)]
    query: Option<String>,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Orders a record's value against a filter value: platform datetimes as epoch ms, numbers
/// numerically, everything else case-insensitively.
fn compare(rec: &Record, prop: &str, target: &str) -> Option<Ordering> {
    if let Some(ms) = rec.system_ms(prop) {
        return parse_ms(target).map(|t| ms.cmp(&t));
    }
    let v = rec.value(prop)?;
    if let (Ok(a), Ok(b)) = (v.parse::<f64>(), target.parse::<f64>()) {
        return a.partial_cmp(&b);
    }
    Some(v.to_lowercase().cmp(&target.to_lowercase()))
}

fn equals(rec: &Record, prop: &str, target: &str) -> bool {
    if prop == "lifecyclestage" {
        return rec.value(prop).as_deref() == Some(target);
    }
    compare(rec, prop, target) == Some(Ordering::Equal)
}

/// `IN`/`NOT_IN`: string values must be given lowercase (spec §5), so they are not lowercased here.
fn is_in(rec: &Record, prop: &str, values: &[Value]) -> bool {
    let Some(v) = rec.value(prop) else { return false };
    let stored = if prop == "lifecyclestage" { v } else { v.to_lowercase() };
    values.iter().map(text).any(|t| {
        t == stored || rec.system_ms(prop).is_some_and(|ms| parse_ms(&t) == Some(ms)) || {
            matches!((stored.parse::<f64>(), t.parse::<f64>()), (Ok(a), Ok(b)) if a == b)
        }
    })
}

fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, rest)) => {
            s.starts_with(head)
                && (0..=s.len() - head.len())
                    .any(|i| s.is_char_boundary(head.len() + i) && glob(rest, &s[head.len() + i..]))
        }
    }
}

fn contains_token(rec: &Record, prop: &str, pattern: &str) -> bool {
    let Some(v) = rec.value(prop) else { return false };
    let (v, p) = (v.to_lowercase(), pattern.to_lowercase());
    glob(&p, &v) || v.split(|c: char| c.is_whitespace() || c == ',' || c == ';').any(|t| glob(&p, t))
}

fn matches(rec: &Record, f: &Filter) -> ApiResult<bool> {
    let prop = f.property_name.as_str();
    let value = f.value.as_ref().map(text).unwrap_or_default();
    let cmp = || compare(rec, prop, &value);
    Ok(match f.operator.as_str() {
        "EQ" => equals(rec, prop, &value),
        "NEQ" => !equals(rec, prop, &value),
        "GT" => cmp() == Some(Ordering::Greater),
        "GTE" => matches!(cmp(), Some(Ordering::Greater | Ordering::Equal)),
        "LT" => cmp() == Some(Ordering::Less),
        "LTE" => matches!(cmp(), Some(Ordering::Less | Ordering::Equal)),
        "BETWEEN" => {
            let high = f
                .high_value
                .as_ref()
                .map(text)
                .ok_or_else(|| ApiError::validation("BETWEEN needs highValue"))?;
            matches!(cmp(), Some(Ordering::Greater | Ordering::Equal))
                && matches!(compare(rec, prop, &high), Some(Ordering::Less | Ordering::Equal))
        }
        "IN" => is_in(rec, prop, f.values.as_deref().unwrap_or_default()),
        "NOT_IN" => !is_in(rec, prop, f.values.as_deref().unwrap_or_default()),
        "HAS_PROPERTY" => rec.value(prop).is_some(),
        "NOT_HAS_PROPERTY" => rec.value(prop).is_none(),
        "CONTAINS_TOKEN" => contains_token(rec, prop, &value),
        "NOT_CONTAINS_TOKEN" => !contains_token(rec, prop, &value),
        other => return Err(ApiError::validation(format!("Unknown filter operator {other}"))),
    })
}

fn sort_cmp(a: &Record, b: &Record, prop: &str) -> Ordering {
    if let (Some(x), Some(y)) = (a.system_ms(prop), b.system_ms(prop)) {
        return x.cmp(&y);
    }
    match (a.value(prop), b.value(prop)) {
        (Some(x), Some(y)) => match (x.parse::<f64>(), y.parse::<f64>()) {
            (Ok(p), Ok(q)) => p.partial_cmp(&q).unwrap_or(Ordering::Equal),
            _ => x.to_lowercase().cmp(&y.to_lowercase()),
        },
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Ties on the sort key come back in a seeded, stable but not id-ordered sequence, so a connector
/// that relies on an implicit id tiebreak is caught.
fn tie_key(id: u64, seed: u64) -> u64 {
    (id ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29)
}

fn parse_sort(sorts: &[Value]) -> ApiResult<Option<(String, bool)>> {
    if sorts.len() > 1 {
        return Err(ApiError::validation("Only one sort is allowed"));
    }
    Ok(sorts.first().map(|s| match s {
        Value::String(p) => match p.strip_prefix('-') {
            Some(p) => (p.to_string(), true),
            None => (p.clone(), false),
        },
        o => {
            let prop = o.get("propertyName").map(text).unwrap_or_default();
            (prop, o.get("direction").and_then(Value::as_str) == Some("DESCENDING"))
        }
    }))
}

fn check_limits(state: &SimState, b: &SearchBody) -> ApiResult<()> {
    let beh = state.lock().store.behaviour.clone();
    let total: usize = b.filter_groups.iter().map(|g| g.filters.len()).sum();
    if b.filter_groups.len() > beh.max_filter_groups
        || b.filter_groups.iter().any(|g| g.filters.len() > beh.max_filters_per_group)
        || total > beh.max_filters_total
    {
        return Err(ApiError::validation(format!(
            "Too many filters: at most {} filterGroups, {} filters per group and {} filters in total",
            beh.max_filter_groups, beh.max_filters_per_group, beh.max_filters_total
        )));
    }
    Ok(())
}

fn query_hit(rec: &Record, q: &str) -> bool {
    let fields: &[&str] = match rec.object {
        ObjectType::Contacts => {
            &["firstname", "lastname", "email", "phone", "company", "hs_additional_emails"]
        }
        ObjectType::Companies => &["name", "domain", "website", "phone"],
    };
    let q = q.to_lowercase();
    fields.iter().filter_map(|f| rec.value(f)).any(|v| v.to_lowercase().contains(&q))
}

/// `POST /{object}/search`.
pub async fn search(
    State(state): State<SimState>,
    Path(object): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let object = object_type(&object)?;
    if String::from_utf8_lossy(&body).chars().count() > MAX_BODY {
        return Err(ApiError::validation(format!("Request body exceeds {MAX_BODY} characters")));
    }
    let b: SearchBody = parse_body(&body)?;
    check_limits(&state, &b)?;
    let limit = b.limit.unwrap_or(10);
    if limit > MAX_LIMIT {
        return Err(ApiError::validation(format!("limit must be at most {MAX_LIMIT}")));
    }
    let after = match &b.after {
        None => 0,
        Some(v) => text(v).parse::<usize>().map_err(|_| ApiError::validation("after must be an integer"))?,
    };
    if after + limit > RESULT_CAP {
        return Err(ApiError::validation(format!(
            "Search results are limited to {RESULT_CAP}; after + limit may not exceed it"
        )));
    }
    let sort = parse_sort(&b.sorts)?;
    let now = state.now_ms();
    let mut inner = state.lock();
    let mut hits = Vec::new();
    for rec in inner.store.indexed(object, now) {
        let mut any = b.filter_groups.is_empty();
        for g in &b.filter_groups {
            let mut all = true;
            for f in &g.filters {
                all = all && matches(&rec, f)?;
            }
            any = any || all;
        }
        if any && b.query.as_deref().is_none_or(|q| query_hit(&rec, q)) {
            hits.push(rec);
        }
    }
    let seed = state.config.seed;
    match &sort {
        Some((prop, desc)) => hits.sort_by(|a, b| {
            let o = sort_cmp(a, b, prop);
            (if *desc { o.reverse() } else { o }).then_with(|| tie_key(a.id, seed).cmp(&tie_key(b.id, seed)))
        }),
        None => hits.sort_by_key(|r| (r.created_ms, r.id)),
    }
    let total = hits.len();
    let props = known_props(&inner.store.catalog, object, b.properties.clone());
    let results: Vec<Value> = hits
        .iter()
        .skip(after)
        .take(limit)
        .map(|snap| inner.store.get(object, snap.id).filter(|r| !r.archived()).unwrap_or(snap).render(&props))
        .collect();
    let mut out = json!({ "total": total, "results": results });
    if after + limit < total {
        out["paging"] = json!({ "next": { "after": (after + limit).to_string() } });
    }
    Ok(Json(out))
}
