//! Configuration: embedded defaults, then the `--config` file, then `CROSSWALK__SECTION__KEY`
//! environment variables, deserialised into typed settings that are passed down (never global).
//!
//! Loading reports *every* problem at once (unknown keys with the file and line they stand on,
//! bad values, secrets whose variable or file is missing) so `crosswalk check` can list them all.
//! Secrets are never in the file: the file names an environment variable or a file, and the
//! value is held in a [`SecretString`] that prints as `[REDACTED]`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

pub use crate::settings_needs::Need;

/// The defaults every deployment starts from.
const DEFAULTS: &str = include_str!("settings_defaults.toml");

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where state lives.
    pub store: StoreSettings,
    /// How runs behave.
    pub sync: SyncSettings,
    /// The configured systems, by name (`wlcro`, `hubspot`, …).
    pub systems: BTreeMap<String, SystemSettings>,
    /// The admin web page, JSON API and webhook receiver.
    pub serve: ServeSettings,
    /// Logging.
    pub log: LogSettings,
    /// Each HubSpot system's webhook receiver settings (`webhook_secrets` and
    /// `[systems.NAME.webhook]`), by system name; read beside [`HubspotSettings`] so that struct
    /// keeps its shape.
    pub hubspot_webhooks: BTreeMap<String, HubspotWebhookSettings>,
    /// Systems whose URL settings may use plain `http://` to a host that is not loopback
    /// (`allow_insecure_http = true` under `[systems.NAME]`; see `settings_urls`).
    pub insecure_http: std::collections::BTreeSet<String>,
    /// How the review queue names each system and links to its records (`[review.systems.NAME]`).
    pub review: ReviewSettings,
    /// When a system's pairs are paused (`[breaker]`).
    pub breaker: BreakerSettings,
    /// Who is told when something needs a person (`[alerts]`).
    pub alerts: AlertSettings,
}

/// `[breaker]`: when a system's circuit breaker opens (see `ops::breaker`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct BreakerSettings {
    /// Consecutive failed runs against a system that pause its pairs.
    pub failures: u32,
    /// A run counts as failed for a system when at least this share (0–1) of the requests sent
    /// to it failed (5xx answers, no answer) or a pair failed naming it.
    pub failure_share: f64,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self { failures: 5, failure_share: 0.5 }
    }
}

/// `[alerts]`: thresholds and targets of the notifier (see `ops::alerts`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AlertSettings {
    /// A pair failing this many runs in a row is alerted.
    pub pair_failures: u32,
    /// Open review items above this count are alerted.
    pub review_queue_above: u64,
    /// A stream whose newest applied change is older than this is alerted.
    pub lag_above: HumanDuration,
    /// Attempts per message (the first included), with backoff between them.
    pub attempts: u32,
    /// Where alerts go.
    pub targets: Vec<AlertTarget>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            pair_failures: 3,
            review_queue_above: 100,
            lag_above: HumanDuration(Duration::from_secs(3600)),
            attempts: 4,
            targets: Vec::new(),
        }
    }
}

/// `[[alerts.targets]]`: one receiver.
#[derive(Debug, Clone, Deserialize)]
pub struct AlertTarget {
    /// `webhook` (signed JSON) or `slack` (an incoming webhook: `{"text": …}`).
    pub kind: AlertTargetKind,
    /// Where to POST; follows the URL rules of every URL setting.
    pub url: String,
    /// The HMAC-SHA256 key of a `webhook` target (required there, at least 16 characters).
    pub secret: Option<SecretRef>,
}

/// The receiver kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertTargetKind {
    /// A generic webhook: the JSON payload, signed.
    Webhook,
    /// A Slack-compatible incoming webhook.
    Slack,
}

/// `[review]`: what the review queue shows a person about each system.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReviewSettings {
    /// Per configured system name: its label and record links.
    #[serde(default)]
    pub systems: BTreeMap<String, ReviewSystemSettings>,
}

/// `[review.systems.NAME]`: the name people know a system by and where its records open.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReviewSystemSettings {
    /// Shown instead of the kind's product name (e.g. `HubSpot (EU portal)`).
    pub label: Option<String>,
    /// A record's page: `{id}`, `{object}`, `{portal}` and `{instance}` are filled in. Defaults:
    /// HubSpot `https://app.hubspot.com/contacts/{portal}/record/0-1/{id}`, Salesforce
    /// `{instance}/lightning/r/{object}/{id}/view`; WhiteLabelCRO has none unless set.
    pub record_url: Option<String>,
    /// The HubSpot portal (hub) id for `{portal}`.
    pub portal: Option<String>,
    /// The Salesforce instance URL (`https://acme.my.salesforce.com`) for `{instance}`.
    pub instance: Option<String>,
}

