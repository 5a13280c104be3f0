//! The org's daily API budget as the server reports it in `Sforce-Limit-Info: api-usage=N/M`
//! (spec §8), with a reserve kept back for other integrations and humans: once usage passes
//! `(1 − reserve) × M` the connector refuses to send and answers `QuotaExhausted`.

use std::sync::{Arc, Mutex};

use connector_api::ConnectorError;
use connector_api::http::ResponseClassifier;
use http::{HeaderMap, StatusCode};

/// The header carrying the usage counter.
pub const LIMIT_HEADER: &str = "sforce-limit-info";

/// What the server last said about the daily allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Requests used in the rolling 24 h.
    pub used: u64,
    /// The allocation.
    pub max: u64,
}

/// Parses `api-usage=N/M` out of the header value (it may carry `; api-bursts=…` too).
pub fn parse_limit_info(value: &str) -> Option<Usage> {
    let part = value.split([';', ',']).find_map(|p| p.trim().strip_prefix("api-usage="))?;
    let (used, max) = part.trim().split_once('/')?;
    Some(Usage { used: used.trim().parse().ok()?, max: max.trim().parse().ok()? })
}

/// The shared budget tracker. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Budget {
    reserve_share: f64,
    usage: Arc<Mutex<Option<Usage>>>,
}

impl Budget {
    /// A tracker keeping `reserve_share` (0–1) of the allocation in reserve.
    pub fn new(reserve_share: f64) -> Self {
        Self { reserve_share: reserve_share.clamp(0.0, 1.0), usage: Arc::new(Mutex::new(None)) }
    }

    /// The last usage seen, if any response carried it yet.
    pub fn usage(&self) -> Option<Usage> {
        *self.usage.lock().expect("budget lock")
    }

    /// Requests left before the reserve, when known.
    pub fn remaining(&self) -> Option<u64> {
        self.usage().map(|u| self.ceiling(u).saturating_sub(u.used))
    }

    fn ceiling(&self, u: Usage) -> u64 {
        // Truncation keeps the reserve at least as large as asked.
        ((1.0 - self.reserve_share) * u.max as f64).floor() as u64
    }

    /// Admits one request, counting it locally until the next header corrects the count.
    pub fn admit(&self) -> Result<(), ConnectorError> {
        let mut guard = self.usage.lock().expect("budget lock");
        let Some(u) = guard.as_mut() else { return Ok(()) };
        let ceiling = ((1.0 - self.reserve_share) * u.max as f64).floor() as u64;
        if u.used >= ceiling {
            return Err(ConnectorError::QuotaExhausted {
                message: format!(
                    "daily API usage {}/{} reached the configured reserve ({:.0}% kept back)",
                    u.used,
                    u.max,
                    self.reserve_share * 100.0
                ),
                resets_at: None,
            });
        }
        u.used += 1;
        Ok(())
    }

    /// Takes the server's count from a response's headers.
    pub fn observe(&self, headers: &HeaderMap) {
        let parsed = headers.get(LIMIT_HEADER).and_then(|v| v.to_str().ok()).and_then(parse_limit_info);
        if let Some(u) = parsed {
            *self.usage.lock().expect("budget lock") = Some(u);
        }
    }
}

/// Installed in the shared client: reads the usage header of error responses too (the client
/// hands only successes back), and keeps the default classification.
#[derive(Debug)]
pub struct BudgetObserver(pub Budget);

impl ResponseClassifier for BudgetObserver {
    fn refine(
        &self,
        _status: StatusCode,
        headers: &HeaderMap,
        _body: &[u8],
        _default: &ConnectorError,
    ) -> Option<ConnectorError> {
        self.0.observe(headers);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_usage_with_and_without_bursts() {
        assert_eq!(parse_limit_info("api-usage=25/5000"), Some(Usage { used: 25, max: 5000 }));
        assert_eq!(parse_limit_info("api-usage=7/100; api-bursts=1/10"), Some(Usage { used: 7, max: 100 }));
        assert_eq!(parse_limit_info("garbage"), None);
    }

    #[test]
    fn refuses_once_usage_reaches_the_reserve() {
        let b = Budget::new(0.2);
        assert!(b.admit().is_ok(), "unknown usage admits");
        let mut h = HeaderMap::new();
        h.insert(LIMIT_HEADER, "78/100".parse().unwrap());
        b.observe(&h);
        assert_eq!(b.usage(), None, "a header without api-usage= is ignored");
        h.insert(LIMIT_HEADER, "api-usage=78/100".parse().unwrap());
        b.observe(&h);
        assert_eq!(b.remaining(), Some(2));
        assert!(b.admit().is_ok());
        assert!(b.admit().is_ok());
        let err = b.admit().unwrap_err();
        assert!(matches!(err, ConnectorError::QuotaExhausted { .. }), "{err:?}");
        assert_eq!(b.remaining(), Some(0));
    }
}
