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

/// The smallest daily API allocation of an org (Developer Edition), assumed until the server
/// reports the real one.
const SMALLEST_DAILY_ALLOCATION: u64 = 15_000;

/// A live session.
#[derive(Debug, Clone)]
struct Session {
    token: SecretString,
    instance_url: String,
    scope: Option<String>,
}

/// One org's REST API, authenticated on demand.
pub struct Api {
    pub(crate) http: HttpClient,
    budget: Budget,
    login_url: String,
    client_id: String,
    client_secret: SecretString,
    version: String,
    allowed_instance_hosts: Vec<(String, String)>,
    session: Mutex<Option<Session>>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("login_url", &self.login_url).field("version", &self.version).finish()
    }
}

/// Host suffixes of Salesforce's own instance domains (`*.my.salesforce.com` is under the first).
const SALESFORCE_DOMAINS: [&str; 3] = [".salesforce.com", ".force.com", ".cloudforce.com"];

/// A URL's scheme and host, lowercased, without the port: `None` for anything but a plain
/// `http(s)://host[:port]…` (user-info `a@b` tricks included).
fn origin(url: &str) -> Option<(String, String)> {
    let uri: http::Uri = url.parse().ok()?;
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    (scheme == "https" || scheme == "http").then(|| (scheme, authority.host().to_ascii_lowercase()))
}

/// An `allowed_instance_hosts` entry as (scheme, host): `http://127.0.0.1:9000` or a bare host
/// (`https` then). The port is ignored.
pub fn allowed_origin(entry: &str) -> Option<(String, String)> {
    if entry.contains("://") { origin(entry) } else { origin(&format!("https://{entry}")) }
}