/// The file's shape before each system's `kind` picks its keys (serde cannot report unknown
/// keys inside an internally tagged enum, so systems are read in a second step).
#[derive(Debug, Deserialize)]
struct RawSettings {
    store: StoreSettings,
    sync: SyncSettings,
    #[serde(default)]
    systems: BTreeMap<String, config::Value>,
    serve: ServeSettings,
    log: LogSettings,
    #[serde(default)]
    review: ReviewSettings,
    #[serde(default)]
    breaker: BreakerSettings,
    #[serde(default)]
    alerts: AlertSettings,
}

/// The connector kinds this build knows.
pub const KNOWN_KINDS: [&str; 4] = ["whitelabelcro", "hubspot", "salesforce", "memory"];

/// The state store.
#[derive(Debug, Clone, Deserialize)]
pub struct StoreSettings {
    /// `sqlite://path/to/file.db` (created if missing) or `postgres://user@host/db`.
    pub url: String,
}

/// Run behaviour shared by every pair.
#[derive(Debug, Clone, Deserialize)]
pub struct SyncSettings {
    /// The scheduler's period for `run`.
    pub interval: HumanDuration,
    /// How far behind the checkpoint each pull re-reads, unless a system sets its own.
    pub overlap: HumanDuration,
    /// How far behind the run's start the new watermark may reach at most.
    pub safety_margin: HumanDuration,
    /// Records per pulled page.
    pub page_size: usize,
    /// Where the pair mapping files are.
    pub mappings_dir: PathBuf,
    /// How long a run's lease lasts before another process may take it over.
    pub lease_ttl: HumanDuration,
    /// Share (0–1) of a system's read budget that the verification sweep may spend per run.
    pub sweep_share: f64,
    /// Share (0–1] of the interval a scheduled run (`run`) may keep starting pages for; the
    /// rest of a long stream is carried to the next run. One-shot `sync` and backfills are not
    /// boxed.
    #[serde(default = "time_box_default")]
    pub time_box: f64,
    /// Whether `run` also runs the webhook micro-sync worker: records that pending webhook events
    /// name are synced within seconds (debounced per record) instead of at the next tick.
    #[serde(default = "yes")]
    pub micro_sync: bool,
}

fn yes() -> bool {
    true
}

fn time_box_default() -> f64 {
    0.8
}

/// One configured system; the `kind` selects the connector and its keys.
#[derive(Debug, Clone)]
pub enum SystemSettings {
    /// WhiteLabelCRO (see specs/whitelabelcro-api.md).
    Whitelabelcro(WlcroSettings),
    /// HubSpot CRM (see specs/hubspot-api.md).
    Hubspot(HubspotSettings),
    /// Salesforce (see specs/salesforce-api.md).
    Salesforce(SalesforceSettings),
    /// The in-memory connector, for tests and experiments.
    Memory(MemorySettings),
}

impl SystemSettings {
    /// The connector kind, as written in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Whitelabelcro(_) => "whitelabelcro",
            Self::Hubspot(_) => "hubspot",
            Self::Salesforce(_) => "salesforce",
            Self::Memory(_) => "memory",
        }
    }

    /// The system's own overlap, when it overrides `sync.overlap`.
    pub fn overlap(&self) -> Option<HumanDuration> {
        match self {
            Self::Whitelabelcro(s) => s.overlap,
            Self::Hubspot(s) => s.overlap,
            Self::Salesforce(s) => s.overlap,
            Self::Memory(_) => None,
        }
    }

    /// Every secret this system references, with the key it sits under.
    pub fn secrets(&self) -> Vec<(&'static str, &SecretRef)> {
        match self {
            Self::Whitelabelcro(s) => {
                let mut v = vec![("api_key", &s.api_key)];
                v.extend(s.webhook_secrets.iter().map(|r| ("webhook_secrets", r)));
                v
            }
            Self::Hubspot(s) => {
                let mut v = vec![("token", &s.token)];
                v.extend(s.webhook_secret.iter().map(|r| ("webhook_secret", r)));
                v
            }
            Self::Salesforce(s) => vec![("client_secret", &s.client_secret)],
            Self::Memory(_) => Vec::new(),
        }
    }
}

