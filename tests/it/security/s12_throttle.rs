//! S12: a burst of wrong admin tokens from one client is slowed down. After five failures at
//! `POST /login` (or with `Authorization: Bearer` on the API) the client gets one attempt per
//! second: earlier attempts are answered 429 with `Retry-After` and the token is not even
//! compared, so the burst of 200 wrong tokens in 0.12 s the probe sent now costs a guesser
//! 200 s. Another client is not slowed, and a right token after the wait clears the count. The
//! clock is the injected one: nothing sleeps.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use connector_api::ManualClock;

use crate::serve_api::{Reply, TOKEN, app, call};

fn from(ip: [u8; 4], mut req: Request<Body>) -> Request<Body> {
    req.extensions_mut().insert(ConnectInfo(SocketAddr::from((ip, 40_000))));
    req
}

fn login(ip: [u8; 4], token: &str) -> Request<Body> {
    let req = Request::builder()
        .method("POST")
        .uri("/login")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::ORIGIN, "http://127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={token}&name=alice")))
        .expect("request");
    from(ip, req)
}

fn api(ip: [u8; 4], token: &str) -> Request<Body> {
    let req = Request::builder()
        .uri("/api/review")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    from(ip, req)
}

async fn burst(app: &Router, make: impl Fn(&str) -> Request<Body>, n: usize) -> Vec<StatusCode> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(call(app, make(&format!("wrong-{i}"))).await.status);
    }
    out
}

fn throttled(reply: &Reply) -> bool {
    reply.status == StatusCode::TOO_MANY_REQUESTS && reply.headers.contains_key(header::RETRY_AFTER)
}

#[tokio::test]
async fn s12_a_burst_of_wrong_logins_is_throttled_per_client() {
    let ts = crate::support::TestStore::sqlite().await;
    let clock = ManualClock::at_epoch();
    let app = app(ts.store.clone(), clock.shared());
    let a = [127, 0, 0, 2];
    let statuses = burst(&app, |t| login(a, t), 200).await;
    assert!(statuses[..5].iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{:?}", &statuses[..5]);
    let slowed = statuses[5..].iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(slowed, 195, "every attempt after the fifth, within the second, waits");
    // Not even the right token is compared while the client waits.
    assert!(throttled(&call(&app, login(a, TOKEN)).await), "the right token waits too");
    let other = call(&app, login([127, 0, 0, 3], TOKEN)).await;
    assert_eq!(other.status, StatusCode::SEE_OTHER, "another client logs in: {}", other.body);

    clock.advance(Duration::from_secs(1));
    assert_eq!(
        call(&app, login(a, "still-wrong")).await.status,
        StatusCode::UNAUTHORIZED,
        "one attempt a second"
    );
    assert!(throttled(&call(&app, login(a, "again-wrong")).await));
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        call(&app, login(a, TOKEN)).await.status,
        StatusCode::SEE_OTHER,
        "the right token after the wait"
    );
    let statuses = burst(&app, |t| login(a, t), 5).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "a success cleared the count: {statuses:?}"
    );
}

#[tokio::test]
async fn s12_a_burst_of_wrong_bearer_tokens_on_the_api_is_throttled() {
    let ts = crate::support::TestStore::sqlite().await;
    let clock = ManualClock::at_epoch();
    let app = app(ts.store.clone(), clock.shared());
    let a = [127, 0, 0, 2];
    let statuses = burst(&app, |t| api(a, t), 20).await;
    assert!(statuses[..5].iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    let reply = call(&app, api(a, TOKEN)).await;
    assert!(throttled(&reply), "{}", reply.body);
    assert_eq!(reply.json()["error"], "too_many_attempts");
    assert_eq!(call(&app, api([127, 0, 0, 3], TOKEN)).await.status, StatusCode::OK, "another client");
    clock.advance(Duration::from_secs(1));
    assert_eq!(call(&app, api(a, TOKEN)).await.status, StatusCode::OK, "after the wait");
}
