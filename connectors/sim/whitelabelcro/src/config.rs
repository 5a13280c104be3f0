//! The simulator's start-up configuration: seed, frozen start time, accepted keys, rate limits,
//! webhook jitter and the optional background delivery ticker (CLI mode only).

use chrono::{DateTime, Utc};

use crate::auth::{ApiKeyConfig, Scope};
use crate::ratelimit::RateLimitConfig;

/// The company of [`SimConfig::default`]'s key.
pub const DEFAULT_COMPANY_ID: i64 = 17;

/// The secret part of [`SimConfig::default`]'s all-scopes key (not a real credential).
pub const DEFAULT_KEY_SECRET: &str = "simSecret0123456789abcdefghijklmnopqrstuvwxy";

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seeds every random choice (request ids, secrets, fault rolls, jitter).
    pub seed: u64,
    /// `Some(t)`: the clock is frozen at `t` and moves only when told (tests). `None`: system time.
    pub start_time: Option<DateTime<Utc>>,
    /// Port on 127.0.0.1 (0 = any free port).
    pub port: u16,
    /// Company that control-API seeds go to when they name none.
    pub default_company_id: i64,
    /// Keys accepted on the `X-Api-Key` header.
    pub api_keys: Vec<ApiKeyConfig>,
    /// Rate-limit buckets and window scale.
    pub rate_limits: RateLimitConfig,
    /// ±10 % jitter on webhook retry delays (spec §4.4), seeded.
    pub webhook_jitter: bool,
    /// `Some(d)`: a background task runs due webhook deliveries every `d` of wall time (for the
    /// `crosswalk sim` CLI). Keep `None` in tests and call `SimState::deliver_due`.
    pub delivery_tick: Option<std::time::Duration>,
}

impl SimConfig {
    /// The all-scopes key of the default config.
    pub fn default_key() -> String {
        format!("wlcro_live_{DEFAULT_COMPANY_ID}_{DEFAULT_KEY_SECRET}")
    }

    /// A config frozen at `t`, jitter off: what in-process tests want.
    pub fn frozen(seed: u64, t: DateTime<Utc>) -> Self {
        Self { seed, start_time: Some(t), webhook_jitter: false, ..Self::default() }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            start_time: None,
            port: 0,
            default_company_id: DEFAULT_COMPANY_ID,
            api_keys: vec![ApiKeyConfig { key: Self::default_key(), scopes: Scope::ALL.to_vec() }],
            rate_limits: RateLimitConfig::default(),
            webhook_jitter: true,
            delivery_tick: None,
        }
    }
}