/// WhiteLabelCRO connection settings.
#[derive(Debug, Clone, Deserialize)]
pub struct WlcroSettings {
    /// API root, e.g. `https://api.whitelabelcro.example`.
    pub base_url: String,
    /// The `X-Api-Key`.
    pub api_key: SecretRef,
    /// Webhook signing secrets; two during a rotation.
    #[serde(default)]
    pub webhook_secrets: Vec<SecretRef>,
    /// Overrides `sync.overlap` for this system.
    pub overlap: Option<HumanDuration>,
    /// Read requests per minute allowed to this key.
    #[serde(default = "default_wlcro_read")]
    pub read_per_minute: u32,
    /// Write requests per minute allowed to this key.
    #[serde(default = "default_wlcro_write")]
    pub write_per_minute: u32,
    /// How webhook deliveries are signed (`[systems.NAME.webhook]`); the spec's scheme by default.
    #[serde(default)]
    pub webhook: WlcroWebhookSettings,
}

/// The WhiteLabelCRO webhook signature scheme. Every key is optional and defaults to the spec's
/// suggestion; `webhook_settings::signature_scheme` reads and checks them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WlcroWebhookSettings {
    /// The signature header (`X-Webhook-Signature`).
    pub signature_header: Option<String>,
    /// The prefix before the digest (`sha256=`; `""` for none).
    pub signature_prefix: Option<String>,
    /// How the digest is written: `hex` or `base64`.
    pub digest: Option<String>,
    /// The HMAC key: `raw` (the secret's UTF-8 bytes) or `base64_decoded`.
    pub key: Option<String>,
    /// What is signed: `body` or `timestamp.body`.
    pub signed: Option<String>,
    /// The timestamp header (`X-Webhook-Timestamp`).
    pub timestamp_header: Option<String>,
    /// How far the timestamp may be from now (`5m`); `0s` does not check it.
    pub tolerance: Option<String>,
}

fn default_wlcro_read() -> u32 {
    60
}

fn default_wlcro_write() -> u32 {
    100
}

/// HubSpot connection settings.
#[derive(Debug, Clone, Deserialize)]
pub struct HubspotSettings {
    /// API root, `https://api.hubapi.com` in production.
    pub base_url: String,
    /// The private-app access token.
    pub token: SecretRef,
    /// The app's client secret, for webhook signature v3.
    pub webhook_secret: Option<SecretRef>,
    /// The unique custom property that carries the WhiteLabelCRO id (the shipped mappings and
    /// the simulator's default schema: `wlcro_client_id`).
    #[serde(default = "default_hubspot_unique")]
    pub unique_property: String,
    /// Overrides `sync.overlap` for this system.
    pub overlap: Option<HumanDuration>,
    /// The account's tier (`free`, `starter`, `professional`, `enterprise`; default `free`):
    /// the limits pacing starts from, until HubSpot's answers state the account's own.
    pub tier: Option<String>,
    /// Requests per rolling 10 s, instead of the tier's: a ceiling the server's stated limit
    /// only lowers (see [`crate::settings_hubspot`]).
    pub burst_per_10s: Option<u32>,
    /// Requests per account day, instead of the tier's: a ceiling likewise.
    pub daily: Option<u32>,
    /// Search requests per second (5 on every tier).
    pub search_per_second: Option<u32>,
}

fn default_hubspot_unique() -> String {
    "wlcro_client_id".to_string()
}

/// A HubSpot system's webhook receiver (`POST /webhooks/hubspot`): the extra client secrets
/// (`webhook_secrets`, for a rotation's overlap, beside `webhook_secret`) and the
/// `[systems.NAME.webhook]` table. `webhook_settings::check_settings` checks them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HubspotWebhookSettings {
    /// Client secrets besides `webhook_secret`; any of them may sign a delivery.
    #[serde(skip)]
    pub secrets: Vec<SecretRef>,
    /// The public base URL HubSpot calls, e.g. `https://sync.example.com` (HubSpot signs the full
    /// URL it called, which a receiver behind a proxy cannot see).
    pub public_url: Option<String>,
    /// How far `X-HubSpot-Request-Timestamp` may be from now (`5m`).
    pub tolerance: Option<String>,
}

/// Salesforce connection settings.
#[derive(Debug, Clone, Deserialize)]
pub struct SalesforceSettings {
    /// Where to get tokens, e.g. `https://login.salesforce.com`.
    pub login_url: String,
    /// The connected app's consumer key.
    pub client_id: String,
    /// The connected app's consumer secret.
    pub client_secret: SecretRef,
    /// The REST API version, e.g. `62.0`.
    #[serde(default = "default_sf_version")]
    pub api_version: String,
    /// The external-id field that carries the WhiteLabelCRO id.
    #[serde(default = "default_sf_external")]
    pub external_id_field: String,
    /// Share (0–1) of the daily API budget kept in reserve.
    #[serde(default = "default_sf_reserve")]
    pub reserve_share: f64,
    /// Overrides `sync.overlap` for this system.
    pub overlap: Option<HumanDuration>,
    /// Hosts besides Salesforce's https domains that a token response may name as its
    /// `instance_url` (a proxy, a simulator): `"http://127.0.0.1"`, or a bare host for https.
    /// Scheme and host are compared, not the port.
    #[serde(default)]
    pub allowed_instance_hosts: Vec<String>,
}

