//! Classified connector errors: callers match on the class, never on message text.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An error from a remote system or from reading its answer, already classified.
///
/// Messages never carry secrets or field values; they name ids, codes and fields.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectorError {
    /// Worth retrying: a 5xx, a timeout, a connection reset, a row lock.
    #[error("transient failure: {message}")]
    Transient {
        /// What happened.
        message: String,
        /// When the remote said to come back, if it did.
        retry_after: Option<Duration>,
    },
    /// The remote throttled us (429).
    #[error("throttled by the remote{}", bucket.as_ref().map(|b| format!(" (bucket {b})")).unwrap_or_default())]
    Throttled {
        /// When the remote said to come back, if it did.
        retry_after: Option<Duration>,
        /// The rate-limit bucket that was exhausted, when known.
        bucket: Option<String>,
    },
    /// A quota that does not refill within a run (HubSpot or Salesforce daily limit).
    #[error("API quota exhausted: {message}")]
    QuotaExhausted {
        /// What the remote said.
        message: String,
        /// When the quota resets, when known.
        resets_at: Option<DateTime<Utc>>,
    },
    /// Credentials missing, wrong, expired or lacking a scope. Never retried.
    #[error("authentication failed: {message}; check the credentials configured for this system")]
    Auth {
        /// What the remote said.
        message: String,
    },
    /// The remote rejected the data for good (validation, duplicate rule, unknown field).
    #[error("rejected by the remote: {message}")]
    Invalid {
        /// What the remote said.
        message: String,
        /// The remote's error code, when it gave one.
        code: Option<String>,
        /// The field the error names, when it did.
        field: Option<String>,
    },
    /// The record does not exist (or no longer does).
    #[error("not found: {message}")]
    NotFound {
        /// What was missing.
        message: String,
    },
    /// The write conflicts with the remote's state (already exists, version mismatch).
    #[error("conflict: {message}")]
    Conflict {
        /// What the remote said.
        message: String,
    },
    /// The remote answered something we cannot read.
    #[error("unreadable response: {message}")]
    Protocol {
        /// What was wrong with it.
        message: String,
    },
    /// The configuration points somewhere it must not: a base URL that answers with a redirect,
    /// a token response naming a host that is not allowed. Never retried; the operator fixes it.
    #[error("misconfigured: {message}")]
    Misconfigured {
        /// What is wrong and what to change.
        message: String,
    },
    /// A paginated pull stopped making progress (an empty page whose cursor did not move, a
    /// cursor seen before in this pull) or ran past its per-run request ceiling. The page's
    /// checkpoint stays where it was; never retried in the same run.
    #[error("pull made no progress: {message}")]
    NoProgress {
        /// What was seen and where.
        message: String,
    },
}

/// The class of a [`ConnectorError`], for counting, metrics and routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// See [`ConnectorError::Transient`].
    Transient,
    /// See [`ConnectorError::Throttled`].
    Throttled,
    /// See [`ConnectorError::QuotaExhausted`].
    QuotaExhausted,
    /// See [`ConnectorError::Auth`].
    Auth,
    /// See [`ConnectorError::Invalid`].
    Invalid,
    /// See [`ConnectorError::NotFound`].
    NotFound,
    /// See [`ConnectorError::Conflict`].
    Conflict,
    /// See [`ConnectorError::Protocol`].
    Protocol,
    /// See [`ConnectorError::Misconfigured`].
    Misconfigured,
    /// See [`ConnectorError::NoProgress`].
    NoProgress,
}

impl ConnectorError {
    /// The error's class.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Transient { .. } => ErrorClass::Transient,
            Self::Throttled { .. } => ErrorClass::Throttled,
            Self::QuotaExhausted { .. } => ErrorClass::QuotaExhausted,
            Self::Auth { .. } => ErrorClass::Auth,
            Self::Invalid { .. } => ErrorClass::Invalid,
            Self::NotFound { .. } => ErrorClass::NotFound,
            Self::Conflict { .. } => ErrorClass::Conflict,
            Self::Protocol { .. } => ErrorClass::Protocol,
            Self::Misconfigured { .. } => ErrorClass::Misconfigured,
            Self::NoProgress { .. } => ErrorClass::NoProgress,
        }
    }

    /// True when trying the same request again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.class(), ErrorClass::Transient | ErrorClass::Throttled)
    }

    /// True when retrying can never help and the item belongs in the review queue.
    pub fn is_permanent(&self) -> bool {
        matches!(self.class(), ErrorClass::Invalid | ErrorClass::Conflict | ErrorClass::NotFound)
    }

    /// The delay the remote asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Transient { retry_after, .. } | Self::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
