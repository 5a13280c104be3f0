//! A seeded fault gate: decides, per request, whether to inject a 429, a 503 or latency.
//! Same seed, same sequence of decisions.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Fault rates, settable through each simulator's control API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Probability (0–1) of answering 429.
    pub rate_429: f64,
    /// `Retry-After` seconds sent with injected 429s; `None` sends none.
    pub retry_after_secs: Option<u64>,
    /// Probability (0–1) of answering 503.
    pub rate_503: f64,
    /// Probability (0–1) of answering 500.
    pub rate_500: f64,
    /// Added latency per request, in milliseconds.
    pub latency_ms: u64,
    /// When true every API request answers 503 (a maintenance window).
    pub maintenance: bool,
}

/// What the gate decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    /// Serve normally.
    None,
    /// Answer 429, with this `Retry-After` if any.
    TooManyRequests(Option<u64>),
    /// Answer 503.
    Unavailable,
    /// Answer 500.
    ServerError,
}

/// The gate, shared across a simulator's handlers.
#[derive(Debug, Clone)]
pub struct FaultGate {
    inner: Arc<Mutex<(FaultConfig, ChaCha8Rng)>>,
}

impl FaultGate {
    /// A gate with no faults, seeded.
    pub fn new(seed: u64) -> Self {
        Self { inner: Arc::new(Mutex::new((FaultConfig::default(), ChaCha8Rng::seed_from_u64(seed)))) }
    }

    /// Replaces the fault configuration.
    pub fn set(&self, cfg: FaultConfig) {
        self.inner.lock().expect("fault lock").0 = cfg;
    }

    /// The current configuration.
    pub fn config(&self) -> FaultConfig {
        self.inner.lock().expect("fault lock").0.clone()
    }

    /// Decides for one request; also returns the latency to add.
    pub fn decide(&self) -> (Injected, Duration) {
        let mut guard = self.inner.lock().expect("fault lock");
        let (cfg, rng) = &mut *guard;
        let latency = Duration::from_millis(cfg.latency_ms);
        if cfg.maintenance {
            return (Injected::Unavailable, latency);
        }
        let roll: f64 = rng.random();
        let injected = if roll < cfg.rate_429 {
            Injected::TooManyRequests(cfg.retry_after_secs)
        } else if roll < cfg.rate_429 + cfg.rate_503 {
            Injected::Unavailable
        } else if roll < cfg.rate_429 + cfg.rate_503 + cfg.rate_500 {
            Injected::ServerError
        } else {
            Injected::None
        };
        (injected, latency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_decisions() {
        let cfg = FaultConfig { rate_429: 0.3, rate_503: 0.2, ..FaultConfig::default() };
        let (a, b) = (FaultGate::new(7), FaultGate::new(7));
        a.set(cfg.clone());
        b.set(cfg);
        let da: Vec<_> = (0..100).map(|_| a.decide().0).collect();
        let db: Vec<_> = (0..100).map(|_| b.decide().0).collect();
        assert_eq!(da, db);
        assert!(da.contains(&Injected::Unavailable) && da.contains(&Injected::None));
    }

    #[test]
    fn maintenance_answers_503_to_everything() {
        let g = FaultGate::new(1);
        g.set(FaultConfig { maintenance: true, ..FaultConfig::default() });
        assert!((0..20).all(|_| g.decide().0 == Injected::Unavailable));
    }
}
