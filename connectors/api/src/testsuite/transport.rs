//! A transport that runs a callback before every request.

use std::sync::Arc;

use async_trait::async_trait;

use crate::ConnectorError;
use crate::http::{HttpTransport, Request, Response, TransportFailure};

/// Runs `before` ahead of every request `inner` sends: typically it moves a simulator's frozen
/// clock up to the connector's clock, so virtual pacing waits are seen by the simulator's rate
/// limiter too.
#[derive(Clone)]
pub struct Synced {
    inner: Arc<dyn HttpTransport>,
    before: Arc<dyn Fn() + Send + Sync>,
}

impl Synced {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn HttpTransport>, before: impl Fn() + Send + Sync + 'static) -> Self {
        Self { inner, before: Arc::new(before) }
    }
}

#[async_trait]
impl HttpTransport for Synced {
    async fn send(&self, req: Request) -> Result<Response, ConnectorError> {
        (self.before)();
        self.inner.send(req).await
    }

    async fn send_checked(&self, req: Request) -> Result<Response, TransportFailure> {
        (self.before)();
        self.inner.send_checked(req).await
    }
}
