//! The HubSpot CRM connector (contacts, companies), written from specs/hubspot-api.md.
//!
//! Pulls read the search API in a sliding window on the last-modified property with an id
//! tiebreak inside one millisecond (so the 10,000-result cap never loses or loops), then scan
//! the recycle bin for deletes and merges ([`pull`]); a backfill of everything walks the list
//! API instead when that is not slower at the limits in force. Writes are batch upserts keyed on
//! a unique custom property, batch updates and batch archives with per-item outcomes
//! ([`apply`]). All HTTP goes through the shared [`HttpClient`], paced from the account's tier
//! ([`RateLimits`], [`Tier`]) and then by the limits HubSpot's answers state;
//! [`webhook::verify_v3`] checks webhook signatures.

mod apply;
mod client;
mod lookup;
mod pull;
mod read;
mod schema;
pub mod webhook;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connector_api::http::HttpTransport;
use connector_api::{
    AccessNeed, Capabilities, Connector, ConnectorError, IdentityKey, MissingScope, ObjectCaps, ObjectSchema,
    PullPage, PullRequest, RateBucket, Record, SharedClock, Write, WriteOutcome,
};
use secrecy::SecretString;

pub use webhook::{DEFAULT_TOLERANCE, WebhookError, sign_v3, verify_v3, verify_v3_any};

use client::Api;

/// The connector kind in configuration.
pub const KIND: &str = "hubspot";
/// Batch inputs per request (spec §4).
pub const MAX_BATCH: usize = 100;
/// Search page cap (spec §5).
pub const MAX_SEARCH_PAGE: usize = 200;

/// HubSpot rate limits for this account's tier (spec §10). They are where pacing starts: every
/// non-search answer states the app's burst limit and window (`X-HubSpot-RateLimit-Max`,
/// `-Interval-Milliseconds`) and the account's day (`-Daily`, `-Daily-Remaining`), and the
/// connector paces by those from then on (see [`UserLimits`] for which way they may move).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests per rolling 10 s (Free/Starter 100, Pro/Enterprise 190).
    pub burst_per_10s: u32,
    /// Requests per account day; reaching it stops the system for the day.
    pub daily: u32,
    /// Search requests per second (5).
    pub search_per_second: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Tier::Free.limits()
    }
}

/// A HubSpot subscription tier, for privately distributed apps (private apps, service keys),
/// with the limits the spec (§10) gives for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// 100 / 10 s, 250,000 / day.
    Free,
    /// As free.
    Starter,
    /// 190 / 10 s, 625,000 / day (the current guidelines page; the 2024 changelog said 650,000,
    /// so the lower figure is taken).
    Professional,
    /// 190 / 10 s, 1,000,000 / day.
    Enterprise,
}

impl Tier {
    /// The names `tier` accepts in configuration.
    pub const NAMES: &'static str = "free, starter, professional, enterprise";

    /// A tier by its configuration name (lower case).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "free" => Some(Self::Free),
            "starter" => Some(Self::Starter),
            "professional" => Some(Self::Professional),
            "enterprise" => Some(Self::Enterprise),
            _ => None,
        }
    }

    /// The tier's published limits; search is 5 a second on every tier (spec §5).
    pub fn limits(self) -> RateLimits {
        let (burst_per_10s, daily) = match self {
            Self::Free | Self::Starter => (100, 250_000),
            Self::Professional => (190, 625_000),
            Self::Enterprise => (190, 1_000_000),
        };
        RateLimits { burst_per_10s, daily, search_per_second: 5 }
    }
}

/// Which of the [`RateLimits`] the user set as numbers. A number the user set is a ceiling: the
/// server's stated limit lowers it but never raises it (room left for other apps on the
/// account). A default or a tier preset is only a safe first guess, which the server's stated
/// limit replaces either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserLimits {
    /// `burst_per_10s` was set.
    pub burst: bool,
    /// `daily` was set.
    pub daily: bool,
}

/// How to reach and read one HubSpot account.
#[derive(Debug, Clone)]
pub struct HubspotConfig {
    /// `https://api.hubapi.com` (or a simulator).
    pub base_url: String,
    /// The private-app token, sent as `Authorization: Bearer`.
    pub token: SecretString,
    /// The unique-value custom property creates upsert on (e.g. `wlcro_client_id`).
    pub unique_property: String,
    /// Properties read for each object (`contacts`, `companies`), besides the system ones.
    pub properties: BTreeMap<String, Vec<String>>,
    /// Search page size (≤ 200).
    pub page_limit: usize,
    /// Rate limits of the account, where pacing starts.
    pub rate_limits: RateLimits,
    /// Which of them the user set (ceilings), rather than a default or tier.
    pub user_limits: UserLimits,
    /// Bound on one HTTP attempt.
    pub request_timeout: Duration,
}

