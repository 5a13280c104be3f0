//! Secret redaction: scrubs known secrets, and their base64 and hex encodings, from text that
//! leaves the HTTP client (error messages, logged URLs).
//!
//! Secrets change at run time (an OAuth token is refreshed), so the set sits behind a lock and
//! connectors add to it with [`Redactor::add_secret`].

use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use crate::error::ConnectorError;

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Secrets shorter than this are not scrubbed: replacing every `ab` in a message would destroy
/// it and protect nothing (such a "secret" is guessable anyway).
const MIN_SECRET_LEN: usize = 6;

/// Knows the secrets in use and removes them from strings. Cheap to clone (shared set).
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    forms: Arc<RwLock<Vec<String>>>,
}

impl Redactor {
    /// A redactor for the given secrets.
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let r = Self::default();
        for s in secrets {
            r.add_secret(s.as_ref());
        }
        r
    }

    /// Adds a secret (and its encoded forms) to the set.
    pub fn add_secret(&self, secret: &str) {
        if secret.len() < MIN_SECRET_LEN {
            return;
        }
        let bytes = secret.as_bytes();
        let mut new = vec![
            secret.to_string(),
            STANDARD.encode(bytes),
            STANDARD_NO_PAD.encode(bytes),
            URL_SAFE.encode(bytes),
            URL_SAFE_NO_PAD.encode(bytes),
            hex::encode(bytes),
            hex::encode_upper(bytes),
        ];
        let mut forms = self.forms.write().expect("redactor lock");
        new.retain(|f| !forms.contains(f));
        new.dedup();
        forms.extend(new);
        // Longest first, so a form that contains another is replaced whole.
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    }

    /// Adds the base64 of `user:password` as used by HTTP Basic auth, which the plain forms of
    /// either part do not match.
    pub fn add_basic_auth(&self, user: &str, password: &str) {
        self.add_secret(password);
        let pair = format!("{user}:{password}");
        self.add_secret(&pair);
    }

    /// `text` with every known secret form replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let forms = self.forms.read().expect("redactor lock");
        let mut out = text.to_string();
        for f in forms.iter() {
            if out.contains(f.as_str()) {
                out = out.replace(f.as_str(), REDACTED);
            }
        }
        out
    }

    /// The error with every message scrubbed.
    pub fn redact_error(&self, err: ConnectorError) -> ConnectorError {
        use ConnectorError as E;
        match err {
            E::Transient { message, retry_after } => {
                E::Transient { message: self.redact(&message), retry_after }
            }
            E::Throttled { retry_after, bucket } => E::Throttled { retry_after, bucket },
            E::QuotaExhausted { message, resets_at } => {
                E::QuotaExhausted { message: self.redact(&message), resets_at }
            }
            E::Auth { message } => E::Auth { message: self.redact(&message) },
            E::Invalid { message, code, field } => E::Invalid {
                message: self.redact(&message),
                code: code.map(|c| self.redact(&c)),
                field: field.map(|f| self.redact(&f)),
            },
            E::NotFound { message } => E::NotFound { message: self.redact(&message) },
            E::Conflict { message } => E::Conflict { message: self.redact(&message) },
            E::Protocol { message } => E::Protocol { message: self.redact(&message) },
            E::Misconfigured { message } => E::Misconfigured { message: self.redact(&message) },
            E::NoProgress { message } => E::NoProgress { message: self.redact(&message) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_plain_base64_and_hex_forms() {
        let r = Redactor::new(["s3cr3t-token-value"]);
        let b64 = STANDARD.encode("s3cr3t-token-value");
        let hx = hex::encode("s3cr3t-token-value");
        let msg = format!("bad key s3cr3t-token-value / {b64} / {hx}");
        let out = r.redact(&msg);
        assert!(!out.contains("s3cr3t"), "{out}");
        assert!(!out.contains(&b64), "{out}");
        assert!(!out.contains(&hx), "{out}");
        assert_eq!(out.matches(REDACTED).count(), 3);
    }

    #[test]
    fn scrubs_basic_auth_pair_and_keeps_other_text() {
        let r = Redactor::default();
        r.add_basic_auth("apiuser", "hunter2hunter2");
        let header = STANDARD.encode("apiuser:hunter2hunter2");
        assert_eq!(r.redact(&format!("Basic {header} failed")), format!("Basic {REDACTED} failed"));
        assert_eq!(r.redact("nothing secret here"), "nothing secret here");
    }

    #[test]
    fn short_secrets_are_ignored() {
        let r = Redactor::new(["ab"]);
        assert_eq!(r.redact("abcabc"), "abcabc");
    }

    #[test]
    fn redacts_every_message_field_of_an_error() {
        let r = Redactor::new(["tok_ABCDEFGH"]);
        let e = r.redact_error(ConnectorError::Invalid {
            message: "token tok_ABCDEFGH rejected".into(),
            code: Some("x".into()),
            field: None,
        });
        assert!(!e.to_string().contains("tok_ABCDEFGH"));
    }
}
