//! The WhiteLabelCRO connector, written from `specs/whitelabelcro-api.md`.
//!
//! Leads and clients are one entity (§9: one `client_id` space; a lead is a record whose status
//! name matches `'Lead%'`). The object `people` is that entity whole: a lead converted to a
//! client stays the same record, so a pair on `people` keeps its link through the conversion.
//! `clients` and `leads` are the two kinds seen apart (a conversion moves a record from one to
//! the other). Changes come from the cursor-only events feed ([`pull`]),
//! records from the two searches ([`records`]), writes from the one-record actions ([`write`]).
//! All HTTP goes through the shared [`HttpClient`]: buckets `read` (60/min) and `write`
//! (100/min) are paced client-side and re-synchronised from `X-RateLimit-*` headers (and, with
//! [`WlcroConfig::shared_quota`], counted with the account's other workers); 429s and 503s are
//! retried there, honouring `Retry-After`.
//!
//! # Detection delay of plain field edits
//!
//! WhiteLabelCRO emits no event for a plain field update, so `pull_sees_every_edit = false` and
//! the engine's verification sweep re-reads linked records with [`Connector::fetch`] (one Find
//! Client/Find Lead request per record, read bucket). With N linked records and a sweep budget of
//! B records per run, every record is re-read at least once every `ceil(N / B)` runs, so the
//! worst-case delay before a silent edit is seen is `ceil(N / B)` run intervals (plus one run's
//! duration). Example: 5,000 links, B = 250 (≈ 4 min of the 60/min read bucket), 5-minute runs:
//! 20 runs, 100 minutes. Status changes and creates are events and arrive on the next pull.

pub mod checkpoint;
mod classify;
mod pull;
mod records;
mod schema;
pub mod webhook;
pub mod wire;
mod write;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use connector_api::http::{
    BucketPolicy, ClientPolicy, HttpClient, HttpTransport, Redactor, RequestSpec, SharedQuota, account_key,
};
use connector_api::{
    AccessNeed, Capabilities, Connector, ConnectorError, IdentityKey, MissingScope, ObjectCaps, ObjectSchema,
    PullPage, PullRequest, RateBucket, Record, SharedClock, Write, WriteOutcome,
};
use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

pub use classify::WlcroClassifier;
pub use pull::{CURSOR_HEADER, MAX_LIMIT};

/// The connector kind.
pub const KIND: &str = "whitelabelcro";
/// The header carrying the API key (§1).
pub const API_KEY_HEADER: &str = "X-Api-Key";

/// How to reach and pace one WhiteLabelCRO company.
#[derive(Debug, Clone)]
pub struct WlcroConfig {
    /// `https://api.whitelabelcro.com` (or a per-tenant host); no trailing slash needed.
    pub base_url: String,
    /// The opaque API key (never parsed, never logged).
    pub api_key: SecretString,
    /// The read bucket (spec default 60/min; §10 conflict: lookups say 200).
    pub read_per_minute: u32,
    /// The write bucket (100/min).
    pub write_per_minute: u32,
    /// Events per feed page (1–200).
    pub page_limit: usize,
    /// The Find Client path under `/api/v1/integrations/clients/` (`search`, or `find`, §10).
    pub client_search: String,
    /// How far back the checkpoint ring keeps rewind points (at least the pull overlap).
    pub ring_keep: Duration,
    /// Retries, timeouts and pacing of the HTTP client (buckets are set from the fields above).
    pub policy: ClientPolicy,
    /// The account's quota shared with the other workers (a PostgreSQL store), when set: every
    /// send is counted there too, under the base URL and a hash of the key.
    pub shared_quota: Option<Arc<dyn SharedQuota>>,
}

impl WlcroConfig {
    /// The spec defaults for `base_url` and `api_key`.
    pub fn new(base_url: impl Into<String>, api_key: SecretString) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
            read_per_minute: 60,
            write_per_minute: 100,
            page_limit: MAX_LIMIT,
            client_search: "search".into(),
            ring_keep: Duration::from_secs(3600),
            policy: ClientPolicy::default(),
            shared_quota: None,
        }
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The base URL is not http(s).
    #[error("whitelabelcro base_url must start with https:// (or http:// for a local simulator)")]
    BaseUrl,
    /// The key cannot go in a header.
    #[error("whitelabelcro api_key is empty or not a valid header value")]
    ApiKey,
    /// A limit is zero or out of range.
    #[error("whitelabelcro `{0}` is out of range")]
    Range(&'static str),
}

