//! Webhook deliveries (§4.2–4.3): signature verification, configurable because the real scheme
//! is not in the docs snapshot (header, prefix, hex/base64, raw or base64-decoded key, body or
//! `"{ts}.{body}"`), in constant time, with several secrets accepted during a rotation. A delivery
//! that is unsigned, tampered or stale becomes a [`Quarantined`] item and has no effect.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use connector_api::{Change, Quarantined};
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::Object;
use crate::wire::Envelope;

/// How the digest is written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestEncoding {
    /// Lowercase (or any case) hex.
    Hex,
    /// Standard base64.
    Base64,
}

/// What the HMAC key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// The UTF-8 bytes of the secret string as returned (the §4.3 suggestion).
    Raw,
    /// The bytes the base64 secret decodes to.
    Base64Decoded,
}

/// What is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedString {
    /// The raw body.
    Body,
    /// `"{timestamp}.{body}"`.
    TimestampDotBody,
}

/// The signature scheme. [`Default`] is the spec's suggestion.
#[derive(Debug, Clone)]
pub struct SignatureScheme {
    /// The signature header.
    pub header: String,
    /// A prefix before the digest (`sha256=`).
    pub prefix: String,
    /// The digest encoding.
    pub encoding: DigestEncoding,
    /// The key interpretation.
    pub key_mode: KeyMode,
    /// The signed string.
    pub signed: SignedString,
    /// The timestamp header (Unix seconds).
    pub timestamp_header: String,
    /// Reject deliveries whose timestamp is further than this from now; `None` ignores it.
    pub tolerance: Option<Duration>,
}

impl Default for SignatureScheme {
    fn default() -> Self {
        Self {
            header: "x-webhook-signature".into(),
            prefix: "sha256=".into(),
            encoding: DigestEncoding::Hex,
            key_mode: KeyMode::Raw,
            signed: SignedString::Body,
            timestamp_header: "x-webhook-timestamp".into(),
            tolerance: Some(Duration::from_secs(300)),
        }
    }
}

/// Why a delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No signature header.
    #[error("unsigned delivery")]
    Unsigned,
    /// The signature is malformed or matches no configured secret.
    #[error("signature does not match")]
    BadSignature,
    /// The timestamp is missing (when signed) or outside the tolerance.
    #[error("timestamp missing or outside the tolerance")]
    Stale,
    /// The body is not a readable event.
    #[error("unreadable event: {0}")]
    Body(String),
}

/// Verifies deliveries of one subscription (several secrets while rotating).
pub struct WebhookVerifier {
    scheme: SignatureScheme,
    secrets: Vec<SecretString>,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("scheme", &self.scheme)
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl WebhookVerifier {
    /// A verifier accepting any of `secrets`.
    pub fn new(scheme: SignatureScheme, secrets: Vec<SecretString>) -> Self {
        Self { scheme, secrets }
    }

    /// Checks the signature (and the timestamp, when a tolerance is set).
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) -> Result<(), WebhookError> {
        let s = &self.scheme;
        let header = headers.get(s.header.as_str()).ok_or(WebhookError::Unsigned)?;
        let header = header.to_str().map_err(|_| WebhookError::BadSignature)?.trim();
        let digest = header.strip_prefix(s.prefix.as_str()).ok_or(WebhookError::BadSignature)?;
        let digest = match s.encoding {
            DigestEncoding::Hex => hex::decode(digest).map_err(|_| WebhookError::BadSignature)?,
            DigestEncoding::Base64 => STANDARD.decode(digest).map_err(|_| WebhookError::BadSignature)?,
        };
        let ts = headers.get(s.timestamp_header.as_str()).and_then(|v| v.to_str().ok()).map(str::trim);
        if let Some(tol) = s.tolerance
            && let Some(ts) = ts
        {
            let at = ts
                .parse::<i64>()
                .ok()
                .and_then(|t| DateTime::from_timestamp(t, 0))
                .ok_or(WebhookError::Stale)?;
            if (now - at).abs().to_std().map_or(true, |d| d > tol) {
                return Err(WebhookError::Stale);
            }
        }
        let mut signed = Vec::with_capacity(body.len() + 16);
        if s.signed == SignedString::TimestampDotBody {
            signed.extend_from_slice(ts.ok_or(WebhookError::Stale)?.as_bytes());
            signed.push(b'.');
        }
        signed.extend_from_slice(body);
        for secret in &self.secrets {
            let key = match s.key_mode {
                KeyMode::Raw => secret.expose_secret().as_bytes().to_vec(),
                KeyMode::Base64Decoded => match STANDARD.decode(secret.expose_secret()) {
                    Ok(k) => k,
                    Err(_) => continue,
                },
            };
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("HMAC takes any key length");
            mac.update(&signed);
            if mac.verify_slice(&digest).is_ok() {
                return Ok(());
            }
        }
        Err(WebhookError::BadSignature)
    }