fn default_sf_version() -> String {
    "62.0".to_string()
}

fn default_sf_external() -> String {
    "WLCRO_Id__c".to_string()
}

fn default_sf_reserve() -> f64 {
    0.2
}

/// The in-memory connector has nothing to configure but its batch size.
#[derive(Debug, Clone, Deserialize)]
pub struct MemorySettings {
    /// Writes per apply call.
    #[serde(default = "default_memory_batch")]
    pub max_batch: usize,
}

fn default_memory_batch() -> usize {
    100
}

/// The admin server.
#[derive(Debug, Clone, Deserialize)]
pub struct ServeSettings {
    /// Address to listen on; loopback by default.
    pub listen: String,
    /// The admin token for the web page and JSON API.
    pub admin_token: Option<SecretRef>,
    /// Largest webhook body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Unprocessed webhook events a source may have stored before its receiver answers 503
    /// with `Retry-After` (and stores nothing), so the sender retries later.
    #[serde(default = "default_max_pending")]
    pub max_pending: usize,
}

fn default_max_pending() -> usize {
    100_000
}

/// Log output.
#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `crosswalk=debug`.
    pub level: String,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for people.
    Human,
    /// One JSON object per line, for machines.
    Json,
}

/// Where a secret comes from: `{ env = "VAR" }` or `{ file = "/run/secrets/x" }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// An environment variable holding the secret.
    pub env: Option<String>,
    /// A file holding the secret (trailing newline ignored).
    pub file: Option<PathBuf>,
}

/// Why a secret cannot be used; the message names the variable or file, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The environment variable is missing (or not UTF-8).
    #[error("environment variable {0} is not set; export it (the file names the variable, never the secret)")]
    EnvUnset(String),
    /// The environment variable holds nothing but whitespace.
    #[error("environment variable {0} is empty or only whitespace; put the secret in it")]
    EnvEmpty(String),
    /// The file cannot be read.
    #[error("cannot read secret file {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// The file holds nothing but whitespace.
    #[error("secret file {0} is empty or only whitespace; write the secret into it")]
    FileEmpty(String),
    /// Shorter than this key requires.
    #[error(
        "the secret is {len} characters long; this key needs at least {min}: generate a longer random one"
    )]
    TooShort {
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// Neither or both of `env` and `file`.
    #[error("give exactly one of `env = \"VAR\"` or `file = \"/path\"`")]
    Ambiguous,
}

/// The shortest `serve.admin_token` accepted.
pub const MIN_ADMIN_TOKEN: usize = 24;
/// The shortest webhook signing secret accepted.
pub const MIN_WEBHOOK_SECRET: usize = 16;

impl SecretRef {
    /// Reads the secret, or says what is missing and what to do. An empty or whitespace-only
    /// secret is refused from either source: it would turn a check off, not on.
    pub fn resolve(&self) -> Result<SecretString, SecretError> {
        let value = match (&self.env, &self.file) {
            (Some(var), None) => {
                let v = std::env::var(var).map_err(|_| SecretError::EnvUnset(var.clone()))?;
                if v.trim().is_empty() {
                    return Err(SecretError::EnvEmpty(var.clone()));
                }
                v
            }
            (None, Some(path)) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path)
                    .map_err(|e| SecretError::Unreadable { path: shown.clone(), reason: e.to_string() })?;
                let v = text.trim_end_matches(['\r', '\n']).to_string();
                if v.trim().is_empty() {
                    return Err(SecretError::FileEmpty(shown));
                }
                v
            }
            _ => return Err(SecretError::Ambiguous),
        };
        Ok(SecretString::from(value))
    }

    /// Like [`resolve`](Self::resolve), and at least `min` characters long.
    pub fn resolve_min(&self, min: usize) -> Result<SecretString, SecretError> {
        use secrecy::ExposeSecret;
        let secret = self.resolve()?;
        let len = secret.expose_secret().chars().count();
        if len < min {
            return Err(SecretError::TooShort { len, min });
        }
        Ok(secret)
    }
}

