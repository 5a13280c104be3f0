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
    scope: Option<String>,
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

/// Host suffixes of Salesforce's own instance domains (production, sandboxes, government, China).
const SALESFORCE_DOMAINS: [&str; 5] =
    [".salesforce.com", ".force.com", ".cloudforce.com", ".salesforce.mil", ".sfcrmproducts.cn"];

/// Refuses a token response whose `instance_url` would take the access token somewhere other
/// than Salesforce: it must be `https` on a Salesforce domain, or the login host itself (a
/// My Domain login, or a simulator on loopback), and carry no user-info part (`a@b` tricks).
fn check_instance_url(login_url: &str, instance_url: &str) -> Result<(), ConnectorError> {
    let parts = |url: &str| -> Option<(String, String)> {
        let uri: http::Uri = url.parse().ok()?;
        let authority = uri.authority()?;
        if authority.as_str().contains('@') {
            return None;
        }
        Some((uri.scheme_str()?.to_ascii_lowercase(), authority.as_str().to_ascii_lowercase()))
    };
    let refuse = |why: &str| ConnectorError::Protocol {
        message: format!(
            "salesforce token response names instance_url `{instance_url}`, {why}; refusing to send the \
             access token there (check login_url)"
        ),
    };
    let Some((scheme, authority)) = parts(instance_url) else {
        return Err(refuse("which is not a plain http(s) URL"));
    };
    let login = parts(login_url);
    if login.as_ref().is_some_and(|login| *login == (scheme.clone(), authority.clone())) {
        return Ok(());
    }
    let host = authority.rsplit_once(':').map_or(authority.as_str(), |(h, _)| h);
    // A loopback login (a simulator) may name itself differently (`localhost` for `127.0.0.1`):
    // the same port on loopback is the same server.
    let port = |a: &str| a.rsplit_once(':').map(|(_, p)| p.to_string());
    if let Some((_, login_authority)) = &login
        && is_loopback(login_authority)
        && is_loopback(&authority)
        && port(login_authority) == port(&authority)
    {
        return Ok(());
    }
    if scheme == "https" && SALESFORCE_DOMAINS.iter().any(|d| host.ends_with(d)) {
        return Ok(());
    }
    Err(refuse("which is neither the login host nor an https Salesforce domain"))
}

/// Whether an authority (`host[:port]`) names this machine.
fn is_loopback(authority: &str) -> bool {
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
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
        let instance_url = token.instance_url.trim_end_matches('/').to_string();
        check_instance_url(&self.login_url, &instance_url)?;
        let session =
            Session { token: SecretString::from(token.access_token), instance_url, scope: token.scope };
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

    /// The scopes the token response granted (logging in if there is no session yet), or `None`
    /// when it named none.
    pub async fn granted_scopes(&self) -> Result<Option<Vec<String>>, ConnectorError> {
        let session = self.session().await?;
        Ok(session.scope.map(|s| s.split_whitespace().map(str::to_string).collect()))
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
                // A server-given path must stay a path: `@host/…` or `//host/…` would move the
                // request (and the token) to another host.
                Target::Raw(p) if p.starts_with('/') && !p.starts_with("//") => {
                    format!("{}{p}", session.instance_url)
                }
                Target::Raw(_) => {
                    return Err(ConnectorError::Protocol {
                        message: "salesforce returned a next-page URL that is not a path on the instance"
                            .into(),
                    });
                }
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
