//! The simulator's shared state: configuration, tunable quirks, the record store, tokens,
//! query cursors, open transactions and the API-usage window, behind one mutex.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use chrono::{DateTime, Duration, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sim_core::{FaultGate, RequestLog, SimClock};

use crate::custom::{CustomField, Schema};
use crate::schema::ObjectKind;
use crate::store::Store;
use crate::time;
use crate::writes::DuplicateRule;

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seeds tokens and fault/lock rolls.
    pub seed: u64,
    /// Freeze the clock here (tests); `None` follows the system clock.
    pub start_time: Option<DateTime<Utc>>,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The connected app's consumer key accepted by the token endpoint.
    pub client_id: String,
    /// The connected app's consumer secret.
    pub client_secret: String,
    /// The org's custom fields (default: what the shipped mappings need, `schema/default.json`).
    pub schema: Schema,
    /// Shorthand: extra custom text fields flagged External ID on every object (e.g.
    /// `Crosswalk_Id__c`), added to `schema`.
    pub external_id_fields: Vec<String>,
    /// Scopes of the connected app, as the token response's `scope` lists them (`api` is needed
    /// for the REST API); `quirks.scopes` changes them at run time.
    pub scopes: Vec<String>,
    /// Initial quirks.
    pub quirks: Quirks,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            start_time: None,
            port: 0,
            client_id: "sim-consumer-key".into(),
            client_secret: "sim-consumer-secret".into(),
            schema: Schema::default(),
            external_id_fields: Vec::new(),
            scopes: vec!["api".into()],
            quirks: Quirks::default(),
        }
    }
}

/// Behaviour knobs, settable through `PUT /_sim/quirks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quirks {
    /// Probability (0–1) that a row write fails with `UNABLE_TO_LOCK_ROW`.
    pub lock_rate: f64,
    /// Server-side cap on a query batch; below 2,000 it models "sometimes fewer than asked".
    pub max_batch: usize,
    /// Query cursor lifetime since last use (2 days since v56).
    pub cursor_ttl_secs: i64,
    /// getUpdated/getDeleted id cap before `EXCEEDED_ID_LIMIT` (600,000; lower it in tests).
    pub id_limit: usize,
    /// Daily API request allocation.
    pub daily_limit: u64,
    /// The rolling window of the allocation, in seconds (24 h; shrink for fast tests).
    pub limit_window_secs: i64,
    /// Session lifetime of an access token (the org's session timeout).
    pub session_lifetime_secs: i64,
    /// Fields `describe` marks non-filterable and SOQL refuses in `WHERE` (`Object.Field`, e.g.
    /// `Contact.SystemModstamp`), as some objects do (spec §4).
    pub unfilterable_fields: Vec<String>,
    /// Scopes of the connected app (starts as the config's `scopes`).
    pub scopes: Vec<String>,
    /// API writes of text longer than the field's length fail with `STRING_TOO_LONG`, as in
    /// Salesforce (spec §11: LastName 80 chars). On by default.
    pub enforce_lengths: bool,
}

impl Default for Quirks {
    fn default() -> Self {
        Self {
            lock_rate: 0.0,
            max_batch: 2000,
            cursor_ttl_secs: 2 * 24 * 3600,
            id_limit: 600_000,
            daily_limit: 100_000,
            limit_window_secs: 24 * 3600,
            session_lifetime_secs: 2 * 3600,
            unfilterable_fields: Vec::new(),
            scopes: vec!["api".into()],
            enforce_lengths: true,
        }
    }
}

/// A server-side query result being paged through.
#[derive(Debug, Clone)]
pub struct Cursor {
    /// All rows, rendered at query time.
    pub rows: Vec<Value>,
    /// Rows per page requested.
    pub batch: usize,
    /// Last use, for expiry.
    pub last_used: DateTime<Utc>,
}

/// Everything mutable, behind [`SimState`]'s mutex.
#[derive(Debug)]
pub struct Inner {
    /// Records.
    pub store: Store,
    /// Current quirks.
    pub quirks: Quirks,
    /// Active duplicate rules.
    pub dup_rules: Vec<DuplicateRule>,
    /// Access token → issue time.
    pub tokens: HashMap<String, DateTime<Utc>>,
    /// Query locator → cursor.
    pub cursors: HashMap<String, Cursor>,
    /// Counter for locators.
    pub next_cursor: u64,
    /// Open long transactions: id → (start, records written in it).
    pub txns: BTreeMap<u64, (DateTime<Utc>, Vec<String>)>,
    /// Counter for transactions.
    pub next_txn: u64,
    /// Times of API requests in the rolling window.
    pub usage: VecDeque<DateTime<Utc>>,
    /// Seeded rng for tokens and lock rolls.
    pub rng: ChaCha8Rng,
    /// `instance_url` handed out by the token endpoint, once known.
    pub instance_url: Option<String>,
    /// The TLS certificate, when serving HTTPS.
    pub cert_pem: Option<String>,
}

