//! The circuit breaker per system (sync-model §7): after `breaker.failures` consecutive failed
//! runs against a system — or at once when it refused the credentials — every pair using it
//! is paused. The state is in the store, so every worker of one store skips the same pairs.
//!
//! A run fails for a system when at least `breaker.failure_share` of the requests sent to it in
//! that run failed (5xx, no answer) or a pair using it failed naming it. A run that sent it
//! nothing (all its pairs skipped or paused) says nothing. While open, a cheap health probe
//! each interval ([`Breaker::probe_open`], the one `status` uses) closes it as soon as the
//! system answers again; `crosswalk resume SYSTEM` closes it by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use connector_api::SharedClock;
use tracing::{info, warn};

use crate::mapping::PairMapping;
use crate::settings::BreakerSettings;
use crate::status::probe::{Health, SystemStatus};
use crate::store::{BreakerState, Store, StoreError};
use crate::sync::{PairGate, PairStatus, RunReport};

use super::metrics::Traffic;

/// A breaker that opened or closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The system.
    pub system: String,
    /// True when it opened, false when it closed.
    pub opened: bool,
    /// Why (the classified failure, or how it was closed).
    pub reason: String,
}

/// The breaker of every system, over the store.
#[derive(Clone)]
pub struct Breaker {
    store: Arc<dyn Store>,
    clock: SharedClock,
    settings: BreakerSettings,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Breaker {
    /// Breakers kept in `store`.
    pub fn new(store: Arc<dyn Store>, clock: SharedClock, settings: BreakerSettings) -> Self {
        Self { store, clock, settings }
    }

    /// The open breakers, by system.
    pub async fn open(&self) -> Result<BTreeMap<String, BreakerState>, StoreError> {
        Ok(self
            .store
            .breakers()
            .await?
            .into_iter()
            .filter(|b| b.open)
            .map(|b| (b.system.clone(), b))
            .collect())
    }

    /// Records a finished run: for each system the run sent requests to (`traffic`, this run's
    /// share), whether it failed. Answers the breakers this opened.
    pub async fn record(
        &self,
        report: &RunReport,
        pairs: &[Arc<PairMapping>],
        traffic: &BTreeMap<String, Traffic>,
    ) -> Result<Vec<Transition>, StoreError> {
        let now = self.clock.now();
        let mut out = Vec::new();
        let systems: BTreeSet<&str> =
            pairs.iter().flat_map(|p| [p.left.system.as_str(), p.right.system.as_str()]).collect();
        for system in systems {
            let t = traffic.get(system).copied().unwrap_or_default();
            // The pair's own reason may quote the remote; the breaker keeps a sentence of its own.
            let named = report.pairs.iter().find_map(|p| match &p.status {
                PairStatus::Failed { reason } if reason.contains(&format!("`{system}`")) => {
                    Some(format!("pair `{}` failed on `{system}` (its run log says how)", p.pair))
                }
                _ => None,
            });
            if t.attempts == 0 && named.is_none() {
                continue;
            }
            let share = if t.attempts == 0 { 0.0 } else { t.failed as f64 / t.attempts as f64 };
            let refused = report.pairs.iter().any(|p| p.refused_credentials.as_deref() == Some(system));
            let (failure, open_after) = if t.auth_refused > 0 || refused {
                (
                    Some(format!(
                        "`{system}` refused the credentials; fix them, then `crosswalk resume {system}`"
                    )),
                    1,
                )
            } else if t.attempts > 0 && share >= self.settings.failure_share {
                let reason = format!(
                    "{} of {} requests to `{system}` failed (5xx or no answer)",
                    t.failed, t.attempts
                );
                (Some(reason), self.settings.failures)
            } else if let Some(reason) = named {
                (Some(reason), self.settings.failures)
            } else {
                (None, self.settings.failures)
            };
            let update = self.store.record_system_run(system, failure.as_deref(), open_after, now).await?;
            if update.opened {
                let reason = update.state.reason.clone().unwrap_or_default();
                warn!(system, failures = update.state.failures, %reason, "circuit breaker opened: the system's pairs are paused");
                out.push(Transition { system: system.to_string(), opened: true, reason });
            }
        }
        Ok(out)
    }

    /// Closes every open breaker whose system answered the health probe (`probed`, from
    /// `status`'s probe of the open systems). Answers the breakers this closed.
    pub async fn settle_probes(&self, probed: &[SystemStatus]) -> Result<Vec<Transition>, StoreError> {
        let mut out = Vec::new();
        for s in probed.iter().filter(|s| s.health == Health::Ok) {
            let reason = "the system answered the health probe again".to_string();
            if self.store.close_breaker(&s.name, &reason, self.clock.now()).await? {
                info!(system = %s.name, "circuit breaker closed: the system answers again; its pairs run again");
                out.push(Transition { system: s.name.clone(), opened: false, reason });
            }
        }
        Ok(out)
    }

    /// Closes `system`'s breaker by hand. `None` if it was not open.
    pub async fn resume(&self, system: &str, by: &str) -> Result<Option<Transition>, StoreError> {
        let reason = format!("resumed by hand ({by})");
        Ok(self.store.close_breaker(system, &reason, self.clock.now()).await?.then(|| Transition {
            system: system.to_string(),
            opened: false,
            reason,
        }))
    }
}

#[async_trait]
impl PairGate for Breaker {
    async fn paused(&self, pair: &PairMapping) -> Option<String> {
        let open = match self.open().await {
            Ok(open) => open,
            Err(e) => {
                // The run itself will meet the store's failure; the breaker does not guess.
                warn!(error = %e, "cannot read the circuit breakers; running the pair");
                return None;
            }
        };
        [&pair.left.system, &pair.right.system].into_iter().find_map(|s| {
            open.get(s.as_str()).map(|b| {
                let since = b.opened_at.map(|t| format!(" since {}", t.to_rfc3339())).unwrap_or_default();
                let why = b.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
                format!(
                    "system `{s}` is paused by its circuit breaker{since}{why}; it closes when `{s}` answers the probe again, or run `crosswalk resume {s}`"
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::PairReport;
    use connector_api::ManualClock;

    fn report(status: PairStatus) -> RunReport {
        let pair = PairReport { status, ..PairReport::new("p", PairStatus::Done) };
        RunReport {
            run_id: "r".into(),
            pairs: vec![pair],
            status: crate::store::RunStatus::Partial,
            work: Default::default(),
        }
    }

    fn pair() -> Arc<PairMapping> {
        let text = include_str!("../../mappings/wlcro-people__hubspot-contacts.toml");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, text).unwrap();
        Arc::new(crate::mapping::load_file(&path).unwrap())
    }

    async fn breaker(failures: u32) -> Breaker {
        let store = crate::store::open("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let settings = BreakerSettings { failures, failure_share: 0.5 };
        Breaker::new(store, ManualClock::at_epoch().shared(), settings)
    }

    fn traffic(rows: &[(&str, u64, u64, u64)]) -> BTreeMap<String, Traffic> {
        rows.iter()
            .map(|(s, attempts, failed, auth_refused)| {
                (s.to_string(), Traffic { attempts: *attempts, failed: *failed, auth_refused: *auth_refused })
            })
            .collect()
    }

    #[tokio::test]
    async fn a_refused_credential_opens_at_once_and_a_minority_of_failures_does_not_count() {
        let b = breaker(5).await;
        let pairs = [pair()];
        let incomplete = report(PairStatus::Incomplete { reason: "x".into() });
        // 1 of 4 requests to hubspot failed: below the share, not a failed run.
        let t = b
            .record(&incomplete, &pairs, &traffic(&[("hubspot", 4, 1, 0), ("wlcro", 3, 0, 0)]))
            .await
            .unwrap();
        assert!(t.is_empty());
        assert!(b.open().await.unwrap().is_empty());
        let t = b.record(&incomplete, &pairs, &traffic(&[("wlcro", 2, 0, 1)])).await.unwrap();
        assert_eq!(t.len(), 1, "{t:?}");
        assert!(
            t[0].opened && t[0].system == "wlcro" && t[0].reason.contains("refused the credentials"),
            "{t:?}"
        );
        let gate = b.paused(&pairs[0]).await.expect("the pair is paused");
        assert!(gate.contains("`wlcro`") && gate.contains("crosswalk resume wlcro"), "{gate}");
        assert_eq!(b.resume("wlcro", "tester").await.unwrap().map(|t| t.opened), Some(false));
        assert!(b.paused(&pairs[0]).await.is_none());
    }

    #[tokio::test]
    async fn credentials_refused_without_a_401_open_at_once_too() {
        let b = breaker(5).await;
        let pairs = [pair()];
        // Salesforce answers a refused client secret 400 invalid_grant: no 401 in the traffic,
        // but the connector classed it as auth and the pair says which system.
        let mut failed =
            report(PairStatus::Failed { reason: "system `hubspot`: credentials refused".into() });
        failed.pairs[0].refused_credentials = Some("hubspot".into());
        let t = b.record(&failed, &pairs, &traffic(&[("hubspot", 1, 0, 0)])).await.unwrap();
        assert_eq!(t.len(), 1, "opened by the first such run: {t:?}");
        assert!(t[0].opened && t[0].system == "hubspot", "{t:?}");
        assert!(b.paused(&pairs[0]).await.is_some());
    }

    #[tokio::test]
    async fn a_failed_pair_naming_its_system_counts_and_silence_says_nothing() {
        let b = breaker(2).await;
        let pairs = [pair()];
        let failed = report(PairStatus::Failed { reason: "system `hubspot`: quota spent".into() });
        assert!(b.record(&failed, &pairs, &BTreeMap::new()).await.unwrap().is_empty());
        // A run that sent hubspot nothing (its pairs skipped) leaves the count alone.
        let skipped = report(PairStatus::Skipped { holder: "h".into() });
        assert!(b.record(&skipped, &pairs, &BTreeMap::new()).await.unwrap().is_empty());
        let t = b.record(&failed, &pairs, &BTreeMap::new()).await.unwrap();
        assert_eq!(t.iter().map(|t| t.system.as_str()).collect::<Vec<_>>(), ["hubspot"]);
        assert!(!t[0].reason.contains("quota"), "the alert keeps its own words: {}", t[0].reason);
    }
}
