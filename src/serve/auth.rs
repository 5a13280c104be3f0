//! Who may use the admin server: the admin token (compared in constant time), the signed session
//! cookie the login form sets, the per-session CSRF token, and the same-origin check on POSTs.
//!
//! A session cookie is `<session id>.<issued unix secs>.<name hex>.<mac>` where the mac is an
//! HMAC-SHA256, under a key drawn at start-up, of the rest: it carries neither the token nor
//! anything derived from it, and dies with the process or after [`SESSION_TTL`]. The CSRF token
//! is a second HMAC of the session id, so it needs no server-side state either.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, Method, header};
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE: &str = "crosswalk_session";
/// How long a login lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// The header an API client using the cookie sends the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The header an API client may name the acting admin in (for the audit trail).
pub const ADMIN_NAME_HEADER: &str = "x-crosswalk-admin";

/// The admin token and the session key. Cheap to clone.
#[derive(Clone)]
pub struct AdminAuth {
    inner: Arc<Inner>,
}

struct Inner {
    token_digest: [u8; 32],
    session_key: [u8; 32],
    rng: Mutex<ChaCha20Rng>,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminAuth([REDACTED])")
    }
}

/// A logged-in browser session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    /// The name the admin gave at login, for the audit trail.
    pub name: String,
    pub csrf: String,
}

/// How a request proved it is an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer <token>`: no ambient authority, so no CSRF token is needed.
    Bearer { name: String },
    /// The session cookie: POSTs must also carry the session's CSRF token.
    Cookie(Session),
}

impl Credential {
    /// Who acts, as recorded in a resolution's `by`.
    pub fn name(&self) -> &str {
        match self {
            Self::Bearer { name } => name,
            Self::Cookie(s) => &s.name,
        }
    }
}

impl AdminAuth {
    /// Auth for `token`, with session ids and the session key drawn from `rng`.
    pub fn new(token: &SecretString, mut rng: ChaCha20Rng) -> Self {
        let mut session_key = [0u8; 32];
        rng.fill_bytes(&mut session_key);
        let token_digest = Sha256::digest(token.expose_secret().as_bytes()).into();
        Self { inner: Arc::new(Inner { token_digest, session_key, rng: Mutex::new(rng) }) }
    }

    /// Auth for `token` with randomness from the operating system (production).
    pub fn from_os_entropy(token: &SecretString) -> Self {
        Self::new(token, ChaCha20Rng::from_os_rng())
    }

    /// Whether `presented` is the admin token, in time independent of where they differ.
    pub fn token_matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        constant_time_eq(&digest, &self.inner.token_digest)
    }

    fn mac(&self, parts: &[&str]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.inner.session_key).expect("hmac takes any key length");
        for p in parts {
            mac.update(p.as_bytes());
            mac.update(b"|");
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// A new session for `name`, issued at `now`: the cookie value and the session.
    pub fn new_session(&self, name: &str, now: DateTime<Utc>) -> (String, Session) {
        let mut raw = [0u8; 16];
        self.inner.rng.lock().expect("session rng lock").fill_bytes(&mut raw);
        let id = hex::encode(raw);
        let issued = now.timestamp().to_string();
        let name_hex = hex::encode(name.as_bytes());
        let mac = self.mac(&["session", &id, &issued, &name_hex]);
        let cookie = format!("{id}.{issued}.{name_hex}.{mac}");
        let csrf = self.mac(&["csrf", &id]);
        (cookie, Session { id, name: name.to_string(), csrf })
    }

    /// The session a cookie value stands for, if it is genuine and not expired at `now`.
    pub fn check_session(&self, cookie: &str, now: DateTime<Utc>) -> Option<Session> {
        let mut parts = cookie.split('.');
        let (id, issued, name_hex, mac) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let expected = self.mac(&["session", id, issued, name_hex]);
        if !constant_time_eq(expected.as_bytes(), mac.as_bytes()) {
            return None;
        }
        let issued: i64 = issued.parse().ok()?;
        let age = now.timestamp() - issued;
        if age < 0 || age > SESSION_TTL.as_secs() as i64 {
            return None;
        }
        let name = String::from_utf8(hex::decode(name_hex).ok()?).ok()?;
        Some(Session { id: id.to_string(), name, csrf: self.mac(&["csrf", id]) })
    }

    /// The credential a request carries, if any is valid.
    pub fn authenticate(&self, headers: &HeaderMap, now: DateTime<Utc>) -> Option<Credential> {
        if let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
            let token = auth.strip_prefix("Bearer ")?;
            if !self.token_matches(token.trim()) {
                return None;
            }
            let name = headers
                .get(ADMIN_NAME_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(clean_name)
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "api".to_string());
            return Some(Credential::Bearer { name });
        }
        cookie_value(headers, COOKIE).and_then(|c| self.check_session(&c, now)).map(Credential::Cookie)
    }
}

