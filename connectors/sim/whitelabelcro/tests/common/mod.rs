//! Shared helpers for the simulator's integration tests: an in-process sim on a frozen clock and a
//! small HTTP client that sends the default all-scopes key.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use reqwest::{Method, Response};
use serde_json::Value;
use sim_core::SimHandle;
use sim_whitelabelcro::{SimConfig, SimState, start};

/// The frozen start time of every test sim.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z").unwrap().to_utc()
}

/// A running sim plus a client.
pub struct Sim {
    pub handle: SimHandle,
    pub state: SimState,
    pub http: reqwest::Client,
    pub key: String,
}

pub async fn sim() -> Sim {
    sim_with(SimConfig::frozen(7, t0())).await
}

pub async fn sim_with(config: SimConfig) -> Sim {
    let (handle, state) = start(config).await.unwrap();
    Sim { handle, state, http: reqwest::Client::new(), key: SimConfig::default_key() }
}

impl Sim {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.base_url())
    }

    /// A request with an explicit key (`None`: no header).
    pub async fn call(&self, method: Method, path: &str, key: Option<&str>, body: Option<Value>) -> Response {
        let mut rb = self.http.request(method, self.url(path));
        if let Some(k) = key {
            rb = rb.header("X-Api-Key", k);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        rb.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.call(Method::GET, path, Some(&self.key.clone()), None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.call(Method::POST, path, Some(&self.key.clone()), Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.call(Method::PATCH, path, Some(&self.key.clone()), Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.call(Method::DELETE, path, Some(&self.key.clone()), None).await
    }
}

/// Status and JSON body.
pub async fn json(r: Response) -> (u16, Value) {
    let s = r.status().as_u16();
    let text = r.text().await.unwrap();
    (s, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts the §8 error body shape and returns it.
pub async fn expect_error(r: Response, status: u16, code: &str) -> Value {
    let rid = r.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_string());
    let (s, b) = json(r).await;
    assert_eq!(s, status, "body: {b}");
    assert_eq!(b["error"]["code"], code, "body: {b}");
    assert!(b["error"]["message"].is_string());
    assert_eq!(b["request_id"].as_str(), rid.as_deref(), "request_id matches X-Request-Id");
    b
}

/// A lead body.
pub fn lead(first: &str, email: &str) -> Value {
    serde_json::json!({"first_name": first, "last_name": "Ruiz", "email": email})
}