/// Cloneable handle to one simulated org.
#[derive(Debug, Clone)]
pub struct SimState {
    inner: Arc<Mutex<Inner>>,
    /// The org's clock.
    pub clock: SimClock,
    /// Every API request received.
    pub log: RequestLog,
    /// Injected HTTP faults.
    pub faults: FaultGate,
    custom: Arc<RwLock<Arc<Vec<CustomField>>>>,
    config: Arc<SimConfig>,
}

impl SimState {
    /// A fresh, empty org.
    pub fn new(config: SimConfig) -> Self {
        let clock = config.start_time.map_or_else(SimClock::system, SimClock::frozen);
        let inner = Inner {
            store: Store::default(),
            quirks: Quirks { scopes: config.scopes.clone(), ..config.quirks.clone() },
            dup_rules: Vec::new(),
            tokens: HashMap::new(),
            cursors: HashMap::new(),
            next_cursor: 0,
            txns: BTreeMap::new(),
            next_txn: 0,
            usage: VecDeque::new(),
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            instance_url: None,
            cert_pem: None,
        };
        let mut custom = config.schema.fields.clone();
        for name in &config.external_id_fields {
            for object in ObjectKind::ALL {
                if !custom.iter().any(|c| c.object == object && c.name.eq_ignore_ascii_case(name)) {
                    custom.push(CustomField::external_id_text(object, name));
                }
            }
        }
        Self {
            inner: Arc::new(Mutex::new(inner)),
            clock,
            log: RequestLog::default(),
            faults: FaultGate::new(config.seed ^ 0x5f),
            custom: Arc::new(RwLock::new(Arc::new(custom))),
            config: Arc::new(config),
        }
    }

    /// Locks the mutable state.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("salesforce sim lock")
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Now, at the platform's second precision.
    pub fn now(&self) -> DateTime<Utc> {
        time::to_second(self.clock.now())
    }

    /// The org's custom fields now.
    pub fn custom_fields(&self) -> Arc<Vec<CustomField>> {
        self.custom.read().expect("salesforce sim schema lock").clone()
    }

    /// Replaces the org's custom fields (checked like a schema file); stored values of removed
    /// fields stay but are no longer readable or writable.
    pub fn set_schema(&self, schema: &Schema) -> Result<(), String> {
        schema.check()?;
        *self.custom.write().expect("salesforce sim schema lock") = Arc::new(schema.fields.clone());
        Ok(())
    }

    /// The org's custom fields as a schema document.
    pub fn schema(&self) -> Schema {
        Schema { fields: self.custom_fields().as_ref().clone() }
    }

    /// Moves a frozen clock forward.
    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    /// Replaces the quirks.
    pub fn set_quirks(&self, q: Quirks) {
        self.lock().quirks = q;
    }

    /// The connected app's scopes now.
    pub fn scopes(&self) -> Vec<String> {
        self.lock().quirks.scopes.clone()
    }

    /// Whether `object.field` is usable in `WHERE`.
    pub fn filterable(&self, object: ObjectKind, field: &str) -> bool {
        let key = format!("{}.{field}", object.name());
        !self.lock().quirks.unfilterable_fields.iter().any(|f| f.eq_ignore_ascii_case(&key))
    }

    /// The current quirks.
    pub fn quirks(&self) -> Quirks {
        self.lock().quirks.clone()
    }

    /// Replaces the active duplicate rules.
    pub fn set_duplicate_rules(&self, rules: Vec<DuplicateRule>) {
        self.lock().dup_rules = rules;
    }

    /// Invalidates every access token issued so far (next call → 401 `INVALID_SESSION_ID`).
    pub fn expire_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// The `instance_url` the token endpoint returns.
    pub fn set_instance_url(&self, url: String) {
        self.lock().instance_url = Some(url);
    }

    /// The served certificate (PEM), when serving HTTPS.
    pub fn cert_pem(&self) -> Option<String> {
        self.lock().cert_pem.clone()
    }

    /// API requests used in the current window, and the allocation.
    pub fn api_usage(&self) -> (u64, u64) {
        let now = self.clock.now();
        let mut g = self.lock();
        prune_usage(&mut g, now);
        (g.usage.len() as u64, g.quirks.daily_limit)
    }
}

/// Drops usage entries that fell out of the rolling window.
pub fn prune_usage(g: &mut Inner, now: DateTime<Utc>) {
    let window = Duration::seconds(g.quirks.limit_window_secs);
    while g.usage.front().is_some_and(|t| *t + window <= now) {
        g.usage.pop_front();
    }
}