/// A duration written the human way (`5m`, `90s`, `1h 30m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map(HumanDuration)
            .map_err(|e| serde::de::Error::custom(format!("`{s}` is not a duration like `5m` or `90s`: {e}")))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file it is in (or `environment` / `defaults`).
    pub source: String,
    /// The line, when it could be found.
    pub line: Option<usize>,
    /// The dotted key.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: `{}`: {}", self.source, line, self.key, self.message),
            None => write!(f, "{}: `{}`: {}", self.source, self.key, self.message),
        }
    }
}

/// Settings that loaded, with any problems that do not stop loading (unknown keys, missing
/// secrets). `check` prints them all; other commands refuse to start while there are any.
#[derive(Debug)]
pub struct Loaded {
    /// The settings, when they could be read at all.
    pub settings: Option<Settings>,
    /// Everything wrong.
    pub problems: Vec<Problem>,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    /// Problems that stop only the commands that need the secret or setting (a missing webhook
    /// secret stops `serve`, not `sync`); see [`Loaded::problems_for`].
    pub needed: Vec<(Need, Problem)>,
}

/// Loads settings from the defaults, `file` (when it exists or was named explicitly) and the
/// environment. `explicit` is true when the user named the file, so a missing one is a problem.
pub fn load(file: &Path, explicit: bool) -> Loaded {
    let mut problems = Vec::new();
    let file_text = match std::fs::read_to_string(file) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => None,
        Err(e) => {
            problems.push(Problem {
                source: file.display().to_string(),
                line: None,
                key: String::new(),
                message: format!("cannot read the config file: {e}"),
            });
            None
        }
    };
    let source = file.display().to_string();
    let mut builder =
        config::Config::builder().add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
    if let Some(text) = &file_text {
        builder = builder.add_source(config::File::from_str(text, config::FileFormat::Toml));
    }
    builder = builder
        .add_source(config::Environment::with_prefix("CROSSWALK").prefix_separator("__").separator("__"));
    let cfg = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            let message = without_secret_values(e.to_string());
            problems.push(Problem { source, line: None, key: String::new(), message });
            return Loaded {
                settings: None,
                problems,
                file: file_text.map(|_| file.to_path_buf()),
                needed: Vec::new(),
            };
        }
    };
    let mut unknown = Vec::new();
    let raw: Result<RawSettings, _> = serde_ignored::deserialize(cfg, |path| unknown.push(path.to_string()));
    let settings = match raw {
        Ok(raw) => {
            let mut systems = BTreeMap::new();
            let mut hubspot_webhooks = BTreeMap::new();
            let mut insecure_http = std::collections::BTreeSet::new();
            for (name, mut value) in raw.systems {
                match crate::settings_urls::take_insecure_flag(&name, &mut value) {
                    Ok(true) => {
                        insecure_http.insert(name.clone());
                    }
                    Ok(false) => {}
                    Err((key, message)) => {
                        let (src, line) = locate(&key, file_text.as_deref(), &source);
                        problems.push(Problem { source: src, line, key, message });
                    }
                }
                match hubspot_webhook(&name, &mut value, &mut unknown) {
                    Ok(Some(hook)) => {
                        hubspot_webhooks.insert(name.clone(), hook);
                    }
                    Ok(None) => {}
                    Err((key, message)) => {
                        let (src, line) = locate(&key, file_text.as_deref(), &source);
                        problems.push(Problem { source: src, line, key, message });
                    }
                }
                match system_settings(&name, value, &mut unknown) {
                    Ok(system) => {
                        systems.insert(name, system);
                    }
                    Err((key, message)) => {
                        let (src, line) = locate(&key, file_text.as_deref(), &source);
                        problems.push(Problem { source: src, line, key, message });
                    }
                }
            }
            Some(Settings {
                store: raw.store,
                sync: raw.sync,
                systems,
                serve: raw.serve,
                log: raw.log,
                hubspot_webhooks,
                insecure_http,
                review: raw.review,
                breaker: raw.breaker,
                alerts: raw.alerts,
            })
        }
        Err(e) => {
            problems.push(Problem {
                source: source.clone(),
                line: None,
                key: String::new(),
                message: without_secret_values(e.to_string()),
            });
            None
        }
    };
    for key in unknown {
        let (src, line) = locate(&key, file_text.as_deref(), &source);
        let message = "unknown key; check its spelling against README.md § Configuration".into();
        problems.push(Problem { source: src, line, key, message });
    }
    let mut needed = Vec::new();
    if let Some(s) = &settings {
        problems.extend(validate(s, file_text.as_deref(), &source));
        needed = crate::settings_needs::problems(s, &mut |key| locate(key, file_text.as_deref(), &source));
    }
    Loaded { settings, problems, file: file_text.map(|_| file.to_path_buf()), needed }
}