impl HubspotConfig {
    /// A config with default properties, page 200 and Free/Starter limits.
    pub fn new(base_url: impl Into<String>, token: SecretString, unique_property: impl Into<String>) -> Self {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let properties = BTreeMap::from([
            ("contacts".to_string(), strings(&["email", "firstname", "lastname", "phone", "company"])),
            ("companies".to_string(), strings(&["name", "domain", "phone"])),
        ]);
        Self {
            base_url: base_url.into(),
            token,
            unique_property: unique_property.into(),
            properties,
            page_limit: MAX_SEARCH_PAGE,
            rate_limits: RateLimits::default(),
            user_limits: UserLimits::default(),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The two supported object types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Object {
    Contacts,
    Companies,
}

impl Object {
    pub(crate) fn parse(name: &str) -> Result<Self, ConnectorError> {
        match name {
            "contacts" => Ok(Self::Contacts),
            "companies" => Ok(Self::Companies),
            other => Err(ConnectorError::Invalid {
                message: format!("hubspot has no object `{other}` (known: contacts, companies)"),
                code: None,
                field: None,
            }),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Contacts => "contacts",
            Self::Companies => "companies",
        }
    }

    /// The change-cursor property (spec §3).
    pub(crate) fn modified_property(self) -> &'static str {
        match self {
            Self::Contacts => "lastmodifieddate",
            Self::Companies => "hs_lastmodifieddate",
        }
    }
}

/// The HubSpot connector. See the crate docs.
pub struct HubspotConnector {
    pub(crate) api: Api,
    pub(crate) config: HubspotConfig,
    /// Configured properties the latest reads asked for and did not get, per object.
    missing: FieldsByObject,
    /// Configured properties the Properties API no longer lists, per object, as of the first
    /// page of the latest run.
    unlisted: FieldsByObject,
}

/// Property names per object, shared between reads.
type FieldsByObject = std::sync::Mutex<BTreeMap<&'static str, std::collections::BTreeSet<String>>>;

fn fields_of(m: &FieldsByObject, object: &str) -> Vec<String> {
    let m = m.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    m.get(object).map(|s| s.iter().cloned().collect()).unwrap_or_default()
}

impl std::fmt::Debug for HubspotConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubspotConnector").field("base_url", &self.config.base_url).finish()
    }
}

impl HubspotConnector {
    /// A connector over `transport`, pacing on `clock`, with jitter and request ids from `seed`.
    pub fn new(
        config: HubspotConfig,
        transport: Arc<dyn HttpTransport>,
        clock: SharedClock,
        seed: u64,
    ) -> Result<Self, ConnectorError> {
        if config.base_url.trim().is_empty() || config.unique_property.trim().is_empty() {
            return Err(ConnectorError::Invalid {
                message: "hubspot config needs base_url and unique_property".into(),
                code: None,
                field: None,
            });
        }
        let api = Api::new(&config, transport, clock, seed)?;
        Ok(Self { api, config, missing: Default::default(), unlisted: Default::default() })
    }

    /// Notes which configured properties the `results` of a read that asked for `requested`
    /// lack. HubSpot answers a requested property that exists with `null` when it is empty
    /// (spec §3), so a requested property absent from every result no longer exists.
    pub(crate) fn note_properties(
        &self,
        object: Object,
        requested: &[String],
        results: &[serde_json::Value],
    ) {
        let Some(configured) = self.config.properties.get(object.name()) else { return };
        let props: Vec<&serde_json::Map<String, serde_json::Value>> =
            results.iter().filter_map(|r| r.get("properties").and_then(|p| p.as_object())).collect();
        if props.is_empty() {
            return;
        }
        let mut missing = self.missing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let set = missing.entry(object.name()).or_default();
        for p in configured.iter().filter(|p| requested.contains(p)) {
            let absent = props.iter().all(|o| !o.contains_key(p));
            if absent {
                set.insert(p.clone());
            } else {
                set.remove(p);
            }
        }
    }

    /// Reads `object`'s properties and notes which configured ones the account no longer has
    /// (schema drift from the metadata). A failed read (no `crm.schemas.*.read` scope, an API
    /// without the endpoint, a transient error) keeps the previous answer and never fails a pull.
    async fn refresh_unlisted(&self, object: Object) {
        let Some(configured) = self.config.properties.get(object.name()) else { return };
        match schema::schema(self, object).await {
            Ok(found) => {
                let gone = configured.iter().filter(|p| found.field(p).is_none()).cloned().collect();
                let mut unlisted = self.unlisted.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                unlisted.insert(object.name(), gone);
            }
            Err(e) => tracing::debug!(object = object.name(), error = %e, "hubspot properties not read"),
        }
    }