impl From<ConfigError> for ConnectorError {
    fn from(e: ConfigError) -> Self {
        ConnectorError::Invalid { message: e.to_string(), code: Some("config".into()), field: None }
    }
}

/// The objects of this system: every person (`people`), or one kind of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Object {
    People,
    Clients,
    Leads,
}

/// The object names, for errors and capabilities.
pub const OBJECTS: &[&str] = &["people", "clients", "leads"];

/// The record space all objects share (§9).
pub const RECORD_SPACE: &str = "client";

/// Fields the actions take but neither search nor any event returns (§2.2, §6): their value in
/// WhiteLabelCRO is unknown to every reader, never "blank".
pub const UNREADABLE_FIELDS: &[&str] = &["city", "state", "zip", "external_id", "package_keyword"];

impl Object {
    pub(crate) fn parse(name: &str) -> Result<Self, ConnectorError> {
        match name {
            "people" => Ok(Self::People),
            "clients" => Ok(Self::Clients),
            "leads" => Ok(Self::Leads),
            other => Err(ConnectorError::Invalid {
                message: format!("whitelabelcro has no object `{other}` (known: people, clients, leads)"),
                code: Some("unknown_object".into()),
                field: None,
            }),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::People => "people",
            Self::Clients => "clients",
            Self::Leads => "leads",
        }
    }

    /// Whether a record of kind `is_lead` belongs to this object.
    pub(crate) fn holds(self, is_lead: bool) -> bool {
        match self {
            Self::People => true,
            Self::Clients => !is_lead,
            Self::Leads => is_lead,
        }
    }
}

/// The WhiteLabelCRO connector. See the module docs.
pub struct WlcroConnector {
    pub(crate) cfg: WlcroConfig,
    pub(crate) http: HttpClient,
    pub(crate) clock: SharedClock,
    key: HeaderValue,
    /// Whether each record seen so far is a lead (from searches, events and our own writes), so
    /// an update of a `people` record goes through Update Lead or Update Client by its kind
    /// without a read first.
    pub(crate) kinds: std::sync::Mutex<std::collections::HashMap<i64, bool>>,
}

impl std::fmt::Debug for WlcroConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WlcroConnector")
            .field("base_url", &self.cfg.base_url)
            .field("http", &self.http)
            .finish()
    }
}

impl WlcroConnector {
    /// A connector over `transport`, pacing and backing off on `clock`, jitter from `seed`.
    pub fn new(
        cfg: WlcroConfig,
        transport: Arc<dyn HttpTransport>,
        clock: SharedClock,
        seed: u64,
    ) -> Result<Self, ConnectorError> {
        let mut cfg = cfg;
        cfg.base_url = cfg.base_url.trim_end_matches('/').to_string();
        if !(cfg.base_url.starts_with("https://") || cfg.base_url.starts_with("http://")) {
            return Err(ConfigError::BaseUrl.into());
        }
        if cfg.read_per_minute == 0 {
            return Err(ConfigError::Range("read_per_minute").into());
        }
        if cfg.write_per_minute == 0 {
            return Err(ConfigError::Range("write_per_minute").into());
        }
        if !(1..=MAX_LIMIT).contains(&cfg.page_limit) {
            return Err(ConfigError::Range("page_limit").into());
        }
        let secret = cfg.api_key.expose_secret();
        let mut key = HeaderValue::from_str(secret).map_err(|_| ConfigError::ApiKey)?;
        if secret.is_empty() {
            return Err(ConfigError::ApiKey.into());
        }
        key.set_sensitive(true);
        let mut policy = cfg.policy.clone();
        policy.buckets = vec![
            BucketPolicy::new("read", cfg.read_per_minute, Duration::from_secs(60)),
            BucketPolicy::new("write", cfg.write_per_minute, Duration::from_secs(60)),
        ];
        policy.pace_from_headers = true;
        let mut http = HttpClient::new(transport, clock.clone(), seed, policy)
            .with_system("WhiteLabelCRO")
            .with_redactor(Redactor::new([secret]))
            .with_classifier(Arc::new(WlcroClassifier));
        if let Some(quota) = cfg.shared_quota.clone() {
            http = http.with_shared_quota(quota, account_key(KIND, &cfg.base_url, secret));
        }
        Ok(Self { cfg, http, clock, key, kinds: Default::default() })
    }

