//! The webhook subscription API (spec §4.1 SUGGESTIONs): create (secret returned once), list (no
//! secrets), get, patch (`targetUrl`, `eventTypes`, `isActive`; managed → 409), delete (204).
//! Scope `webhooks:write`; create/patch in the admin bucket, list/get read, delete write.
//! Create accepts `targetUrl`/`target_url`/`url` and `eventTypes`/`event_types`/`events`.

use axum::Router;
use axum::extract::Path;
use axum::response::Response;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::StatusCode;
use rand::Rng;
use serde_json::{Value, json};

use crate::auth::Scope;
use crate::body::{Obj, first_present, opt_str};
use crate::call::{Call, Reply, json_object};
use crate::error::ApiError;
use crate::model::{EVENT_TYPES, Subscription, whole_second};
use crate::ratelimit::Bucket;
use crate::state::SimState;

/// Shortest caller-supplied secret accepted.
pub const MIN_SECRET_LEN: usize = 32;

/// The subscription routes.
pub fn routes() -> Router<SimState> {
    Router::new()
        .route("/api/v1/webhooks/subscriptions", get(list).post(create))
        .route("/api/v1/webhooks/subscriptions/{id}", get(get_one).patch(update).delete(remove))
}

/// https, or http to localhost/127.0.0.1 (the "development" exception).
pub fn valid_target(url: &str) -> bool {
    match reqwest::Url::parse(url) {
        Ok(u) => match u.scheme() {
            "https" => u.host_str().is_some(),
            "http" => matches!(u.host_str(), Some("localhost" | "127.0.0.1")),
            _ => false,
        },
        Err(_) => false,
    }
}

fn target_url(b: &Obj) -> Result<Option<String>, ApiError> {
    match first_present(b, &["targetUrl", "target_url", "url"]) {
        None => Ok(None),
        Some((Value::String(s), _)) if valid_target(s) => Ok(Some(s.clone())),
        Some((_, name)) => Err(ApiError::invalid(format!("'{name}' must be an https URL"))),
    }
}

fn event_types(b: &Obj) -> Result<Option<Vec<String>>, ApiError> {
    let Some((v, name)) = first_present(b, &["eventTypes", "event_types", "events"]) else { return Ok(None) };
    let list = v.as_array().ok_or_else(|| ApiError::invalid(format!("'{name}' must be an array")))?;
    let mut types = Vec::new();
    for t in list {
        let t = t.as_str().ok_or_else(|| ApiError::invalid(format!("'{name}' must hold strings")))?;
        if !EVENT_TYPES.contains(&t) {
            return Err(ApiError::invalid(format!("unknown event type '{t}'")));
        }
        if !types.iter().any(|x| x == t) {
            types.push(t.to_string());
        }
    }
    if types.is_empty() {
        return Err(ApiError::invalid("subscribe to at least one event type"));
    }
    Ok(Some(types))
}

fn view(s: &Subscription) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

async fn create(call: Call, body: Bytes) -> Response {
    call.run(Scope::WebhooksWrite, Bucket::Admin, |ctx, inner| {
        let b = json_object(&body)?;
        let url = target_url(&b)?.ok_or_else(|| ApiError::invalid("'targetUrl' is required"))?;
        let types = event_types(&b)?.ok_or_else(|| ApiError::invalid("'eventTypes' is required"))?;
        let secret = match opt_str(&b, "secret")? {
            Some(s) if s.len() >= MIN_SECRET_LEN => s,
            Some(_) => return Err(ApiError::invalid("'secret' must be at least 32 characters")),
            None => STANDARD.encode(inner.rng.random::<[u8; 32]>()),
        };
        let managed_by = opt_str(&b, "managedBy")?;
        if managed_by.as_deref().is_some_and(|m| !["zapier", "n8n", "make"].contains(&m)) {
            return Err(ApiError::invalid("'managedBy' must be zapier, n8n or make"));
        }
        let store = &mut inner.store;
        let id = store.next_subscription_id;
        store.next_subscription_id += 1;
        let sub = Subscription {
            id,
            company_id: ctx.who.company_id,
            target_url: url,
            event_types: types,
            is_active: true,
            description: opt_str(&b, "description")?,
            managed_by,
            created_utc: whole_second(ctx.now),
            secret: secret.clone(),
            failed_attempts_in_row: 0,
            exhausted_in_row: 0,
        };
        let mut out = view(&sub);
        out["secret"] = Value::String(secret);
        store.subscriptions.insert(id, sub);
        Ok(Reply::with(StatusCode::CREATED, out))
    })
}

