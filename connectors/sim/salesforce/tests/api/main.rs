//! HTTP-level tests of the Salesforce simulator against an in-process server (frozen clock).

mod auth_limits;
mod composite;
mod control_tls;
mod describe;
mod query;
mod replication;
mod writes;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sim_core::SimHandle;
use sim_salesforce::{ObjectKind, SeedRecord, SimConfig, SimState, start};

/// 2026-03-01T12:00:00Z.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z").unwrap().to_utc()
}

pub struct Sim {
    pub handle: SimHandle,
    pub state: SimState,
    pub http: reqwest::Client,
    pub token: String,
    pub version: &'static str,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

pub fn config() -> SimConfig {
    // `Crosswalk_Id__c` is an extra External ID on every object, beside the default schema.
    SimConfig {
        seed: 7,
        start_time: Some(t0()),
        external_id_fields: vec!["Crosswalk_Id__c".into()],
        ..SimConfig::default()
    }
}

pub async fn sim() -> Sim {
    sim_with(config()).await
}

pub async fn sim_with(cfg: SimConfig) -> Sim {
    let (handle, state) = start(cfg).await.unwrap();
    let http = reqwest::Client::new();
    let mut s = Sim { handle, state, http, token: String::new(), version: "v62.0" };
    s.refresh_token().await;
    s
}

impl Sim {
    /// Runs the client-credentials flow again (sessions expire after 2 h of sim time).
    pub async fn refresh_token(&mut self) {
        let tok = self.token_request("sim-consumer-key", "sim-consumer-secret").await;
        assert_eq!(tok.status, StatusCode::OK, "{}", tok.body);
        self.token = tok.body["access_token"].as_str().unwrap().to_string();
    }

    pub fn base(&self) -> String {
        self.handle.base_url()
    }

    pub async fn token_request(&self, id: &str, secret: &str) -> Answer {
        let form = [("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret)];
        let resp = self
            .http
            .post(format!("{}/services/oauth2/token", self.base()))
            .form(&form)
            .send()
            .await
            .unwrap();
        answer(resp).await
    }

    /// A request to `/services/data/{version}{path}` with the bearer token.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.call_with(method, path, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let url = format!("{}/services/data/{}{path}", self.base(), self.version);
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        answer(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    /// Runs a SOQL query through `?q=` (reqwest encodes it).
    pub async fn query(&self, endpoint: &str, q: &str) -> Answer {
        let url = format!("{}/services/data/{}/{endpoint}", self.base(), self.version);
        let resp = self.http.get(url).query(&[("q", q)]).bearer_auth(&self.token).send().await.unwrap();
        answer(resp).await
    }

    /// Follows a `nextRecordsUrl`.
    pub async fn next(&self, url: &str) -> Answer {
        let resp =
            self.http.get(format!("{}{url}", self.base())).bearer_auth(&self.token).send().await.unwrap();
        answer(resp).await
    }

    pub fn seed(&self, object: ObjectKind, rows: Vec<Value>) -> Vec<String> {
        let recs = rows
            .into_iter()
            .map(|f| SeedRecord {
                object: Some(object),
                fields: f.as_object().unwrap().clone(),
                ..SeedRecord::default()
            })
            .collect();
        self.state.seed(recs).unwrap()
    }

    pub fn seed_contacts(&self, n: usize) -> Vec<String> {
        let rows = (0..n)
            .map(|i| json!({"LastName": format!("L{i}"), "Email": format!("c{i}@example.com")}))
            .collect();
        self.seed(ObjectKind::Contact, rows)
    }
}

pub async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer { status, headers, body }
}

/// The first error code of an error-array body.
pub fn code(a: &Answer) -> &str {
    a.body[0]["errorCode"].as_str().unwrap_or_else(|| panic!("not an error array: {}", a.body))
}
