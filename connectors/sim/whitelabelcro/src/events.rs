//! The Events API (spec §2.3, §3): the cursor feed `GET /api/v1/events` (only `types`, `cursor`,
//! `limit`), `GET /events/{id}`, `GET /events/sample`, `POST /events/test`, and the cursor codec
//! (base64url of `"{createdUtc-unix-ms}:{id}"`, exclusive).

use axum::Router;
use axum::extract::Path;
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde_json::{Value, json};

use crate::auth::Scope;
use crate::call::{Call, Reply, json_object};
use crate::error::ApiError;
use crate::model::{EVENT_TYPES, Event, Source, ts, whole_second};
use crate::ratelimit::Bucket;
use crate::state::SimState;

/// Default page size (spec §3).
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page size (spec §3).
pub const MAX_LIMIT: usize = 200;

/// The Events API routes.
pub fn routes() -> Router<SimState> {
    Router::new()
        .route("/api/v1/events", get(list))
        .route("/api/v1/events/sample", get(sample))
        .route("/api/v1/events/test", post(test_event))
        .route("/api/v1/events/{id}", get(get_one))
}

/// The cursor pointing just after `e`.
pub fn encode_cursor(created: DateTime<Utc>, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", created.timestamp_millis()))
}

/// Decodes a cursor into (unix ms, id); anything else → 400.
pub fn decode_cursor(c: &str) -> Result<(i64, i64), ApiError> {
    let bad = || ApiError::invalid("cursor could not be decoded");
    let bytes = URL_SAFE_NO_PAD.decode(c).or_else(|_| URL_SAFE.decode(c)).map_err(|_| bad())?;
    let s = String::from_utf8(bytes).map_err(|_| bad())?;
    let (ms, id) = s.split_once(':').ok_or_else(bad)?;
    Ok((ms.parse().map_err(|_| bad())?, id.parse().map_err(|_| bad())?))
}

/// `types=`: comma-separated, lowercased; empty → no filter; an unknown type → 400 naming it.
fn parse_types(raw: Option<&str>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let types: Vec<String> =
        raw.split(',').map(|t| t.trim().to_ascii_lowercase()).filter(|t| !t.is_empty()).collect();
    if let Some(bad) = types.iter().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
        return Err(ApiError::invalid(format!("unknown event type '{bad}' in types")));
    }
    Ok((!types.is_empty()).then_some(types))
}

fn parse_limit(raw: Option<&str>) -> Result<usize, ApiError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::invalid("limit must be an integer from 1 to 200")),
    }
}

/// `GET /api/v1/events`: oldest first by (createdUtc, id); `X-Paging-Cursor` only when more rows
/// existed at request time. An empty `cursor=` is undecodable → 400.
async fn list(call: Call) -> Response {
    call.run(Scope::EventsRead, Bucket::Read, |ctx, inner| {
        ctx.only_params(&["types", "cursor", "limit"])?;
        let limit = parse_limit(ctx.param("limit"))?;
        let types = parse_types(ctx.param("types"))?;
        let after = ctx.param("cursor").map(decode_cursor).transpose()?;
        let mut rows: Vec<&Event> = inner
            .store
            .events
            .iter()
            .filter(|e| e.company_id == ctx.who.company_id)
            .filter(|e| after.is_none_or(|a| (e.created_utc.timestamp_millis(), e.id) > a))
            .filter(|e| types.as_ref().is_none_or(|t| t.contains(&e.kind)))
            .collect();
        rows.sort_by_key(|e| (e.created_utc, e.id));
        let more = rows.len() > limit;
        rows.truncate(limit);
        let mut reply = Reply::ok(json!({
            "events": rows.iter().map(|e| e.envelope()).collect::<Vec<_>>(),
            "count": rows.len(),
        }));
        if more && let Some(last) = rows.last() {
            reply.headers.push(("x-paging-cursor", encode_cursor(last.created_utc, last.id)));
        }
        Ok(reply)
    })
}

/// `GET /api/v1/events/{id}`: 404 when missing or another company's.
async fn get_one(call: Call, Path(id): Path<String>) -> Response {
    call.run(Scope::EventsRead, Bucket::Read, |ctx, inner| {
        let id: i64 = id.parse().map_err(|_| ApiError::invalid("event id must be an integer"))?;
        let e = inner
            .store
            .events
            .iter()
            .find(|e| e.id == id && e.company_id == ctx.who.company_id)
            .ok_or_else(|| ApiError::not_found("event"))?;
        Ok(Reply::ok(e.envelope()))
    })
}

