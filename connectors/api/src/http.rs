//! The shared HTTP layer every connector goes through.
//!
//! [`HttpTransport`] is the seam: production sends through reqwest ([`ReqwestTransport`]); the
//! simulation harness routes requests in-process to the simulators. Policy (timeouts, retries,
//! rate limiting, redaction) lives in the client on top of the transport, and nowhere else:
//! [`HttpClient`], with [`classify`], [`ratelimit`] and [`redact`].

pub mod classify;
mod client;
pub mod names;
pub mod ratelimit;
pub mod redact;
pub mod shared;

pub use classify::{ErrorInfo, ResponseClassifier};
pub use client::{ClientPolicy, ClientStats, HttpClient, LONG_WAIT, RequestSpec, is_stopped, stopped};
pub use ratelimit::{BucketPolicy, RateLimiter, ServerQuota};
pub use redact::Redactor;
pub use shared::{QuotaAnswer, SharedQuota, account_key};

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::ConnectorError;

/// An HTTP request as the transport sends it.
pub type Request = http::Request<Bytes>;
/// An HTTP response as the transport returns it.
pub type Response = http::Response<Bytes>;

/// A transport failure, with whether the request provably never reached the server.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportFailure {
    /// The classified failure (normally [`ConnectorError::Transient`]).
    pub error: ConnectorError,
    /// True when the request cannot have been processed (connection refused, DNS, TLS
    /// handshake), so even a non-idempotent request may be sent again.
    pub not_sent: bool,
}

/// Sends one request and returns the response, whatever its status. Transport failures
/// (connection refused, timeout) are returned as [`ConnectorError::Transient`].
#[async_trait]
pub trait HttpTransport: Send + Sync {
    /// Sends `req`.
    async fn send(&self, req: Request) -> Result<Response, ConnectorError>;

    /// Like [`send`](Self::send), but says whether a failure happened before the request left.
    /// The default cannot tell and answers "maybe sent", which only costs retries of
    /// non-idempotent requests.
    async fn send_checked(&self, req: Request) -> Result<Response, TransportFailure> {
        self.send(req).await.map_err(|error| TransportFailure { error, not_sent: false })
    }
}

/// The production transport.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    /// A transport with the given per-request timeout. It follows no redirect: a 3xx reaches
    /// the [`HttpClient`], which refuses it, so no credential or body is ever re-sent to the
    /// host a `Location` names.
    pub fn new(timeout: std::time::Duration) -> Result<Self, ConnectorError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConnectorError::Protocol { message: format!("cannot build HTTP client: {e}") })?;
        Ok(Self { client })
    }
}

#[async_trait]
impl HttpTransport for ReqwestTransport {
    async fn send(&self, req: Request) -> Result<Response, ConnectorError> {
        self.send_checked(req).await.map_err(|f| f.error)
    }

    async fn send_checked(&self, req: Request) -> Result<Response, TransportFailure> {
        let (parts, body) = req.into_parts();
        let url = parts.uri.to_string();
        let resp =
            self.client.request(parts.method, &url).headers(parts.headers).body(body).send().await.map_err(
                |e| TransportFailure {
                    not_sent: e.is_connect(),
                    error: ConnectorError::Transient {
                        message: format!("{} {}: {}", "request to", redact_query(&url), e.without_url()),
                        retry_after: None,
                    },
                },
            )?;
        let mut builder = http::Response::builder().status(resp.status());
        for (k, v) in resp.headers() {
            builder = builder.header(k, v);
        }
        let body = resp.bytes().await.map_err(|e| TransportFailure {
            not_sent: false,
            error: ConnectorError::Transient {
                message: format!("reading response body: {}", e.without_url()),
                retry_after: None,
            },
        })?;
        builder.body(body).map_err(|e| TransportFailure {
            not_sent: false,
            error: ConnectorError::Protocol { message: e.to_string() },
        })
    }
}

/// A URL with its query string removed, for messages (queries may carry tokens or emails).
pub fn redact_query(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_string(),
    }
}
