//! The webhook parts of the settings, read and checked: the WhiteLabelCRO signature scheme
//! (`[systems.NAME.webhook]` of a WhiteLabelCRO system) and a HubSpot receiver's public URL and
//! tolerance. Pure functions over [`crate::settings`], so `settings::validate` reports bad keys
//! without importing the web layer, and the receivers in `serve/` build from the same checks.

use std::time::Duration;

use connector_hubspot::webhook::DEFAULT_TOLERANCE;
use connector_whitelabelcro::webhook::{DigestEncoding, KeyMode, SignatureScheme, SignedString};
use http::{HeaderName, Uri};

use crate::settings::{HubspotWebhookSettings, WlcroSettings};

/// The signature scheme configured for `w`, or every bad key with what is wrong.
pub fn signature_scheme(w: &WlcroSettings) -> Result<SignatureScheme, Vec<(&'static str, String)>> {
    let c = &w.webhook;
    let mut scheme = SignatureScheme::default();
    let mut problems = Vec::new();
    let mut header = |key: &'static str, value: &Option<String>, into: &mut String| {
        if let Some(v) = value {
            match HeaderName::from_bytes(v.trim().as_bytes()) {
                Ok(h) => *into = h.as_str().to_string(),
                Err(_) => problems.push((key, format!("`{v}` is not an HTTP header name"))),
            }
        }
    };
    header("signature_header", &c.signature_header, &mut scheme.header);
    header("timestamp_header", &c.timestamp_header, &mut scheme.timestamp_header);
    if let Some(p) = &c.signature_prefix {
        scheme.prefix = p.clone();
    }
    match c.digest.as_deref() {
        None | Some("hex") => {}
        Some("base64") => scheme.encoding = DigestEncoding::Base64,
        Some(other) => problems.push(("digest", format!("`{other}` is not `hex` or `base64`"))),
    }
    match c.key.as_deref() {
        None | Some("raw") => {}
        Some("base64_decoded") => scheme.key_mode = KeyMode::Base64Decoded,
        Some(other) => problems.push(("key", format!("`{other}` is not `raw` or `base64_decoded`"))),
    }
    match c.signed.as_deref() {
        None | Some("body") => {}
        Some("timestamp.body") => scheme.signed = SignedString::TimestampDotBody,
        Some(other) => problems.push(("signed", format!("`{other}` is not `body` or `timestamp.body`"))),
    }
    if let Some(t) = &c.tolerance {
        match humantime::parse_duration(t) {
            Ok(d) if d.is_zero() => scheme.tolerance = None,
            Ok(d) => scheme.tolerance = Some(d),
            Err(e) => problems.push(("tolerance", format!("`{t}` is not a duration like `5m` or `0s`: {e}"))),
        }
    }
    if problems.is_empty() { Ok(scheme) } else { Err(problems) }
}

/// Checks `[systems.NAME.webhook]` of a HubSpot system; the tolerance it gives, or the bad key
/// and what is wrong.
pub fn check_settings(h: &HubspotWebhookSettings) -> Result<Duration, (&'static str, String)> {
    if let Some(url) = &h.public_url {
        let ok = url.parse::<Uri>().ok().is_some_and(|u| {
            matches!(u.scheme_str(), Some("http" | "https"))
                && u.host().is_some()
                && u.query().is_none()
                && u.path().trim_end_matches('/').is_empty()
        });
        if !ok {
            return Err((
                "public_url",
                format!(
                    "`{url}` is not a base URL like `https://sync.example.com` (scheme and host, no path)"
                ),
            ));
        }
    }
    match &h.tolerance {
        None => Ok(DEFAULT_TOLERANCE),
        Some(t) => match humantime::parse_duration(t) {
            Ok(d) if !d.is_zero() => Ok(d),
            Ok(_) => Err(("tolerance", "must be more than zero (HubSpot always sends a timestamp)".into())),
            Err(e) => Err(("tolerance", format!("`{t}` is not a duration like `5m`: {e}"))),
        },
    }
}
