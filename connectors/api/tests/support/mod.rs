//! What the HTTP client tests share: a remote that answers one status (optionally held at a
//! gate) and counts what it was sent, and a WhiteLabelCRO-like client over it.
#![allow(dead_code)] // each test binary uses part of it

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use connector_api::http::{
    BucketPolicy, ClientPolicy, HttpClient, HttpTransport, Request, Response, TransportFailure,
};
use connector_api::{ConnectorError, SharedClock, StopToken};
use tokio::sync::Notify;

/// Answers every request with `status` (and `Retry-After: 90` on a 429), after `gate` is
/// released when it is set; counts what it was sent.
pub struct Remote {
    status: u16,
    gate: Option<Arc<Notify>>,
    sent: Mutex<Vec<String>>,
    pub arrived: Notify,
}

impl Remote {
    pub fn new(status: u16, gate: Option<Arc<Notify>>) -> Arc<Self> {
        Arc::new(Self { status, gate, sent: Mutex::default(), arrived: Notify::new() })
    }
    pub fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl HttpTransport for Remote {
    async fn send(&self, req: Request) -> Result<Response, ConnectorError> {
        self.send_checked(req).await.map_err(|f| f.error)
    }
    async fn send_checked(&self, req: Request) -> Result<Response, TransportFailure> {
        self.sent.lock().unwrap().push(req.method().to_string());
        self.arrived.notify_one();
        if let Some(gate) = &self.gate {
            gate.notified().await;
        }
        let mut b = http::Response::builder().status(self.status);
        if self.status == 429 {
            b = b.header("retry-after", "90");
        }
        Ok(b.body(Bytes::from_static(b"{}")).unwrap())
    }
}

pub fn policy() -> ClientPolicy {
    ClientPolicy {
        pacing_margin: Duration::ZERO,
        buckets: vec![
            BucketPolicy::new("read", 60, Duration::from_secs(60)),
            BucketPolicy::new("write", 100, Duration::from_secs(60)),
        ],
        ..ClientPolicy::default()
    }
}

pub fn client(remote: &Arc<Remote>, clock: SharedClock, stop: &StopToken) -> Arc<HttpClient> {
    let c = HttpClient::new(remote.clone(), clock, 1, policy()).with_system("WhiteLabelCRO");
    c.stop_on(stop.clone());
    Arc::new(c)
}