    /// The HTTP client's counters (requests, 429s, retries, failures).
    pub fn stats(&self) -> connector_api::http::ClientStats {
        self.http.stats()
    }

    pub(crate) fn base(&self) -> &str {
        &self.cfg.base_url
    }

    /// Remembers whether record `id` is a lead.
    pub(crate) fn remember_kind(&self, id: i64, is_lead: bool) {
        self.kinds.lock().expect("kinds lock").insert(id, is_lead);
    }

    /// Whether record `id` is a lead, if it was seen.
    pub(crate) fn known_kind(&self, id: i64) -> Option<bool> {
        self.kinds.lock().expect("kinds lock").get(&id).copied()
    }

    /// Adds the API key header.
    pub(crate) fn authed(&self, spec: RequestSpec) -> RequestSpec {
        spec.header(http::HeaderName::from_static("x-api-key"), self.key.clone())
    }
}

#[async_trait]
impl Connector for WlcroConnector {
    fn capabilities(&self) -> Capabilities {
        let object = |name: &str| ObjectCaps {
            name: name.into(),
            max_batch: 1,
            max_page: self.cfg.page_limit,
            pull_sees_every_edit: false,
            // The searches carry no modified time (spec §6): `modified_at` is the read time.
            modified_times: false,
            reports_deletes: false,
            reports_merges: false,
            identity_fields: records::SEARCH_FIELDS.iter().map(|s| s.to_string()).collect(),
            unreadable_fields: UNREADABLE_FIELDS.iter().map(|s| s.to_string()).collect(),
            record_space: RECORD_SPACE.into(),
        };
        let bucket =
            |name: &str, limit| RateBucket { name: name.into(), limit, window: Duration::from_secs(60) };
        Capabilities {
            kind: KIND.into(),
            objects: OBJECTS.iter().map(|name| object(name)).collect(),
            rate_buckets: vec![
                bucket("read", self.cfg.read_per_minute),
                bucket("write", self.cfg.write_per_minute),
            ],
        }
    }

    async fn pull(&self, req: PullRequest<'_>) -> Result<PullPage, ConnectorError> {
        let object = Object::parse(req.object)?;
        pull::pull(self, object, req).await
    }

    async fn fetch(&self, object: &str, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        records::fetch(self, Object::parse(object)?, ids).await
    }

    async fn find(&self, object: &str, key: &IdentityKey) -> Result<Vec<Record>, ConnectorError> {
        records::find(self, Object::parse(object)?, key).await
    }

    async fn apply(&self, object: &str, writes: Vec<Write>) -> Result<Vec<WriteOutcome>, ConnectorError> {
        write::apply(self, Object::parse(object)?, writes).await
    }

    /// The documented fields (the API has no metadata endpoint) with the company's statuses.
    async fn schema(&self, object: &str) -> Result<Option<ObjectSchema>, ConnectorError> {
        let object = Object::parse(object)?;
        let statuses = schema::statuses(self, object).await?;
        Ok(Some(schema::documented(object, statuses)))
    }

    async fn missing_scopes(&self, needs: &[AccessNeed]) -> Result<Vec<MissingScope>, ConnectorError> {
        schema::missing_scopes(self, needs).await
    }

    /// `GET /api/v1/events?limit=1` (§1 suggestion: needs only `events:read`).
    fn stop_on(&self, stop: connector_api::StopToken) {
        self.http.stop_on(stop);
    }

    async fn health(&self) -> Result<(), ConnectorError> {
        let url = format!("{}/api/v1/events?limit=1", self.base());
        self.http.send(self.authed(RequestSpec::get(url).bucket("read"))).await.map(|_| ())
    }
}
