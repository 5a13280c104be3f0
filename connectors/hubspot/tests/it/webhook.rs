//! Webhook signature v3 agrees with the simulator's signer and rejects tampering.

use std::time::Duration;

use chrono::DateTime;
use connector_hubspot::{DEFAULT_TOLERANCE, WebhookError, verify_v3};

#[test]
fn verify_v3_agrees_with_the_simulator_signer() {
    let ts: i64 = 1_772_445_600_123;
    let now = DateTime::from_timestamp_millis(ts + 60_000).unwrap();
    let cases = [
        (
            "POST",
            "https://hooks.example.test/hubspot",
            r#"[{"eventId":1,"subscriptionType":"contact.creation"}]"#,
        ),
        ("POST", "https://hooks.example.test/hubspot?portal=42&x=%3A%2F", "[]"),
        ("GET", "https://hooks.example.test/h?a=b", ""),
    ];
    for (method, uri, body) in cases {
        let sig = sim_hubspot::sign_v3("app-secret", method, uri, body, ts);
        let check = |secret: &str, body: &str, sig: &str, now| {
            verify_v3(
                secret,
                method,
                uri,
                body.as_bytes(),
                Some(&ts.to_string()),
                Some(sig),
                now,
                DEFAULT_TOLERANCE,
            )
        };
        assert_eq!(check("app-secret", body, &sig, now), Ok(()), "{uri}");
        assert_eq!(check("wrong-secret", body, &sig, now), Err(WebhookError::Mismatch));
        let mut flipped = body.as_bytes().to_vec();
        flipped.push(b' ');
        assert_eq!(
            check("app-secret", std::str::from_utf8(&flipped).unwrap(), &sig, now),
            Err(WebhookError::Mismatch)
        );
        let bad_sig = base64_flip(&sig);
        assert_eq!(check("app-secret", body, &bad_sig, now), Err(WebhookError::Mismatch));
        let stale = now + chrono::Duration::from_std(Duration::from_secs(300)).unwrap();
        assert!(matches!(check("app-secret", body, &sig, stale), Err(WebhookError::Stale { .. })));
    }
}

/// Flips one bit of the decoded signature and re-encodes it.
fn base64_flip(sig: &str) -> String {
    use base64::Engine;
    let mut raw = base64::engine::general_purpose::STANDARD.decode(sig).unwrap();
    raw[0] ^= 1;
    base64::engine::general_purpose::STANDARD.encode(raw)
}