    /// Verifies and reads one delivery for `object`: `Ok(None)` when the event is for another
    /// object or type; `Err` (quarantine, no effect) when unsigned, tampered, stale or unreadable.
    pub fn receive(
        &self,
        object: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<Change>, Quarantined> {
        let event_id = headers.get("x-webhook-event-id").and_then(|v| v.to_str().ok()).map(str::to_string);
        let reject = |e: WebhookError| Quarantined {
            id: event_id.clone(),
            reason: format!("whitelabelcro webhook: {e}"),
            raw: String::from_utf8_lossy(&body[..body.len().min(2000)]).into_owned(),
        };
        self.verify(headers, body, now).map_err(reject)?;
        let obj = Object::parse(object).map_err(|e| reject(WebhookError::Body(e.to_string())))?;
        let v: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| reject(WebhookError::Body(e.to_string())))?;
        let env = Envelope::parse(&v).map_err(|e| reject(WebhookError::Body(e.to_string())))?;
        obj.change_of(&env).map_err(|e| reject(WebhookError::Body(e.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=";
    const BODY: &str = r#"{"id":40001,"type":"lead.created","createdUtc":"2026-02-03T14:05:09Z","companyId":17,"payload":{"client_id":901,"first_name":"Ana","last_name":"Ruiz","email":"ana@example.test"},"metadata":{"source":"web_portal","user_id":8}}"#;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-02-03T14:05:10Z").unwrap().to_utc()
    }

    fn sign(key: &[u8], msg: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(msg);
        hex::encode(mac.finalize().into_bytes())
    }

    fn headers(sig: Option<String>, ts: i64) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(s) = sig {
            h.insert("x-webhook-signature", s.parse().unwrap());
        }
        h.insert("x-webhook-timestamp", ts.to_string().parse().unwrap());
        h.insert("x-webhook-event-id", "40001".parse().unwrap());
        h
    }

    fn verifier() -> WebhookVerifier {
        let old = SecretString::from("an-old-secret-during-rotation-000000000000");
        WebhookVerifier::new(SignatureScheme::default(), vec![old, SecretString::from(SECRET)])
    }

    #[test]
    fn signed_delivery_becomes_a_change() {
        let sig = format!("sha256={}", sign(SECRET.as_bytes(), BODY.as_bytes()));
        let h = headers(Some(sig), now().timestamp());
        let ch = verifier().receive("leads", &h, BODY.as_bytes(), now()).unwrap().unwrap();
        assert_eq!((ch.id.as_str(), ch.event_id.as_deref()), ("901", Some("40001")));
        assert_eq!(verifier().receive("clients", &h, BODY.as_bytes(), now()).unwrap(), None);
    }

    #[test]
    fn unsigned_tampered_or_stale_deliveries_are_quarantined() {
        let v = verifier();
        let good = format!("sha256={}", sign(SECRET.as_bytes(), BODY.as_bytes()));
        let tampered = BODY.replace("Ana", "Eve");
        let q =
            v.receive("leads", &headers(Some(good.clone()), now().timestamp()), tampered.as_bytes(), now());
        let q = q.unwrap_err();
        assert_eq!(q.id.as_deref(), Some("40001"));
        assert!(q.reason.contains("signature does not match"), "{}", q.reason);
        let q = v.receive("leads", &headers(None, now().timestamp()), BODY.as_bytes(), now()).unwrap_err();
        assert!(q.reason.contains("unsigned"));
        let stale = headers(Some(good.clone()), now().timestamp() - 301);
        assert!(v.receive("leads", &stale, BODY.as_bytes(), now()).unwrap_err().reason.contains("timestamp"));
        let wrong_key = format!("sha256={}", sign(b"someone-else", BODY.as_bytes()));
        assert!(
            v.receive("leads", &headers(Some(wrong_key), now().timestamp()), BODY.as_bytes(), now()).is_err()
        );
        let no_prefix = sign(SECRET.as_bytes(), BODY.as_bytes());
        assert!(v.verify(&headers(Some(no_prefix), now().timestamp()), BODY.as_bytes(), now()).is_err());
    }

    #[test]
    fn alternative_schemes_are_configurable() {
        let scheme = SignatureScheme {
            encoding: DigestEncoding::Base64,
            key_mode: KeyMode::Base64Decoded,
            signed: SignedString::TimestampDotBody,
            prefix: String::new(),
            ..SignatureScheme::default()
        };
        let ts = now().timestamp();
        let key = STANDARD.decode(SECRET).unwrap();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
        mac.update(format!("{ts}.{BODY}").as_bytes());
        let sig = STANDARD.encode(mac.finalize().into_bytes());
        let v = WebhookVerifier::new(scheme, vec![SecretString::from(SECRET)]);
        assert_eq!(v.verify(&headers(Some(sig), ts), BODY.as_bytes(), now()), Ok(()));
    }
}
