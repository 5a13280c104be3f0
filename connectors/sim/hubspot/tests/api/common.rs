//! Shared helpers: a frozen-clock simulator, an authed client and JSON calls.

use chrono::{DateTime, Utc};
use reqwest::{Client, Method, StatusCode, header::HeaderMap};
use serde_json::{Map, Value, json};
use sim_core::SimHandle;
use sim_hubspot::{RateLimitConfig, SimConfig, SimState, start};

pub const TOKEN: &str = "pat-na1-test";
pub const SECRET: &str = "client-secret";

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T10:00:00.000Z").unwrap().to_utc()
}

pub struct Sim {
    pub handle: SimHandle,
    pub state: SimState,
    pub client: Client,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// A simulator with a frozen clock and no search lag (tests that need lag set it).
pub async fn sim() -> Sim {
    sim_with(SimConfig::default()).await
}

/// Default rate limits are replaced by generous ones so a frozen clock doesn't trip them; tests of
/// the limits pass their own.
pub async fn sim_with(cfg: SimConfig) -> Sim {
    let rate_limits = if cfg.rate_limits == RateLimitConfig::default() {
        RateLimitConfig { burst_max: 100_000, search_max: 100_000, ..RateLimitConfig::default() }
    } else {
        cfg.rate_limits.clone()
    };
    let cfg = SimConfig {
        rate_limits,
        start_time: Some(t0()),
        tokens: vec![TOKEN.to_string()],
        client_secret: SECRET.to_string(),
        ..cfg
    };
    let (handle, state) = start(cfg).await.expect("sim starts");
    state.set_search_lag(0, 0);
    Sim { handle, state, client: Client::new() }
}

impl Sim {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.base_url())
    }

    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call_as(Some(TOKEN), Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call_as(Some(TOKEN), Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call_as(Some(TOKEN), Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.call_as(Some(TOKEN), Method::DELETE, path, None).await
    }

    pub async fn create_contact(&self, props: Value) -> String {
        let r = self.post("/crm/v3/objects/contacts", json!({ "properties": props })).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["id"].as_str().expect("id").to_string()
    }
}

pub fn props(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("object")
}

pub fn assert_error(r: &Resp, status: u16, category: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.body["status"], "error", "{}", r.body);
    assert_eq!(r.body["category"], category, "{}", r.body);
    assert!(r.body["correlationId"].as_str().is_some_and(|c| c.len() == 36), "{}", r.body);
}