/// Reads one `[systems.NAME]` table: its `kind` picks the settings type, whose unknown keys are
/// added to `unknown` with their full dotted path.
fn system_settings(
    name: &str,
    value: config::Value,
    unknown: &mut Vec<String>,
) -> Result<SystemSettings, (String, String)> {
    let prefix = format!("systems.{name}");
    let mut table = value.into_table().map_err(|e| (prefix.clone(), e.to_string()))?;
    let kind = match table.remove("kind").map(config::Value::into_string) {
        Some(Ok(kind)) => kind,
        _ => return Err((format!("{prefix}.kind"), format!("missing; one of {}", KNOWN_KINDS.join(", ")))),
    };
    let value = config::Value::new(None, table);
    let mut note = |path: serde_ignored::Path<'_>| unknown.push(format!("{prefix}.{path}"));
    let parsed = match kind.as_str() {
        "whitelabelcro" => serde_ignored::deserialize(value, &mut note).map(SystemSettings::Whitelabelcro),
        "hubspot" => serde_ignored::deserialize(value, &mut note).map(SystemSettings::Hubspot),
        "salesforce" => serde_ignored::deserialize(value, &mut note).map(SystemSettings::Salesforce),
        "memory" => serde_ignored::deserialize(value, &mut note).map(SystemSettings::Memory),
        other => {
            let message = format!("unknown kind `{other}`; known kinds: {}", KNOWN_KINDS.join(", "));
            return Err((format!("{prefix}.kind"), message));
        }
    };
    parsed.map_err(|e| (prefix, without_secret_values(e.to_string())))
}

/// Takes a HubSpot system's `webhook_secrets` and `[systems.NAME.webhook]` out of its table (so
/// [`HubspotSettings`] does not see them) and reads them; `None` for other kinds.
fn hubspot_webhook(
    name: &str,
    value: &mut config::Value,
    unknown: &mut Vec<String>,
) -> Result<Option<HubspotWebhookSettings>, (String, String)> {
    let config::ValueKind::Table(table) = &mut value.kind else { return Ok(None) };
    let is_hubspot =
        table.get("kind").and_then(|k| k.clone().into_string().ok()).as_deref() == Some("hubspot");
    if !is_hubspot {
        return Ok(None);
    }
    let prefix = format!("systems.{name}");
    let mut hook = match table.remove("webhook") {
        Some(v) => serde_ignored::deserialize(v, |path| unknown.push(format!("{prefix}.webhook.{path}")))
            .map_err(|e| (format!("{prefix}.webhook"), e.to_string()))?,
        None => HubspotWebhookSettings::default(),
    };
    if let Some(v) = table.remove("webhook_secrets") {
        hook.secrets = v
            .try_deserialize()
            .map_err(|e| (format!("{prefix}.webhook_secrets"), without_secret_values(e.to_string())))?;
    }
    Ok(Some(hook))
}