async fn list(call: Call) -> Response {
    call.run(Scope::WebhooksWrite, Bucket::Read, |ctx, inner| {
        ctx.only_params(&[])?;
        let subs: Vec<Value> = inner
            .store
            .subscriptions
            .values()
            .filter(|s| s.company_id == ctx.who.company_id)
            .map(view)
            .collect();
        Ok(Reply::ok(json!({"count": subs.len(), "subscriptions": subs})))
    })
}

fn find<'a>(
    subs: &'a mut std::collections::BTreeMap<i64, Subscription>,
    company: i64,
    raw: &str,
) -> Result<&'a mut Subscription, ApiError> {
    let id: i64 = raw.parse().map_err(|_| ApiError::not_found("subscription"))?;
    subs.get_mut(&id).filter(|s| s.company_id == company).ok_or_else(|| ApiError::not_found("subscription"))
}

async fn get_one(call: Call, Path(raw): Path<String>) -> Response {
    call.run(Scope::WebhooksWrite, Bucket::Read, |ctx, inner| {
        let s = find(&mut inner.store.subscriptions, ctx.who.company_id, &raw)?;
        Ok(Reply::ok(view(s)))
    })
}

/// PATCH: re-enabling resets the circuit-breaker counters; the secret never changes.
async fn update(call: Call, Path(raw): Path<String>, body: Bytes) -> Response {
    call.run(Scope::WebhooksWrite, Bucket::Admin, |ctx, inner| {
        let b = json_object(&body)?;
        let url = target_url(&b)?;
        let types = event_types(&b)?;
        let active = match b.get("isActive").or_else(|| b.get("is_active")) {
            None => None,
            Some(Value::Bool(v)) => Some(*v),
            Some(_) => return Err(ApiError::invalid("'isActive' must be a boolean")),
        };
        let s = find(&mut inner.store.subscriptions, ctx.who.company_id, &raw)?;
        if s.managed_by.is_some() {
            return Err(ApiError::conflict("managed subscriptions cannot be edited"));
        }
        if url.is_none() && types.is_none() && active.is_none() {
            return Err(ApiError::invalid("empty update: give targetUrl, eventTypes or isActive"));
        }
        if let Some(u) = url {
            s.target_url = u;
        }
        if let Some(t) = types {
            s.event_types = t;
        }
        let id = s.id;
        let mut disabled = false;
        if let Some(a) = active {
            if a && !s.is_active {
                s.failed_attempts_in_row = 0;
                s.exhausted_in_row = 0;
            }
            disabled = s.is_active && !a;
            s.is_active = a;
        }
        let out = view(s);
        if disabled {
            inner.store.drop_pending(id);
        }
        Ok(Reply::ok(out))
    })
}

async fn remove(call: Call, Path(raw): Path<String>) -> Response {
    call.run(Scope::WebhooksWrite, Bucket::Write, |ctx, inner| {
        let id = find(&mut inner.store.subscriptions, ctx.who.company_id, &raw)?.id;
        inner.store.subscriptions.remove(&id);
        inner.store.drop_pending(id);
        Ok(Reply::no_content())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_urls_must_be_https_except_loopback() {
        assert!(valid_target("https://hooks.example.test/x"));
        assert!(valid_target("http://127.0.0.1:8080/hook"));
        assert!(valid_target("http://localhost/hook"));
        assert!(!valid_target("http://hooks.example.test/x"));
        assert!(!valid_target("ftp://hooks.example.test"));
    }
}
