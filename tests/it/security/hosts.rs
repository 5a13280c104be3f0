//! Loopback servers for the outbound-destination tests: a recorder on another loopback address
//! (127.0.0.2 / 127.0.0.3) that keeps every request that reached it, and a front server on
//! 127.0.0.1 that redirects to it or plays a Salesforce login naming any `instance_url`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One request as it reached a server: method, path and query, every header, the body.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    /// The whole request as text, to search for a credential.
    pub fn text(&self) -> String {
        let headers: Vec<String> = self.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        format!("{} {}\n{}\n\n{}", self.method, self.uri, headers.join("\n"), self.body)
    }
}

/// What reached a server.
pub type Log = Arc<Mutex<Vec<Seen>>>;

async fn record(log: &Log, req: Request) {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let headers =
        parts.headers.iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_string())).collect();
    log.lock().expect("log lock").push(Seen {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
}

/// Serves `app` on `ip:port` (`port` 0 picks one); returns the address.
async fn serve(ip: &str, port: u16, app: Router) -> SocketAddr {
    let socket = tokio::net::TcpListener::bind((ip, port)).await.expect("bind a loopback address");
    let addr = socket.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(socket, app).await;
    });
    addr
}

/// A server on `ip:port` that answers `{}` to everything and records what reached it.
pub async fn recorder(ip: &str, port: u16) -> (String, Log) {
    let log: Log = Arc::default();
    let keep = log.clone();
    let app = Router::new().fallback(move |req: Request| {
        let keep = keep.clone();
        async move {
            record(&keep, req).await;
            axum::Json(serde_json::json!({}))
        }
    });
    let addr = serve(ip, port, app).await;
    (format!("http://{addr}"), log)
}

/// What the front server on 127.0.0.1 does.
#[derive(Debug, Clone)]
pub enum Front {
    /// Answers every request with `status` and `Location: {to}{path}`.
    Redirect { status: u16, to: String },
    /// Answers the Salesforce token request with a token naming `instance_url`; every other
    /// request with `status` and `Location: {to}{path}`, or with `answer` when `status` is 200.
    Login { instance_url: Arc<Mutex<String>>, status: u16, to: String, answer: serde_json::Value },
}

/// The access token the fake login hands out.
pub const ACCESS_TOKEN: &str = "00Dfake!access-token-sentinel-5521";

fn redirect(status: u16, to: &str, uri: &axum::http::Uri) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let status = StatusCode::from_u16(status).expect("a status");
    (status, [(header::LOCATION, format!("{to}{path}"))], "").into_response()
}

/// Starts the front server on 127.0.0.1; returns its base URL and what reached it.
pub async fn front(mode: Front, port: u16) -> (String, Log) {
    let log: Log = Arc::default();
    let keep = log.clone();
    let app = Router::new().fallback(move |req: Request| {
        let (keep, mode) = (keep.clone(), mode.clone());
        async move {
            let uri = req.uri().clone();
            record(&keep, req).await;
            match &mode {
                Front::Redirect { status, to } => redirect(*status, to, &uri),
                Front::Login { instance_url, .. } if uri.path() == "/services/oauth2/token" => {
                    let url = instance_url.lock().expect("lock").clone();
                    axum::Json(serde_json::json!({
                        "access_token": ACCESS_TOKEN, "instance_url": url, "token_type": "Bearer",
                        "id": format!("{url}/id/00D/005"), "issued_at": "1", "signature": "x"
                    }))
                    .into_response()
                }
                Front::Login { status: 200, answer, .. } => axum::Json(answer.clone()).into_response(),
                Front::Login { status, to, .. } => redirect(*status, to, &uri),
            }
        }
    });
    let addr = serve("127.0.0.1", port, app).await;
    (format!("http://{addr}"), log)
}
