//! `SimState`: the shared handle (store, keys, limiter, seeded rng behind one Mutex, plus the
//! clock, request log, fault gate and outbound HTTP client).

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim_core::{FaultGate, RequestLog, SimClock};

use crate::auth::Keys;
use crate::config::SimConfig;
use crate::delivery::WebhookFaults;
use crate::model::Store;
use crate::ratelimit::Limiter;

/// Everything mutable, under one lock (never held across an await).
#[derive(Debug)]
pub struct Inner {
    /// Records, events, subscriptions, deliveries.
    pub store: Store,
    /// Accepted keys.
    pub keys: Keys,
    /// Rate-limit windows.
    pub limiter: Limiter,
    /// Seeded randomness (request ids, secrets, jitter, webhook faults).
    pub rng: ChaCha8Rng,
    /// Company for seeds that name none.
    pub default_company: i64,
    /// Webhook-specific faults.
    pub hook_faults: WebhookFaults,
    /// Retry jitter on/off.
    pub jitter: bool,
}

impl Inner {
    /// A random v4-shaped UUID from the seeded rng.
    pub fn uuid(&mut self) -> String {
        let bytes: [u8; 16] = self.rng.random();
        uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
    }
}

/// The simulator's shared state; cheap to clone.
#[derive(Debug, Clone)]
pub struct SimState {
    pub(crate) inner: Arc<Mutex<Inner>>,
    /// The simulator's clock (frozen in tests).
    pub clock: SimClock,
    /// Every real-API request received (control routes excluded).
    pub log: RequestLog,
    /// Seeded 429/503/500/latency/maintenance injection.
    pub faults: FaultGate,
    pub(crate) http: reqwest::Client,
}

impl SimState {
    /// Fresh state from `config` (no server yet; see `start`).
    pub fn new(config: &SimConfig) -> Self {
        let clock = config.start_time.map_or_else(SimClock::system, SimClock::frozen);
        let now = clock.now();
        let inner = Inner {
            store: Store::seeded(config.default_company_id, now),
            keys: Keys::new(&config.api_keys),
            limiter: Limiter::new(config.rate_limits.clone()),
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            default_company: config.default_company_id,
            hook_faults: WebhookFaults::default(),
            jitter: config.webhook_jitter,
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            inner: Arc::new(Mutex::new(inner)),
            clock,
            log: RequestLog::default(),
            faults: FaultGate::new(config.seed ^ 0x5eed),
            http,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The simulator's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A fresh request id (seeded).
    pub(crate) fn request_id(&self) -> String {
        self.lock().uuid()
    }
}
