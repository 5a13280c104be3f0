//! Quotas shared by several processes: the seam through which the workers of one remote
//! account count their sends together, so N workers never exceed one quota (a process's own
//! [`RateLimiter`] only sees its own sends).
//!
//! [`SharedQuota`] is implemented outside this crate (the root crate wires the state store's
//! `take_quota` on PostgreSQL; a SQLite store is one process and keeps the local limiter
//! alone). The [`HttpClient`](super::HttpClient) asks it after its own limiter admitted a send,
//! with the limits in force ([`RateLimiter::in_force`]: the server-stated window once the
//! server stated one), and waits until the time it answers when the shared quota is used up.
//!
//! When the shared quota cannot answer (its database is down) the client sends on the local
//! limiter alone and says so once per outage: this process then still keeps its own quota as
//! it always did, and what several workers may overrun the server answers with 429, which the
//! client retries after the server's `Retry-After` (a 429 was not processed, so no write is lost
//! or doubled). Waiting for the database instead would stall every request of the run behind a
//! store it cannot commit to anyway.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::ratelimit::{BucketPolicy, RateLimiter};
use crate::clock::SharedClock;

/// What a shared quota answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaAnswer {
    /// A send was counted in every bucket: send now.
    Taken,
    /// Some bucket is used up until then; nothing was counted.
    NotBefore(DateTime<Utc>),
}

/// Sends counted across processes. See the module docs.
#[async_trait]
pub trait SharedQuota: Send + Sync + fmt::Debug {
    /// Counts one send in each of `buckets` of `account` at `now` if each had fewer than its
    /// `limit` sends in the `window` before (all or none); else says when to ask again.
    /// An error is a message for the log (never a credential: `account` holds only a hash).
    async fn take(
        &self,
        account: &str,
        buckets: &[BucketPolicy],
        now: DateTime<Utc>,
    ) -> Result<QuotaAnswer, String>;
}

/// The key of one remote account in a shared quota: the system kind, its base URL and the
/// first 16 hex digits of the credential's SHA-256 — never the credential itself.
pub fn account_key(kind: &str, base_url: &str, credential: &str) -> String {
    let digest = Sha256::digest(credential.as_bytes());
    format!("{kind} {} {}", base_url.trim_end_matches('/'), &hex::encode(digest)[..16])
}

/// A client's handle on a shared quota.
pub(crate) struct SharedPacer {
    quota: Arc<dyn SharedQuota>,
    account: String,
    /// Set while the quota cannot answer, so the outage is logged once, and its end once.
    degraded: AtomicBool,
}

impl fmt::Debug for SharedPacer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedPacer").field("quota", &self.quota).field("account", &self.account).finish()
    }
}

impl SharedPacer {
    pub(crate) fn new(quota: Arc<dyn SharedQuota>, account: String) -> Self {
        Self { quota, account, degraded: AtomicBool::new(false) }
    }

    /// Waits (on `clock`) until the shared quota counts this send in `buckets`, or until it
    /// fails, in which case the local limiter's admission stands (see the module docs).
    pub(crate) async fn admit(
        &self,
        limiter: &RateLimiter,
        buckets: &[String],
        clock: &SharedClock,
        system: &str,
    ) {
        let mut logged = false;
        loop {
            let policies = limiter.in_force(buckets);
            if policies.is_empty() {
                return;
            }
            let now = clock.now();
            match self.quota.take(&self.account, &policies, now).await {
                Ok(QuotaAnswer::Taken) => {
                    if self.degraded.swap(false, Ordering::Relaxed) {
                        tracing::info!(system, "the shared rate-limit quota answers again");
                    }
                    return;
                }
                Ok(QuotaAnswer::NotBefore(at)) => {
                    let wait = (at - now).to_std().unwrap_or_default();
                    if !logged && let Some(b) = policies.first() {
                        limiter.log_wait(&b.name, wait, "the account's other workers used the quota");
                        logged = wait > super::LONG_WAIT;
                    }
                    // Never spin: a full bucket waits at least a millisecond.
                    clock.sleep(wait.max(std::time::Duration::from_millis(1))).await;
                }
                Err(reason) => {
                    if !self.degraded.swap(true, Ordering::Relaxed) {
                        tracing::warn!(system, %reason,
                            "the shared rate-limit quota cannot answer; pacing on this process's own \
                             limiter until it does (other workers of the account may then see 429s, \
                             which are retried)");
                    }
                    return;
                }
            }
        }
    }
}