/// A deserialisation error's text without the offending value when a secret key was given one
/// in clear text: serde quotes it (`invalid type: string "…", expected struct SecretRef`), and
/// `check` would print the secret. Keeps the key and says what to write instead.
fn without_secret_values(message: String) -> String {
    if !message.contains("SecretRef") {
        return message;
    }
    let key = message
        .split_once("for key `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(key, _)| format!(" (key `{key}`)"))
        .unwrap_or_default();
    format!(
        "a secret is written in clear text{key}: the value is not shown; write {{ env = \"VAR\" }} \
         or {{ file = \"/path/to/secret\" }} instead"
    )
}

/// Checks values that parse but cannot work. Secrets are checked per command, in
/// [`crate::settings_needs`].
fn validate(s: &Settings, text: Option<&str>, source: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut push = |key: String, message: String| {
        let (src, line) = locate(&key, text, source);
        out.push(Problem { source: src, line, key, message });
    };
    if !(s.store.url.starts_with("sqlite:") || s.store.url.starts_with("postgres")) {
        push("store.url".into(), "must start with `sqlite:` or `postgres://`".into());
    }
    if !(0.0..=1.0).contains(&s.sync.sweep_share) {
        push("sync.sweep_share".into(), "must be between 0 and 1".into());
    }
    if !(s.sync.time_box > 0.0 && s.sync.time_box <= 1.0) {
        push(
            "sync.time_box".into(),
            "must be above 0 and at most 1 (the share of sync.interval a scheduled run may use; 0.8 is the default)"
                .into(),
        );
    }
    if s.sync.page_size == 0 || s.sync.page_size > 1000 {
        push("sync.page_size".into(), "must be between 1 and 1000".into());
    }
    crate::settings_urls::validate(s, &mut push);
    crate::settings_hubspot::validate(s, &mut push);
    for (name, system) in &s.systems {
        if let SystemSettings::Whitelabelcro(w) = system
            && let Err(problems) = crate::webhook_settings::signature_scheme(w)
        {
            problems
                .into_iter()
                .for_each(|(key, message)| push(format!("systems.{name}.webhook.{key}"), message));
        }
    }
    for (name, hook) in &s.hubspot_webhooks {
        if let Err((key, message)) = crate::webhook_settings::check_settings(hook) {
            push(format!("systems.{name}.webhook.{key}"), message);
        }
    }
    for (name, r) in &s.review.systems {
        if !s.systems.contains_key(name) {
            push(
                format!("review.systems.{name}"),
                "names no configured system; use a name from [systems]".into(),
            );
        }
        if let Some(url) = &r.record_url
            && !["https://", "http://", "{instance}"].iter().any(|p| url.starts_with(p))
        {
            push(
                format!("review.systems.{name}.record_url"),
                "must start with https:// (or {instance})".into(),
            );
        }
        if let Some(instance) = &r.instance
            && !instance.starts_with("https://")
        {
            push(format!("review.systems.{name}.instance"), "must be an https:// URL".into());
        }
    }
    validate_ops(s, &mut push);
    out
}

/// `[breaker]` and `[alerts]`: values in range, each webhook target with a secret and no Slack
/// target with one (whether the secret resolves is checked for the commands that send alerts).
fn validate_ops(s: &Settings, push: &mut impl FnMut(String, String)) {
    if s.breaker.failures == 0 {
        push("breaker.failures".into(), "must be at least 1".into());
    }
    if !(s.breaker.failure_share > 0.0 && s.breaker.failure_share <= 1.0) {
        push("breaker.failure_share".into(), "must be above 0 and at most 1".into());
    }
    if s.alerts.pair_failures == 0 {
        push("alerts.pair_failures".into(), "must be at least 1".into());
    }
    if s.alerts.attempts == 0 || s.alerts.attempts > 10 {
        push("alerts.attempts".into(), "must be between 1 and 10".into());
    }
    for (i, t) in s.alerts.targets.iter().enumerate() {
        let key = format!("alerts.targets.{i}.secret");
        match (t.kind, &t.secret) {
            (AlertTargetKind::Webhook, None) => push(
                key,
                "a webhook target needs a signing secret: secret = { env = \"VAR\" } (16 characters or more)"
                    .into(),
            ),
            // Whether it resolves is a problem of the commands that send alerts (settings_needs).
            (AlertTargetKind::Webhook, Some(_)) => {}
            (AlertTargetKind::Slack, Some(_)) => push(
                key,
                "a slack target is not signed; remove `secret` (the URL itself is the credential)".into(),
            ),
            (AlertTargetKind::Slack, None) => {}
        }
    }
}

/// Finds which source a dotted key came from and the line it stands on, by looking for the
/// last path segment under its table header in the file's text.
pub(crate) fn locate(key: &str, text: Option<&str>, file: &str) -> (String, Option<usize>) {
    let env_name = format!("CROSSWALK__{}", key.replace('.', "__").to_uppercase());
    if std::env::var_os(&env_name).is_some() {
        return (format!("environment ({env_name})"), None);
    }
    let Some(text) = text else { return (file.to_string(), None) };
    let (table, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let mut in_table = table.is_empty();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_table = header.trim() == table;
            continue;
        }
        let assigned = line.split('=').next().map(str::trim);
        if in_table && assigned == Some(leaf) {
            return (file.to_string(), Some(i + 1));
        }
    }
    (file.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Loaded {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crosswalk.toml");
        std::fs::write(&path, text).unwrap();
        load(&path, true)
    }

    #[test]
    fn defaults_alone_load_without_problems() {
        let loaded = load(Path::new("/nonexistent/crosswalk.toml"), false);
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
        let s = loaded.settings.unwrap();
        assert_eq!(s.sync.interval.0, Duration::from_secs(300));
        assert_eq!(s.sync.overlap.0, Duration::from_secs(120));
        assert!(s.store.url.starts_with("sqlite:"));
    }

    #[test]
    fn every_problem_is_reported_with_file_line_and_key() {
        let loaded = load_text(
            "[sync]\npage_sise = 10\n\n[systems.hubspot]\nkind = \"hubspot\"\nbase_url = \"https://x\"\ntoken = { env = \"CROSSWALK_TEST_SURELY_UNSET_VAR\" }\n",
        );
        let text: Vec<String> = loaded.all_problems().iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(text[0].contains("crosswalk.toml:2: `sync.page_sise`: unknown key"), "{text:?}");
        assert!(text[1].contains(":7: `systems.hubspot.token`"), "{text:?}");
        assert!(text[1].contains("CROSSWALK_TEST_SURELY_UNSET_VAR is not set"), "{text:?}");
    }

    #[test]
    fn alert_targets_follow_the_url_rules_and_webhooks_need_a_readable_secret() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.secret");
        std::fs::write(&empty, "\n").unwrap();
        let text = format!(
            "[breaker]\nfailures = 0\n\n[alerts]\nlag_above = \"30m\"\nretries = 2\n\n\
             [[alerts.targets]]\nkind = \"webhook\"\nurl = \"http://alerts.example.com/hook\"\n\
             secret = {{ file = \"{}\" }}\n\n[[alerts.targets]]\nkind = \"webhook\"\nurl = \"https://ok.example.com\"\n\n\
             [[alerts.targets]]\nkind = \"slack\"\nurl = \"https://hooks.slack.example.com/services/x\"\n",
            empty.display()
        );
        let loaded = load_text(&text);
        let keys: Vec<&str> = loaded.problems.iter().map(|p| p.key.as_str()).collect();
        let text: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
        for key in ["breaker.failures", "alerts.retries", "alerts.targets.1.secret", "alerts.targets.0.url"] {
            assert!(keys.contains(&key), "{key} in {text:?}");
        }
        assert_eq!(keys.len(), 4, "the slack target is fine: {text:?}");
        // An unreadable secret stops only the commands that send alerts.
        let needed: Vec<_> = loaded.needed.iter().map(|(n, p)| (*n, p.key.as_str(), p.to_string())).collect();
        assert!(
            needed.iter().any(|(n, k, t)| *n == Need::Alerts
                && *k == "alerts.targets.0.secret"
                && t.contains("empty or only whitespace")),
            "{needed:?}"
        );
        assert_eq!(loaded.problems_for(&[Need::Credentials]).len(), 4, "not a problem of backfill or status");
        assert_eq!(loaded.problems_for(&[Need::Credentials, Need::Alerts]).len(), 5, "but of sync and run");
        assert!(text.iter().any(|t| t.contains("rule: https")), "{text:?}");
    }

    #[test]
    fn ops_defaults_hold_without_any_section() {
        let s = load(Path::new("/nonexistent/crosswalk.toml"), false).settings.unwrap();
        assert_eq!((s.breaker.failures, s.alerts.pair_failures, s.alerts.review_queue_above), (5, 3, 100));
        assert!(s.alerts.targets.is_empty());
    }

    #[test]
    fn unknown_kind_specific_key_is_reported() {
        let loaded = load_text("[systems.m]\nkind = \"memory\"\nmax_bach = 3\n");
        let keys: Vec<&str> = loaded.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["systems.m.max_bach"]);
    }

    #[test]
    fn unknown_kind_names_the_known_ones() {
        let loaded = load_text("[systems.x]\nkind = \"zoho\"\n");
        let msg = loaded.problems.iter().map(ToString::to_string).collect::<String>();
        assert!(msg.contains("zoho") && msg.contains("hubspot"), "{msg}");
    }

    #[test]
    fn a_bad_duration_says_what_is_expected() {
        let loaded = load_text("[sync]\ninterval = \"five minutes\"\n");
        let msg = loaded.problems.iter().map(ToString::to_string).collect::<String>();
        assert!(msg.contains("not a duration like `5m`"), "{msg}");
    }

    #[test]
    fn secrets_print_redacted() {
        let secret = SecretString::from("hunter2-sentinel".to_string());
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn review_links_are_checked_and_name_their_key() {
        let loaded = load_text(
            "[systems.crm]\nkind = \"memory\"\n[review.systems.crm]\nrecord_url = \"javascript:alert(1)\"\n\
             instance = \"http://x\"\nlabell = \"x\"\n[review.systems.nope]\nlabel = \"Nope\"\n",
        );
        let text: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
        for needle in [
            "`review.systems.crm.labell`: unknown key",
            "`review.systems.crm.record_url`: must start with https://",
            "`review.systems.crm.instance`: must be an https:// URL",
            "`review.systems.nope`: names no configured system",
        ] {
            assert!(text.iter().any(|t| t.contains(needle)), "missing {needle:?} in {text:?}");
        }
    }
}
