//! Claiming a pair's lease: one worker per pair (or backfill slice) at a time, and a lease left
//! by a process of this host that no longer exists is taken over at once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::warn;

use crate::store::{Lease, Store, StoreError};

/// How a claim ended.
pub(crate) enum Claim {
    /// This process holds the lease now.
    Held(Lease),
    /// Another live process holds it (its owner name, when the store knows it).
    Busy(Option<String>),
}

/// Who claims, for how long, and when.
pub(crate) struct Claimant<'a> {
    pub owner: &'a str,
    pub ttl: Duration,
    pub now: DateTime<Utc>,
}

/// The lease a pair's runs, backfills (unsliced) and micro-syncs take turns on.
pub(crate) fn pair_lease(pair: &str) -> String {
    format!("pair:{pair}")
}

/// Claims lease `name` for `who`, taking it over from a holder that is known to be gone.
pub(crate) async fn claim(store: &dyn Store, name: &str, who: &Claimant<'_>) -> Result<Claim, StoreError> {
    if let Some(lease) = store.claim_lease(name, who.owner, who.ttl, who.now).await? {
        return Ok(Claim::Held(lease));
    }
    let holder = store.lease_holder(name).await.ok().flatten();
    let Some(dead) = holder.as_deref().filter(|h| holder_is_gone(h, who.owner)) else {
        return Ok(Claim::Busy(holder));
    };
    match store.take_over_lease(name, dead, who.owner, who.ttl, who.now).await.ok().flatten() {
        Some(lease) => {
            warn!(lease = name, dead_holder = dead, "took over the lease of a process that no longer exists");
            Ok(Claim::Held(lease))
        }
        None => Ok(Claim::Busy(holder)),
    }
}

/// True when `holder` (`host:pid`) is a process on this host (`own` is `host:pid` too) that no
/// longer exists. Anything else — another host, an unparseable owner, a live pid — is not known
/// to be gone.
fn holder_is_gone(holder: &str, own: &str) -> bool {
    let (Some((host, pid)), Some((own_host, own_pid))) = (holder.rsplit_once(':'), own.rsplit_once(':'))
    else {
        return false;
    };
    let (Ok(pid), Ok(own_pid)) = (pid.parse::<u32>(), own_pid.parse::<u32>()) else { return false };
    if host != own_host || pid == own_pid || !cfg!(target_os = "linux") {
        return false;
    }
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::holder_is_gone;

    #[test]
    fn only_a_missing_process_of_this_host_is_gone() {
        let me = format!("box:{}", std::process::id());
        assert!(!holder_is_gone(&me, &me), "ourselves");
        assert!(!holder_is_gone("other-box:4194999", &me), "another host is never judged");
        assert!(!holder_is_gone("box:1", &me), "pid 1 exists");
        assert!(!holder_is_gone("crosswalk", &me), "not host:pid");
        if cfg!(target_os = "linux") {
            assert!(holder_is_gone("box:4194999", &me), "beyond the largest pid Linux hands out");
        }
    }
}