    /// Requests the HTTP client sent so far (attempts, retries, 429s).
    pub fn stats(&self) -> connector_api::http::ClientStats {
        self.api.http.stats()
    }

    /// The HubSpot property an identity key names: the engine-neutral `external_id` means the
    /// configured unique property (as Salesforce's connector maps it to its external-id field).
    pub(crate) fn identity_property<'a>(&'a self, field: &'a str) -> &'a str {
        if field == "external_id" { &self.config.unique_property } else { field }
    }

    /// The properties read for `object`: configured ones plus the system and identity ones.
    pub(crate) fn read_properties(&self, object: Object) -> Vec<String> {
        let mut props: Vec<String> = self.config.properties.get(object.name()).cloned().unwrap_or_default();
        let mut extra = vec![
            object.modified_property().to_string(),
            "hs_object_id".to_string(),
            "hs_merged_object_ids".to_string(),
            self.config.unique_property.clone(),
        ];
        if object == Object::Contacts {
            extra.push("email".to_string());
        }
        for p in extra {
            if !props.contains(&p) {
                props.push(p);
            }
        }
        props
    }
}

#[async_trait]
impl Connector for HubspotConnector {
    fn capabilities(&self) -> Capabilities {
        let caps = |name: &str| ObjectCaps {
            name: name.to_string(),
            max_batch: MAX_BATCH,
            max_page: self.config.page_limit.clamp(1, MAX_SEARCH_PAGE),
            pull_sees_every_edit: true,
            modified_times: true,
            reports_deletes: true,
            reports_merges: true,
            identity_fields: vec!["email".into(), self.config.unique_property.clone()],
            unreadable_fields: Vec::new(),
            record_space: name.to_string(),
        };
        let limits = &self.config.rate_limits;
        // The burst window and the day as the server stated them, once it has.
        let (burst, burst_window) = self.api.burst_limit();
        Capabilities {
            kind: KIND.to_string(),
            objects: vec![caps("contacts"), caps("companies")],
            rate_buckets: vec![
                RateBucket { name: "burst".into(), limit: burst, window: burst_window },
                RateBucket {
                    name: "search".into(),
                    limit: limits.search_per_second,
                    window: Duration::from_secs(1),
                },
                RateBucket {
                    name: "daily".into(),
                    limit: u32::try_from(self.api.daily_limit()).unwrap_or(u32::MAX),
                    window: Duration::from_secs(86_400),
                },
            ],
        }
    }

    async fn pull(&self, req: PullRequest<'_>) -> Result<PullPage, ConnectorError> {
        if req.rewind.is_some() {
            self.refresh_unlisted(Object::parse(req.object)?).await;
        }
        pull::pull(self, req).await
    }

    async fn fetch(&self, object: &str, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        read::fetch(self, Object::parse(object)?, ids).await
    }

    async fn estimate(
        &self,
        object: &str,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Option<u64>, ConnectorError> {
        pull::estimate(self, Object::parse(object)?, since, until).await
    }

    /// The configured properties the Properties API no longer lists (read on each run's first
    /// page), together with those the latest reads lacked (a read that cannot say otherwise).
    fn missing_fields(&self, object: &str) -> Vec<String> {
        let mut out = fields_of(&self.unlisted, object);
        out.extend(fields_of(&self.missing, object));
        out.sort();
        out.dedup();
        out
    }

    async fn schema(&self, object: &str) -> Result<Option<ObjectSchema>, ConnectorError> {
        schema::schema(self, Object::parse(object)?).await.map(Some)
    }

    async fn missing_scopes(&self, needs: &[AccessNeed]) -> Result<Vec<MissingScope>, ConnectorError> {
        schema::missing_scopes(self, needs).await
    }

    async fn find(&self, object: &str, key: &IdentityKey) -> Result<Vec<Record>, ConnectorError> {
        read::find(self, Object::parse(object)?, key).await
    }

    async fn find_many(
        &self,
        object: &str,
        field: &str,
        values: &[String],
    ) -> Result<BTreeMap<String, Vec<Record>>, ConnectorError> {
        lookup::find_many(self, Object::parse(object)?, field, values).await
    }

    async fn apply(&self, object: &str, writes: Vec<Write>) -> Result<Vec<WriteOutcome>, ConnectorError> {
        apply::apply(self, Object::parse(object)?, writes).await
    }

    fn stop_on(&self, stop: connector_api::StopToken) {
        self.api.http.stop_on(stop);
    }

    async fn health(&self) -> Result<(), ConnectorError> {
        let url = format!("{}/crm/v3/objects/contacts?limit=1", self.api.base);
        self.api.get_json::<wire::Collection>(url, None).await.map(|_| ())
    }
}
