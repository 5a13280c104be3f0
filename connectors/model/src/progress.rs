//! [`PullTrail`]: the progress guard every paginated pull carries in its checkpoint.
//!
//! A pull is the run of pages from one rewound first page (`PullRequest::rewind` is `Some`), or
//! from a checkpoint a finished page returned, to `done`; a connector clears the trail from the
//! checkpoint of a `done` page. The trail counts the requests the pull sent and remembers fingerprints of the cursors
//! (or positions) it has been at, so a remote that hands back a cursor seen before, or pages
//! without end, stops the pull with [`ConnectorError::NoProgress`] instead of looping. It lives
//! in the checkpoint the engine hands back page after page, so it is exact per pull and per
//! stream without any state in the connector, and a new run's rewind starts it afresh.

use serde::{Deserialize, Serialize};

use crate::error::ConnectorError;

/// How many recent cursor fingerprints a trail remembers; a longer cycle is stopped by the
/// request ceiling.
pub const TRAIL_LEN: usize = 64;

/// The share of a system's daily request quota one stream's pull may spend in one run.
pub const PULL_SHARE_OF_DAILY: u64 = 10;

/// The per-run request ceiling of one stream: a tenth of the daily quota, never below `floor`.
pub fn ceiling_from_daily(daily: u64, floor: u64) -> u64 {
    (daily / PULL_SHARE_OF_DAILY).max(floor)
}

/// Requests sent and cursors visited by the pull in progress. See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullTrail {
    /// Requests this pull has sent.
    #[serde(default)]
    pub requests: u64,
    /// Fingerprints of the cursors this pull was at, oldest first (at most [`TRAIL_LEN`]).
    #[serde(default)]
    pub visited: Vec<u64>,
}

impl PullTrail {
    /// Forgets the previous pull: called on a rewound first page.
    pub fn restart(&mut self) {
        self.requests = 0;
        self.visited.clear();
    }

    /// Counts one request, or refuses it once `ceiling` requests were sent in this pull.
    pub fn request(&mut self, ceiling: u64, stream: &str) -> Result<(), ConnectorError> {
        if self.requests >= ceiling {
            let message = format!(
                "{stream}: stopped after {} requests in one run, the per-run ceiling derived from the \
                 system's quota; the checkpoint stays where it was. If the stream really is this large, \
                 run a backfill; otherwise the remote's paging is not advancing",
                self.requests
            );
            tracing::warn!(stream, requests = self.requests, ceiling, "pull stopped at its request ceiling");
            return Err(ConnectorError::NoProgress { message });
        }
        self.requests += 1;
        Ok(())
    }

    /// Records that the pull is at `cursor` (any stable text naming the position), or refuses
    /// when this pull was already there.
    pub fn visit(&mut self, cursor: &str, stream: &str) -> Result<(), ConnectorError> {
        let print = fingerprint(cursor);
        if self.visited.contains(&print) {
            tracing::warn!(stream, requests = self.requests, "pull handed a cursor seen before in this pull");
            return Err(ConnectorError::NoProgress {
                message: format!(
                    "{stream}: the remote handed back a cursor this pull had already read from; \
                     stopped instead of looping (the checkpoint stays where it was)"
                ),
            });
        }
        self.visited.push(print);
        if self.visited.len() > TRAIL_LEN {
            self.visited.remove(0);
        }
        Ok(())
    }
}

/// The error for a page that brought nothing and did not move: the same request would answer
/// the same again.
pub fn stalled(stream: &str, what: &str) -> ConnectorError {
    tracing::warn!(stream, what, "pull page made no progress");
    ConnectorError::NoProgress {
        message: format!(
            "{stream}: {what}; stopped instead of asking again (the checkpoint stays where it was)"
        ),
    }
}

/// FNV-1a, 64 bit: stable across builds, so a persisted trail means the same after an upgrade.
fn fingerprint(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_cursor_and_the_ceiling_are_refused_and_a_restart_forgets_them() {
        let mut t = PullTrail::default();
        t.visit("a", "s").unwrap();
        t.visit("b", "s").unwrap();
        assert!(matches!(t.visit("a", "s"), Err(ConnectorError::NoProgress { .. })));
        t.request(2, "s").unwrap();
        t.request(2, "s").unwrap();
        let err = t.request(2, "s").unwrap_err();
        assert!(err.to_string().contains("stopped after 2 requests"), "{err}");
        t.restart();
        t.visit("a", "s").unwrap();
        t.request(2, "s").unwrap();
    }

    #[test]
    fn the_trail_stays_bounded() {
        let mut t = PullTrail::default();
        for i in 0..(TRAIL_LEN * 2) {
            t.visit(&i.to_string(), "s").unwrap();
        }
        assert_eq!(t.visited.len(), TRAIL_LEN);
        assert_eq!(ceiling_from_daily(250_000, 100), 25_000);
        assert_eq!(ceiling_from_daily(0, 100), 100);
    }
}
