//! OAuth, session expiry, daily limits, the limit header and injected faults.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sim_core::FaultConfig;
use sim_salesforce::Quirks;

use super::{answer, code, sim, t0};

#[tokio::test]
async fn client_credentials_token_has_the_documented_fields_and_a_distinct_instance_host() {
    let s = sim().await;
    let tok = s.token_request("sim-consumer-key", "sim-consumer-secret").await;
    assert_eq!(tok.status, StatusCode::OK);
    for k in ["access_token", "instance_url", "id", "token_type", "issued_at", "signature", "scope"] {
        assert!(tok.body.get(k).is_some(), "missing {k}: {}", tok.body);
    }
    assert!(tok.body.get("expires_in").is_none() && tok.body.get("refresh_token").is_none());
    assert_eq!(tok.body["token_type"], "Bearer");
    let instance = tok.body["instance_url"].as_str().unwrap();
    assert!(!instance.contains("127.0.0.1"), "instance host must differ from the login host: {instance}");
    let resp = s
        .http
        .get(format!("{instance}/services/data/v62.0/limits"))
        .bearer_auth(tok.body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_client_credentials_get_an_oauth_error_object() {
    let s = sim().await;
    let tok = s.token_request("sim-consumer-key", "wrong").await;
    assert_eq!(tok.status, StatusCode::BAD_REQUEST);
    assert_eq!(tok.body["error"], "invalid_client");
    assert!(tok.body["error_description"].is_string());
}

#[tokio::test]
async fn jwt_bearer_checks_issuer_and_expiry() {
    let s = sim().await;
    let jwt = |iss: &str, exp: i64| {
        let claims = json!({"iss": iss, "sub": "integration@example.com", "aud": "https://login.salesforce.com", "exp": exp});
        format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims.to_string()))
    };
    let post = |assertion: String| {
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer".to_string()),
            ("assertion", assertion),
        ];
        s.http.post(format!("{}/services/oauth2/token", s.base())).form(&form).send()
    };
    let ok = answer(post(jwt("sim-consumer-key", t0().timestamp() + 180)).await.unwrap()).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let bad = answer(post(jwt("someone-else", t0().timestamp() + 180)).await.unwrap()).await;
    assert_eq!(bad.body["error"], "invalid_grant");
    let expired = answer(post(jwt("sim-consumer-key", t0().timestamp() - 1)).await.unwrap()).await;
    assert_eq!(expired.body["error"], "invalid_grant");
}

#[tokio::test]
async fn invalid_expired_or_revoked_sessions_get_401_invalid_session_id() {
    let s = sim().await;
    assert_eq!(s.get("/limits").await.status, StatusCode::OK);
    let resp = s.http.get(format!("{}/services/data/v62.0/limits", s.base())).send().await.unwrap();
    let a = answer(resp).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&a), "INVALID_SESSION_ID");
    assert_eq!(a.body[0]["message"], "Session expired or invalid");

    s.state.advance(Duration::hours(2));
    assert_eq!(code(&s.get("/limits").await), "INVALID_SESSION_ID", "session lifetime elapsed");

    let s = super::sim().await;
    s.state.expire_tokens();
    assert_eq!(s.get("/limits").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_response_carries_the_usage_header_and_limits_match() {
    let s = sim().await;
    let a = s.get("/limits").await;
    assert_eq!(a.headers["sforce-limit-info"], "api-usage=1/100000");
    assert_eq!(a.body["DailyApiRequests"], json!({"Max": 100000, "Remaining": 99999}));
    let b = s.query("query", "SELECT Id FROM Contact").await;
    assert_eq!(b.headers["sforce-limit-info"], "api-usage=2/100000");
    let versions = s.http.get(format!("{}/services/data", s.base())).send().await.unwrap();
    assert!(versions.headers().get("sforce-limit-info").is_none());
}

#[tokio::test]
async fn daily_limit_is_a_403_without_retry_after_until_the_window_frees_capacity() {
    let s = sim().await;
    s.state.set_quirks(Quirks { daily_limit: 3, limit_window_secs: 60, ..Quirks::default() });
    for _ in 0..3 {
        assert_eq!(s.get("/limits").await.status, StatusCode::OK);
    }
    let denied = s.call(Method::GET, "/limits", None).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(code(&denied), "REQUEST_LIMIT_EXCEEDED");
    assert_eq!(denied.body[0]["message"], "TotalRequests Limit exceeded.");
    assert!(denied.headers.get("retry-after").is_none());
    assert_eq!(denied.headers["sforce-limit-info"], "api-usage=3/3");
    s.state.advance(Duration::seconds(59));
    assert_eq!(s.get("/limits").await.status, StatusCode::FORBIDDEN, "still inside the rolling window");
    s.state.advance(Duration::seconds(1));
    assert_eq!(s.get("/limits").await.status, StatusCode::OK);
}

#[tokio::test]
async fn injected_faults_are_answered_and_logged() {
    let s = sim().await;
    s.state.faults.set(FaultConfig { maintenance: true, ..FaultConfig::default() });
    let a = s.get("/limits").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(code(&a), "SERVER_UNAVAILABLE");
    s.state.faults.set(FaultConfig { rate_429: 1.0, retry_after_secs: Some(7), ..FaultConfig::default() });
    let b = s.get("/limits").await;
    assert_eq!(b.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(b.headers["retry-after"], "7");
    let log = s.state.log.entries();
    assert_eq!(log.last().unwrap().retry_after, Some(7));
    assert_eq!(log.last().unwrap().path, "/services/data/v62.0/limits");
}
