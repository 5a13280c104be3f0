//! The authenticated REST session: client-credentials token acquisition (spec §2), every call
//! sent to the token's `instance_url` through the shared [`HttpClient`], one re-authentication
//! on 401 `INVALID_SESSION_ID`, the daily-budget check before each send, and SOQL helpers.

use std::sync::Mutex;

use connector_api::ConnectorError;
use connector_api::http::{HttpClient, RequestSpec, Response};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use secrecy::{ExposeSecret, SecretString};

use crate::budget::Budget;
use crate::soql::pct;
use crate::wire::{ErrorItem, QueryResponse, TokenResponse};

/// The rate-limit bucket every request of this connector consumes.
pub const BUCKET: &str = "api";

/// A live session.
#[derive(Debug, Clone)]
struct Session {
    token: SecretString,
    instance_url: String,
}

/// One org's REST API, authenticated on demand.
pub struct Api {
    http: HttpClient,
    budget: Budget,
    login_url: String,
    client_id: String,
    client_secret: SecretString,
    version: String,
    session: Mutex<Option<Session>>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("login_url", &self.login_url).field("version", &self.version).finish()
    }
}

/// Where a request goes: a path under `/services/data/vXX.X`, or a path the server handed back.
pub enum Target<'a> {
    /// `/query?q=…`, `/composite/sobjects`, … (appended to the versioned data root).
    Data(&'a str),
    /// A server-given path such as `nextRecordsUrl` (appended to the instance URL).
    Raw(&'a str),
}

impl Api {
    /// An API over `http`, which must already carry the redactor and budget observer.
    pub fn new(
        http: HttpClient,
        budget: Budget,
        login_url: String,
        client_id: String,
        client_secret: SecretString,
        version: String,
    ) -> Self {
        http.redactor().add_secret(client_secret.expose_secret());
        let version = if version.starts_with('v') { version } else { format!("v{version}") };
        let login_url = login_url.trim_end_matches('/').to_string();
        Self { http, budget, login_url, client_id, client_secret, version, session: Mutex::new(None) }
    }

    /// The budget tracker.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Runs the client-credentials flow and stores the session.
    async fn login(&self) -> Result<Session, ConnectorError> {
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            pct(&self.client_id),
            pct(self.client_secret.expose_secret())
        );
        let spec = RequestSpec::post(format!("{}/services/oauth2/token", self.login_url))
            .header(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"))
            .body(form)
            .idempotent(true)
            .bucket(BUCKET)
            .log_as("POST /services/oauth2/token");
        let token: TokenResponse = self.http.send_json(spec).await.map_err(|e| match e {
            // The OAuth endpoint answers 400 `invalid_client`/`invalid_grant` for bad credentials.
            ConnectorError::Invalid { message, .. } | ConnectorError::NotFound { message } => {
                ConnectorError::Auth { message }
            }
            other => other,
        })?;
        self.http.redactor().add_secret(&token.access_token);
        let session = Session {
            token: SecretString::from(token.access_token),
            instance_url: token.instance_url.trim_end_matches('/').to_string(),
        };
        *self.session.lock().expect("session lock") = Some(session.clone());
        Ok(session)
    }

    async fn session(&self) -> Result<Session, ConnectorError> {
        let current = self.session.lock().expect("session lock").clone();
        match current {
            Some(s) => Ok(s),
            None => self.login().await,
        }
    }

    /// Sends `build(url)` with the bearer token; on 401 `INVALID_SESSION_ID` logs in again and
    /// resends once, then gives up with `Auth`. Refuses up front when the budget is spent.
    pub async fn send(
        &self,
        target: Target<'_>,
        build: impl Fn(String) -> RequestSpec,
    ) -> Result<Response, ConnectorError> {
        let mut session = self.session().await?;
        for attempt in 0..2 {
            self.budget.admit()?;
            let url = match target {
                Target::Data(p) => format!("{}/services/data/{}{p}", session.instance_url, self.version),
                Target::Raw(p) => format!("{}{p}", session.instance_url),
            };
            let bearer = format!("Bearer {}", session.token.expose_secret());
            let mut auth = HeaderValue::from_str(&bearer)
                .map_err(|_| ConnectorError::Auth { message: "access token is not a valid header".into() })?;
            auth.set_sensitive(true);
            let spec = build(url).header(AUTHORIZATION, auth).accept(StatusCode::UNAUTHORIZED).bucket(BUCKET);
            let resp = self.http.send(spec).await?;
            self.budget.observe(resp.headers());
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            let code = serde_json::from_slice::<Vec<ErrorItem>>(resp.body())
                .ok()
                .and_then(|v| v.first().and_then(|e| e.code().map(str::to_string)));
            if attempt == 0 && code.as_deref() == Some("INVALID_SESSION_ID") {
                tracing::info!("salesforce session expired; authenticating again");
                session = self.login().await?;
                continue;
            }
            let code = code.unwrap_or_else(|| "no error code".into());
            return Err(ConnectorError::Auth { message: format!("HTTP 401 {code} after re-authenticating") });
        }
        unreachable!("the loop returns on its second pass")
    }

    /// Sends and decodes JSON.
    pub async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        target: Target<'_>,
        build: impl Fn(String) -> RequestSpec,
    ) -> Result<T, ConnectorError> {
        let resp = self.send(target, build).await?;
        serde_json::from_slice(resp.body()).map_err(|e| ConnectorError::Protocol {
            // serde names the position and the expected type, never the value.
            message: format!("unreadable Salesforce answer: {e}"),
        })
    }

    /// One SOQL batch: `/query` (live rows) or `/queryAll` (recycle bin too).
    pub async fn query(&self, soql: &str, all: bool) -> Result<QueryResponse, ConnectorError> {
        let path = format!("/{}?q={}", if all { "queryAll" } else { "query" }, pct(soql));
        let label = if all { "GET queryAll" } else { "GET query" };
        self.send_json(Target::Data(&path), |url| RequestSpec::get(url).log_as(label)).await
    }

    /// A whole SOQL result, following `nextRecordsUrl` until `done`.
    pub async fn query_pages(
        &self,
        soql: &str,
        all: bool,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, ConnectorError> {
        let mut page = self.query(soql, all).await?;
        let mut rows = std::mem::take(&mut page.records);
        while !page.done {
            let Some(next) = page.next_records_url.take() else {
                return Err(ConnectorError::Protocol {
                    message: "query answer not done but without nextRecordsUrl".into(),
                });
            };
            page = self
                .send_json(Target::Raw(&next), |url| RequestSpec::get(url).log_as("GET query more"))
                .await?;
            rows.append(&mut page.records);
        }
        Ok(rows)
    }
}
