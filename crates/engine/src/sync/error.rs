//! What can stop a run.

use connector_api::ConnectorError;

use crate::store::StoreError;

/// What can stop a run.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The store failed; nothing more can be committed.
    #[error("state store: {0}")]
    Store(#[from] StoreError),
    /// A connector failed in a way that stops this pair (auth, quota, an unreadable answer).
    #[error("system `{system}`: {source}")]
    Connector {
        /// The configured system name.
        system: String,
        /// What went wrong.
        source: ConnectorError,
    },
    /// A mapping names a system that is not configured.
    #[error("pair `{pair}` uses system `{system}`, which is not configured")]
    UnknownSystem {
        /// The pair.
        pair: String,
        /// The missing system.
        system: String,
    },
    /// Another process took the lease over while this one was working.
    #[error("the lease for pair `{0}` was lost to another process; its work will be redone by the holder")]
    LeaseLost(String),
    /// The request cannot be carried out as given.
    #[error("{0}")]
    Invalid(String),
    /// No mapping defines this pair.
    #[error("no pair named `{0}` (pairs are named after their mapping files; see `crosswalk check`)")]
    UnknownPair(String),
}

impl SyncError {
    /// A store error met while working on `pair`: a lost lease is [`SyncError::LeaseLost`].
    pub(crate) fn fenced(pair: &str, e: StoreError) -> Self {
        match e {
            StoreError::LeaseLost => SyncError::LeaseLost(pair.to_string()),
            other => SyncError::Store(other),
        }
    }
}
