//! `crosswalk serve`: the admin web server (axum). It owns the review pages (server-rendered
//! HTML, no JavaScript), the JSON API under `/api/`, `/healthz` and `/metrics`, and the guard
//! every request passes: security headers, the body limit, and the same-origin check that
//! rejects a cross-site POST with 403 before anything else runs.
//!
//! [`router`] builds the whole app over a store, so tests drive it in-process; [`run`] binds it
//! to `serve.listen`.

mod api;
pub mod auth;
mod dead_letter_pages;
mod html;
pub mod hubspot_webhooks;
mod metrics;
mod pages;
pub mod throttle;
mod views;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use connector_api::SharedClock;
use tokio::sync::Notify;

pub use api::ApiError;
pub use auth::AdminAuth;

use crate::review::ReviewService;
use crate::review::names::Directory;
use crate::store::Store;

/// Largest request body accepted (forms and JSON).
const BODY_LIMIT: usize = 64 * 1024;

/// What every handler sees.
#[derive(Clone)]
pub(crate) struct AppState {
    pub review: ReviewService,
    /// The dead-letter service behind `/dead-letters`.
    pub dead_letters: crate::dead_letters::DeadLetters,
    pub auth: AdminAuth,
    pub clock: SharedClock,
    /// Back-off for wrong admin tokens, per client.
    pub throttle: Arc<throttle::Throttle>,
    /// `/metrics`: gauges from the store (and, in `run --serve`, the scheduler's counters).
    pub metrics: Arc<crate::ops::metrics::Metrics>,
    /// Woken (`notify_one`) by a webhook receiver after it committed a delivery that stored at
    /// least one fresh event: the micro-sync worker of `run --serve` waits on it.
    pub deliveries: Arc<Notify>,
}

/// What the web server shares with the rest of its process: `run --serve` passes the
/// scheduler's metrics registry and the Notify its micro-sync worker waits on; `serve` alone
/// gets fresh ones ([`Shared::default`]).
#[derive(Debug, Clone, Default)]
pub struct Shared {
    /// The registry `/metrics` encodes.
    pub metrics: Arc<crate::ops::metrics::Metrics>,
    /// Notified once per delivery that stored a fresh event.
    pub deliveries: Arc<Notify>,
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// `serve.listen` cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// The whole admin app over `store`, naming no systems (see [`router_with`]).
pub fn router(store: Arc<dyn Store>, auth: AdminAuth, clock: SharedClock) -> Router {
    router_with(store, auth, clock, Directory::default())
}

/// The whole admin app over `store`, naming each pair's systems and linking their records
/// through `directory`.
pub fn router_with(
    store: Arc<dyn Store>,
    auth: AdminAuth,
    clock: SharedClock,
    directory: Directory,
) -> Router {
    router_sharing(store, auth, clock, directory, Shared::default())
}

/// [`router_with`] over the metrics registry and the deliveries Notify of `shared`.
pub fn router_sharing(
    store: Arc<dyn Store>,
    auth: AdminAuth,
    clock: SharedClock,
    directory: Directory,
    shared: Shared,
) -> Router {
    let dead_letters = crate::dead_letters::DeadLetters::new(store.clone());
    let review = ReviewService::new(store, clock.clone()).with_directory(directory);
    let throttle = Arc::new(throttle::Throttle::new(clock.clone()));
    let Shared { metrics, deliveries } = shared;
    let state = AppState { review, dead_letters, auth, clock, throttle, metrics, deliveries };
    Router::new()
        .route("/", get(|| async { Redirect::to("/review") }))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/review", get(pages::list))
        .route("/review/bulk", post(pages::bulk))
        .route("/review/{id}", get(pages::item))
        .route("/review/{id}/resolve", post(pages::resolve))
        .route("/review/{id}/reopen", post(pages::reopen))
        .route("/record/{system}/{id}", get(pages::record))
        .route("/dead-letters", get(dead_letter_pages::list))
        .route("/dead-letters/{id}", get(dead_letter_pages::item))
        .route("/dead-letters/{id}/retry", post(dead_letter_pages::retry))
        .route("/dead-letters/{id}/discard", post(dead_letter_pages::discard))
        .route("/assets/style.css", get(html::stylesheet))
        .route("/api/review", get(api::list))
        .route("/api/review/resolve", post(api::bulk))
        .route("/api/review/{id}", get(api::item))
        .route("/api/review/{id}/resolve", post(api::resolve))
        .route("/api/review/{id}/reopen", post(api::reopen))
        .route("/api/status", get(api::status))
        .route("/healthz", get(metrics::healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/webhooks/wlcro", post(webhooks::wlcro))
        .route("/webhooks/hubspot", post(hubspot_webhooks::hubspot))
        .layer(middleware::from_fn(guard))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Rejects cross-site state changes and adds the security headers to every response.
async fn guard(req: Request, next: Next) -> Response {
    let mut resp = if auth::is_cross_site(req.method(), req.headers()) {
        let message = "cross-site requests may not change anything";
        if req.uri().path().starts_with("/api/") {
            ApiError::Forbidden(message.into()).into_response()
        } else {
            html::error_page(StatusCode::FORBIDDEN, message)
        }
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: header::HeaderName, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // Not `no-referrer`: with it browsers send `Origin: null` on form POSTs, defeating the check.
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::CACHE_CONTROL, "no-store");
    resp
}

/// The server's parts: the store, the admin token, the clock, the receivers configured, the
/// names of the pairs' systems and what it shares with its process.
#[derive(Debug)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub auth: AdminAuth,
    pub clock: SharedClock,
    pub wlcro_hooks: Option<webhooks::WlcroReceiver>,
    pub hubspot_hooks: Option<hubspot_webhooks::HubspotReceiver>,
    pub directory: Directory,
    pub shared: Shared,
}

impl App {
    /// The whole router, receivers attached.
    pub fn router(self) -> Router {
        let app = router_sharing(self.store, self.auth, self.clock, self.directory, self.shared);
        let app = match self.wlcro_hooks {
            Some(hooks) => hooks.attach(app),
            None => app,
        };
        match self.hubspot_hooks {
            Some(hooks) => hooks.attach(app),
            None => app,
        }
    }
}

/// Binds `listen`, or says why not.
pub async fn bind(listen: &str) -> Result<tokio::net::TcpListener, ServeError> {
    tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Bind { addr: listen.to_string(), source })
}

/// Serves [`router`] on `listen` until Ctrl-C.
pub async fn run(listen: &str, app: App) -> Result<(), ServeError> {
    let listener = bind(listen).await?;
    serve_until(listener, app, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes the requests in flight
/// (graceful shutdown) and returns.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "admin server listening");
    // The peer address feeds the wrong-token back-off (`throttle`).
    axum::serve(listener, app.router().into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
