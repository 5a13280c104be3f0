//! OAuth 2.0 token endpoint (client credentials and JWT bearer, spec §2) and bearer-token
//! checks. OAuth errors are `{"error","error_description"}` objects, not the API's arrays.
//!
//! Gap in the spec: the JWT's RS256 signature cannot be checked without the connected app's
//! certificate, so the simulator checks only `iss` (= consumer key), `sub` and `exp`.

use std::collections::HashMap;

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Json, http::HeaderMap};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use http::StatusCode;
use rand::Rng;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::state::SimState;

/// The simulated org and integration user.
pub const ORG_ID: &str = "00D5g000000SIMORGAAA";
/// The integration user.
pub const USER_ID: &str = "0055g000000SIMUSRAAA";
const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn oauth_error(error: &str, description: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": error, "error_description": description}))).into_response()
}

fn jwt_ok(state: &SimState, assertion: &str, now: DateTime<Utc>) -> Result<(), &'static str> {
    let payload = assertion.split('.').nth(1).ok_or("invalid assertion")?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).map_err(|_| "invalid assertion")?;
    let claims: Value = serde_json::from_slice(&bytes).map_err(|_| "invalid assertion")?;
    if claims["iss"].as_str() != Some(state.config().client_id.as_str()) {
        return Err("invalid client credentials");
    }
    if claims["sub"].as_str().is_none_or(str::is_empty) {
        return Err("user hasn't approved this consumer");
    }
    match claims["exp"].as_i64() {
        Some(exp) if exp > now.timestamp() => Ok(()),
        _ => Err("expired authorization code"),
    }
}

/// `POST /services/oauth2/token`.
pub async fn token(
    State(state): State<SimState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let now = state.now();
    let grant = form.get("grant_type").map(String::as_str).unwrap_or_default();
    match grant {
        "client_credentials" => {
            let cfg = state.config();
            let ok = form.get("client_id") == Some(&cfg.client_id)
                && form.get("client_secret") == Some(&cfg.client_secret);
            if !ok {
                return oauth_error("invalid_client", "invalid client credentials");
            }
        }
        JWT_GRANT => {
            let assertion = form.get("assertion").map(String::as_str).unwrap_or_default();
            if let Err(why) = jwt_ok(&state, assertion, now) {
                return oauth_error("invalid_grant", why);
            }
        }
        _ => return oauth_error("unsupported_grant_type", "grant type not supported"),
    }
    let login = headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let mut g = state.lock();
    let secret: String = (0..40)
        .map(|_| {
            char::from(
                b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[g.rng.random_range(0..62)],
            )
        })
        .collect();
    let access_token = format!("{}!{secret}", &ORG_ID[..15]);
    g.tokens.insert(access_token.clone(), now);
    let instance_url = g.instance_url.clone().unwrap_or_else(|| format!("http://{login}"));
    drop(g);
    let id = format!("{instance_url}/id/{ORG_ID}/{USER_ID}");
    let issued_at = now.timestamp_millis().to_string();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(state.config().client_secret.as_bytes())
        .expect("hmac accepts any key length");
    mac.update(format!("{id}{issued_at}").as_bytes());
    let signature = STANDARD.encode(mac.finalize().into_bytes());
    Json(json!({
        "access_token": access_token, "instance_url": instance_url, "id": id, "token_type": "Bearer",
        "issued_at": issued_at, "signature": signature, "scope": state.scopes().join(" "),
    }))
    .into_response()
}

/// Whether `Authorization: Bearer …` carries a live session at `now`.
pub fn session_valid(state: &SimState, headers: &HeaderMap, now: DateTime<Utc>) -> bool {
    let Some(token) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("OAuth ")))
    else {
        return false;
    };
    let g = state.lock();
    let lifetime = Duration::seconds(g.quirks.session_lifetime_secs);
    g.tokens.get(token.trim()).is_some_and(|issued| *issued + lifetime > now)
}