/// An admin's name as kept in the audit trail: printable, at most 64 characters.
pub fn clean_name(raw: &str) -> String {
    raw.trim().chars().filter(|c| !c.is_control()).take(64).collect()
}

/// Compares two byte strings without stopping at the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The `Set-Cookie` value for a new session.
pub fn session_cookie(value: &str) -> String {
    format!("{COOKIE}={value}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Strict", SESSION_TTL.as_secs())
}

/// The `Set-Cookie` value that logs out.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict")
}

/// Whether a state-changing request comes from another site: `Sec-Fetch-Site` says so, or its
/// `Origin` is not this server's. Requests without either header (curl, API clients) pass: they
/// carry no ambient cookie a third-party page could have made them send.
pub fn is_cross_site(method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
    if let Some(site) = text("sec-fetch-site")
        && site != "same-origin"
        && site != "none"
    {
        return true;
    }
    let Some(origin) = text("origin") else { return false };
    let Some(host) = text("host") else { return true };
    let origin_host = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
    origin_host != Some(host.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> AdminAuth {
        AdminAuth::new(&SecretString::from("s3cret"), ChaCha20Rng::seed_from_u64(1))
    }

    #[test]
    fn the_token_matches_only_itself() {
        let a = auth();
        assert!(a.token_matches("s3cret"));
        assert!(!a.token_matches("s3cre"));
        assert!(!a.token_matches(""));
    }

    #[test]
    fn a_session_round_trips_and_a_tampered_or_expired_one_does_not() {
        let a = auth();
        let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let (cookie, session) = a.new_session("alice", t0);
        assert!(!cookie.contains("s3cret"));
        assert_eq!(a.check_session(&cookie, t0), Some(session.clone()));
        let mut forged = cookie.clone();
        forged.replace_range(0..1, if cookie.starts_with('0') { "1" } else { "0" });
        assert_eq!(a.check_session(&forged, t0), None);
        let late = t0 + chrono::Duration::seconds(SESSION_TTL.as_secs() as i64 + 1);
        assert_eq!(a.check_session(&cookie, late), None);
        let other = AdminAuth::new(&SecretString::from("s3cret"), ChaCha20Rng::seed_from_u64(2));
        assert_eq!(other.check_session(&cookie, t0), None, "another process's key rejects it");
    }

    #[test]
    fn cross_site_posts_are_recognised() {
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:8080".parse().unwrap());
        assert!(!is_cross_site(&Method::POST, &h), "no browser headers: an API client");
        h.insert("origin", "http://127.0.0.1:8080".parse().unwrap());
        assert!(!is_cross_site(&Method::POST, &h));
        h.insert("origin", "https://evil.example".parse().unwrap());
        assert!(is_cross_site(&Method::POST, &h));
        assert!(!is_cross_site(&Method::GET, &h));
        h.remove("origin");
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(is_cross_site(&Method::POST, &h));
    }
}