/// A synthetic payload for `kind` (SUGGESTION payloads for the types the docs leave open).
pub fn sample_payload(kind: &str, n: i64, at: DateTime<Utc>) -> Value {
    let d = ts(at);
    match kind {
        "invoice.created" => json!({"invoice_id": 7000 + n, "client_id": 901, "amount": 149.00,
            "due_date": &d[..10], "invoice_status": "Unpaid", "description": "Monthly service"}),
        "invoice.status_changed" => json!({"invoice_id": 7000 + n, "client_id": 901,
            "previous_status": "Unpaid", "new_status": "Paid", "changed_date": d,
            "total_paid": 149.00, "balance": 0.00}),
        "payment.succeeded" => json!({"payment_id": 8000 + n, "invoice_id": 7000 + n, "client_id": 901,
            "payment_amount": 149.00, "date_paid": d, "payment_method": "card"}),
        "payment.failed" => json!({"payment_id": 8000 + n, "invoice_id": 7000 + n, "client_id": 901,
            "amount_attempted": 149.00, "failure_reason": "card_declined"}),
        "client.created" | "lead.created" => json!({"client_id": 900 + n, "first_name": "Sample",
            "last_name": "Person", "email": "sample@example.test", "phone": null,
            "status": if kind == "lead.created" { "Lead - New" } else { "Active Client" },
            "created_date": d}),
        "client.status_changed" => json!({"client_id": 900 + n, "previous_status": "Lead - New",
            "new_status": "Active Client", "changed_date": d}),
        "affiliate.created" => json!({"employee_id": 300 + n, "full_name": "Sample Partner",
            "email": "partner@example.test", "phone": null, "is_approved_affiliate": true, "created_date": d}),
        "document.uploaded" => json!({"document_id": 6000 + n, "client_id": 901, "file_name": "report.pdf",
            "document_type": "credit_report", "uploaded_date": d}),
        _ => json!({"agreement_id": 5000 + n, "client_id": 901, "agreement_name": "Service Agreement",
            "signed_date": d}),
    }
}

/// `GET /api/v1/events/sample?type=X`: 2 synthetic envelopes, not saved (ids far above real ones).
async fn sample(call: Call) -> Response {
    call.run(Scope::EventsRead, Bucket::Read, |ctx, _inner| {
        ctx.only_params(&["type"])?;
        let kind =
            ctx.param("type").ok_or_else(|| ApiError::invalid("query parameter 'type' is required"))?;
        if !EVENT_TYPES.contains(&kind) {
            return Err(ApiError::invalid(format!("unknown event type '{kind}'")));
        }
        let at = whole_second(ctx.now);
        let envs: Vec<Value> = (1..=2)
            .map(|n| {
                json!({"id": 9_000_000_000i64 + n, "type": kind, "createdUtc": ts(at),
                    "companyId": ctx.who.company_id, "payload": sample_payload(kind, n, at),
                    "metadata": Source::Test.metadata()})
            })
            .collect();
        Ok(Reply::ok(Value::Array(envs)))
    })
}

/// `POST /api/v1/events/test` `{"type", "payload"?}` → 201 and the saved envelope, dispatched to
/// matching subscriptions with `metadata.source = "test"`.
async fn test_event(call: Call, body: Bytes) -> Response {
    call.run(Scope::Admin, Bucket::Admin, |ctx, inner| {
        let b = json_object(&body)?;
        let kind =
            b.get("type").and_then(Value::as_str).ok_or_else(|| ApiError::invalid("'type' is required"))?;
        if !EVENT_TYPES.contains(&kind) {
            return Err(ApiError::invalid(format!("unknown event type '{kind}'")));
        }
        let payload = match b.get("payload") {
            None | Some(Value::Null) => sample_payload(kind, 1, ctx.now),
            Some(Value::Object(p)) => Value::Object(p.clone()),
            Some(_) => return Err(ApiError::invalid("'payload' must be an object")),
        };
        let ev = inner.store.emit(ctx.who.company_id, kind, payload, Source::Test, ctx.now);
        Ok(Reply::with(StatusCode::CREATED, ev.envelope()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let t = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let c = encode_cursor(t, 40001);
        assert_eq!(decode_cursor(&c).unwrap(), (1_780_000_000_000, 40001));
        assert_eq!(URL_SAFE_NO_PAD.decode(&c).unwrap(), b"1780000000000:40001");
        assert!(decode_cursor("not*base64").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("abc")).is_err());
        assert!(decode_cursor("").is_err());
    }

    #[test]
    fn types_are_lowercased_and_unknown_ones_rejected() {
        assert_eq!(parse_types(Some("Lead.Created, client.created")).unwrap().unwrap().len(), 2);
        assert_eq!(parse_types(Some("")).unwrap(), None);
        assert!(parse_types(Some("lead.updated")).is_err());
    }
}
