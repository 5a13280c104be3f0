//! Webhook signature v3 verification (spec §12), for the engine's webhook receiver.
//!
//! `base64(HMAC-SHA256(client_secret, method + uri + raw_body + timestamp))`, compared in constant
//! time, with requests older (or further in the future) than the tolerance rejected. The URI's
//! escapes from the documented set are decoded before hashing, as the request-validation page says.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// HubSpot's own window (the SDKs use 300,000 ms).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Escapes HubSpot decodes in the URI before signing (request-validation page).
const DECODED: &[(&str, &str)] = &[
    ("%3A", ":"),
    ("%2F", "/"),
    ("%3F", "?"),
    ("%40", "@"),
    ("%21", "!"),
    ("%24", "$"),
    ("%27", "'"),
    ("%28", "("),
    ("%29", ")"),
    ("%2A", "*"),
    ("%2C", ","),
    ("%3B", ";"),
];

/// Why a webhook request was rejected. Never carries the secret or the expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// `X-HubSpot-Request-Timestamp` missing or not epoch milliseconds.
    #[error("webhook timestamp header is missing or malformed")]
    BadTimestamp,
    /// The timestamp is outside the tolerance (a stale or replayed request).
    #[error("webhook timestamp is {skew_ms} ms away from now (tolerance {tolerance_ms} ms)")]
    Stale {
        /// Distance from now in ms.
        skew_ms: i64,
        /// The allowed distance.
        tolerance_ms: i64,
    },
    /// `X-HubSpot-Signature-v3` missing or not base64.
    #[error("webhook signature header is missing or malformed")]
    BadSignature,
    /// The signature does not match.
    #[error("webhook signature does not match")]
    Mismatch,
}

/// Verifies a v3-signed webhook request. `uri` is the full URL HubSpot called (scheme, host,
/// path, query), `body` the raw body, `now` the receiver's clock.
#[allow(clippy::too_many_arguments)]
pub fn verify_v3(
    secret: &str,
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), WebhookError> {
    let ts_text = timestamp_header.map(str::trim).ok_or(WebhookError::BadTimestamp)?;
    let ts: i64 = ts_text.parse().map_err(|_| WebhookError::BadTimestamp)?;
    let skew_ms = now.timestamp_millis().saturating_sub(ts).saturating_abs();
    let tolerance_ms = i64::try_from(tolerance.as_millis()).unwrap_or(i64::MAX);
    if skew_ms > tolerance_ms {
        return Err(WebhookError::Stale { skew_ms, tolerance_ms });
    }
    let sig = signature_header.map(str::trim).ok_or(WebhookError::BadSignature)?;
    let expected = STANDARD.decode(sig).map_err(|_| WebhookError::BadSignature)?;
    let mac = mac_for(secret, method, uri, body, ts_text);
    mac.verify_slice(&expected).map_err(|_| WebhookError::Mismatch)
}

/// [`verify_v3`] with several client secrets, for a rotation's overlap: the request passes if
/// any of `secrets` signed it. The timestamp is checked once, before any signature; an empty
/// list rejects everything ([`WebhookError::Mismatch`]).
#[allow(clippy::too_many_arguments)]
pub fn verify_v3_any(
    secrets: &[&str],
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), WebhookError> {
    let mut last = Err(WebhookError::Mismatch);
    for secret in secrets {
        last = verify_v3(secret, method, uri, body, timestamp_header, signature_header, now, tolerance);
        match last {
            Err(WebhookError::Mismatch) => continue,
            other => return other,
        }
    }
    last
}

/// The v3 signature of a request, base64 (for tests and for signing outbound test deliveries).
pub fn sign_v3(secret: &str, method: &str, uri: &str, body: &[u8], timestamp_ms: i64) -> String {
    let mac = mac_for(secret, method, uri, body, &timestamp_ms.to_string());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn mac_for(secret: &str, method: &str, uri: &str, body: &[u8], ts: &str) -> Hmac<Sha256> {
    let mut uri = uri.to_string();
    for (from, to) in DECODED {
        uri = uri.replace(from, to).replace(&from.to_lowercase(), to);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac takes any key length");
    mac.update(method.as_bytes());
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(ts.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).expect("valid")
    }

    #[test]
    fn accepts_own_signature_and_rejects_tampering() {
        let ts = 1_767_225_600_000;
        let sig = sign_v3("s", "POST", "https://x.test/hook?a=1", b"[]", ts);
        let ok = |secret: &str, body: &[u8], now: i64| {
            verify_v3(
                secret,
                "POST",
                "https://x.test/hook?a=1",
                body,
                Some(&ts.to_string()),
                Some(&sig),
                at(now),
                DEFAULT_TOLERANCE,
            )
        };
        assert_eq!(ok("s", b"[]", ts + 1000), Ok(()));
        assert_eq!(ok("s", b"[ ]", ts), Err(WebhookError::Mismatch));
        assert_eq!(ok("t", b"[]", ts), Err(WebhookError::Mismatch));
        assert!(matches!(ok("s", b"[]", ts + 300_001), Err(WebhookError::Stale { .. })));
        let missing = verify_v3("s", "POST", "u", b"", None, Some(&sig), at(ts), DEFAULT_TOLERANCE);
        assert_eq!(missing, Err(WebhookError::BadTimestamp));
    }
}