/// Refuses a token response whose `instance_url` would take the access token somewhere other
/// than Salesforce: it must be `https` on a Salesforce domain, or match an entry of
/// `allowed_instance_hosts` in scheme and host (the port is not compared: a host is trusted
/// whole or not at all), and carry no user-info part.
fn check_instance_url(allowed: &[(String, String)], instance_url: &str) -> Result<(), ConnectorError> {
    let refuse = |why: &str| {
        tracing::warn!(why, "salesforce token response names an instance_url that is not allowed");
        ConnectorError::Misconfigured {
            message: format!(
                "salesforce token response names an instance_url {why}; refusing to send the access \
                 token there. A legitimate non-Salesforce host (a proxy, a simulator) must be listed \
                 in `allowed_instance_hosts`"
            ),
        }
    };
    let Some((scheme, host)) = origin(instance_url) else {
        return Err(refuse("that is not a plain http(s) URL"));
    };
    if allowed.iter().any(|a| *a == (scheme.clone(), host.clone())) {
        return Ok(());
    }
    if scheme == "https" && SALESFORCE_DOMAINS.iter().any(|d| host.ends_with(d)) {
        return Ok(());
    }
    Err(refuse(&format!(
        "on host `{host}` ({scheme}), which is neither an https Salesforce domain nor allowed"
    )))
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
    /// `allowed_instance_hosts` are the non-Salesforce hosts (see [`allowed_origin`]) a token
    /// response may name as its `instance_url`; unreadable entries admit nothing.
    pub fn new(http: HttpClient, budget: Budget, login: crate::SalesforceConfig) -> Self {
        http.redactor().add_secret(login.client_secret.expose_secret());
        let version = login.api_version;
        let version = if version.starts_with('v') { version } else { format!("v{version}") };
        let login_url = login.login_url.trim_end_matches('/').to_string();
        let allowed_instance_hosts =
            login.allowed_instance_hosts.iter().filter_map(|e| allowed_origin(e)).collect();
        Self {
            http,
            budget,
            login_url,
            client_id: login.client_id,
            client_secret: login.client_secret,
            version,
            allowed_instance_hosts,
            session: Mutex::new(None),
        }
    }

    /// The budget tracker.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// The most requests one stream's pull may send in one run: a tenth of the daily allocation
    /// the server reported (the smallest edition's until it has).
    pub fn pull_ceiling(&self) -> u64 {
        let daily = self.budget.usage().map_or(SMALLEST_DAILY_ALLOCATION, |u| u.max);
        connector_api::progress::ceiling_from_daily(daily, 100)
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
        check_instance_url(&self.allowed_instance_hosts, &instance_url)?;
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

    /// The replication API's `latestDateCovered` for `object` at `end`: every change stamped up
    /// to it is visible now (a transaction still open holds it back to the transaction's start).
    /// Asked over the minute before `end` (the API's windows are whole minutes), so the answer's
    /// id list stays short.
    pub async fn latest_covered(
        &self,
        object: &str,
        end: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, ConnectorError> {
        #[derive(serde::Deserialize)]
        struct Updated {
            #[serde(rename = "latestDateCovered")]
            latest: Option<String>,
        }
        let minute = chrono::DurationRound::duration_trunc(end, chrono::Duration::minutes(1)).unwrap_or(end);
        let start = minute - chrono::Duration::minutes(1);
        let fmt = |t: chrono::DateTime<chrono::Utc>| pct(&t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        let path = format!("/sobjects/{object}/updated/?start={}&end={}", fmt(start), fmt(minute));
        let got: Updated = self
            .send_json(Target::Data(&path), |url| RequestSpec::get(url).log_as("GET sobjects updated"))
            .await?;
        Ok(got.latest.as_deref().and_then(crate::soql::parse_datetime))
    }

    /// One SOQL batch: `/query` (live rows) or `/queryAll` (recycle bin too).
    pub async fn query(&self, soql: &str, all: bool) -> Result<QueryResponse, ConnectorError> {
        let path = format!("/{}?q={}", if all { "queryAll" } else { "query" }, pct(soql));
        let label = if all { "GET queryAll" } else { "GET query" };
        self.send_json(Target::Data(&path), |url| RequestSpec::get(url).log_as(label)).await
    }

    /// A whole SOQL result, following `nextRecordsUrl` until `done`; a `nextRecordsUrl` seen
    /// before, or more batches than the pull ceiling, is [`ConnectorError::NoProgress`].
    pub async fn query_pages(
        &self,
        soql: &str,
        all: bool,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, ConnectorError> {
        let mut page = self.query(soql, all).await?;
        let mut rows = std::mem::take(&mut page.records);
        let mut trail = connector_api::PullTrail::default();
        let stream = "salesforce query";
        while !page.done {
            let Some(next) = page.next_records_url.take() else {
                return Err(ConnectorError::Protocol {
                    message: "query answer not done but without nextRecordsUrl".into(),
                });
            };
            trail.visit(&next, stream)?;
            trail.request(self.pull_ceiling(), stream)?;
            page = self
                .send_json(Target::Raw(&next), |url| RequestSpec::get(url).log_as("GET query more"))
                .await?;
            rows.append(&mut page.records);
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_urls_are_admitted_by_scheme_and_host_only() {
        let allowed =
            vec![allowed_origin("http://127.0.0.1:9000").unwrap(), allowed_origin("proxy.example").unwrap()];
        for ok in [
            "https://acme.my.salesforce.com",
            "https://na1.salesforce.com:443",
            "https://acme--sb.sandbox.my.force.com",
            "https://x.cloudforce.com",
            "http://127.0.0.1:1234",
            "https://proxy.example:8443",
        ] {
            assert_eq!(check_instance_url(&allowed, ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://acme.my.salesforce.com",
            "https://salesforce.com.evil.example",
            "https://evilsalesforce.com",
            "https://127.0.0.2:9000",
            "http://proxy.example",
            "https://acme.my.salesforce.com@evil.example",
            "ftp://acme.my.salesforce.com",
            "acme.my.salesforce.com",
        ] {
            let err = check_instance_url(&allowed, bad).expect_err(bad);
            assert!(matches!(err, ConnectorError::Misconfigured { .. }), "{bad}: {err:?}");
        }
    }
}
