//! Turning an HTTP response into a [`ConnectorError`]: status first, then what a JSON error
//! body of any of the three vendors offers (code, field, policy), never its field values.
//!
//! Shapes understood (every part optional): WhiteLabelCRO `{"error":{"code","details":{..}}}`,
//! ASP.NET `{"title","errors":{field:[..]}}`, HubSpot `{"category","policyName","errors":[{"code",
//! "context":{"propertyName":[..]}}]}`, Salesforce `[{"errorCode","fields":[..]}]`. Vendor
//! messages are not copied: they often quote the rejected value (an email, a phone).

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::names;
use crate::error::ConnectorError;

/// What the client could read from an error body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The vendor's error code (`validation_failed`, `VALIDATION_ERROR`, `INVALID_FIELD`).
    pub code: Option<String>,
    /// The first field the error names.
    pub field: Option<String>,
    /// Every field or property name the error names, `field` first (names only, never values).
    pub fields: Vec<String>,
    /// Finer codes the error gives besides `code` (HubSpot's per-property `INVALID_OPTION`,
    /// `PROPERTY_DOESNT_EXIST`; further Salesforce rows' codes).
    pub detail_codes: Vec<String>,
    /// HubSpot's `policyName` on a 429 (`DAILY`, `TEN_SECONDLY_ROLLING`), or the bucket a
    /// WhiteLabelCRO 429 names in `details.bucket`.
    pub policy: Option<String>,
    /// The scope a 403 says is missing, when it says.
    pub scope: Option<String>,
    /// Salesforce's `REQUEST_LIMIT_EXCEEDED` names the limit in its message; this keeps only
    /// whether it is the concurrency limit (retryable) rather than the daily total.
    pub concurrent_limit: bool,
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

impl ErrorInfo {
    /// Reads what it can from a body; anything unreadable leaves fields empty.
    pub fn parse(body: &[u8]) -> Self {
        serde_json::from_slice::<Value>(body).map(|v| Self::from_value(&v)).unwrap_or_default()
    }

    /// Reads what it can from an error value: a whole body, or one item of a batch answer
    /// (a HubSpot 207 `errors[]` entry, a Salesforce collections row's `errors`).
    pub fn from_value(v: &Value) -> Self {
        let mut info = if let Some(rows) = v.as_array() {
            Self::salesforce(rows)
        } else if let Some(err) = v.get("error").filter(|e| e.is_object()) {
            Self::wlcro(err)
        } else {
            Self::hubspot_or_problem(v)
        };
        info.field = info.fields.first().cloned();
        info
    }

    /// `[{"errorCode" | "statusCode", "message", "fields": [..]}]`: codes and fields of every row.
    fn salesforce(rows: &[Value]) -> Self {
        let mut info = Self::default();
        for row in rows {
            let code = text(row.get("errorCode")).or_else(|| text(row.get("statusCode")));
            let msg = row.get("message").and_then(Value::as_str).unwrap_or_default();
            names::push_names(&mut info.fields, row.get("fields"));
            if code.as_deref() == Some("INVALID_FIELD")
                && let Some(column) = names::salesforce_no_such_column(msg)
            {
                names::push_name(&mut info.fields, &column);
            }
            match (&info.code, code) {
                (None, c) => {
                    info.code = c;
                    info.concurrent_limit = msg.contains("ConcurrentRequests");
                }
                (Some(first), Some(c)) if *first != c && !info.detail_codes.contains(&c) => {
                    info.detail_codes.push(c)
                }
                _ => {}
            }
        }
        info
    }

    /// WhiteLabelCRO §8 (the simulator's choice of shape): `{"error":{"code","details":{
    /// "parameter" | "fields": {name: reason} | "required_scope" | "bucket"}}}`.
    fn wlcro(err: &Value) -> Self {
        let details = err.get("details");
        let mut info = Self {
            code: text(err.get("code")),
            scope: text(details.and_then(|d| d.get("required_scope"))),
            policy: text(details.and_then(|d| d.get("bucket"))),
            ..Self::default()
        };
        names::push_names(&mut info.fields, details.and_then(|d| d.get("parameter")));
        push_keys(&mut info.fields, details.and_then(|d| d.get("fields")));
        info
    }

    /// HubSpot (spec §11: `category`, `message`, `context.propertyName`, `errors[]` with `code`,
    /// `message`, `context.propertyName`, and names inside the invalid-property message) or
    /// ASP.NET problem details (`errors: {field: [..]}`).
    fn hubspot_or_problem(v: &Value) -> Self {
        let mut info = Self {
            code: text(v.get("category"))
                .or_else(|| text(v.pointer("/errors/0/code")))
                .or_else(|| text(v.get("code"))),
            policy: text(v.get("policyName")),
            ..Self::default()
        };
        info.read_hubspot_part(v);
        for detail in v.get("errors").and_then(Value::as_array).into_iter().flatten() {
            info.read_hubspot_part(detail);
            info.push_detail_code(text(detail.get("code")));
        }
        push_keys(&mut info.fields, v.get("errors").filter(|e| e.is_object()));
        info
    }

    /// The names one HubSpot error (the body or an `errors[]` detail) gives: its
    /// `context.propertyName`, and the properties (with their codes) its message lists.
    fn read_hubspot_part(&mut self, part: &Value) {
        names::push_names(&mut self.fields, part.pointer("/context/propertyName"));
        let msg = part.get("message").and_then(Value::as_str).unwrap_or_default();
        for (name, code) in names::hubspot_message_properties(msg) {
            names::push_name(&mut self.fields, &name);
            self.push_detail_code(code);
        }
    }

    fn push_detail_code(&mut self, code: Option<String>) {
        if let Some(c) = code.filter(|c| names::is_code(c))
            && self.code.as_ref() != Some(&c)
            && !self.detail_codes.contains(&c)
        {
            self.detail_codes.push(c);
        }
    }

    /// What the error named, for a message: `"; fields: a, b; details: X"`, or nothing.
    /// Names and codes only (they passed [`names::is_field_name`]), never values.
    pub fn named(&self) -> String {
        let mut out = String::new();
        if !self.fields.is_empty() {
            out.push_str(&format!("; fields: {}", self.fields.join(", ")));
        }
        if !self.detail_codes.is_empty() {
            out.push_str(&format!("; details: {}", self.detail_codes.join(", ")));
        }
        out
    }

    /// A permanent rejection: `message` followed by what the error named, its code, and the
    /// first field it named.
    pub fn invalid(&self, message: &str) -> ConnectorError {
        ConnectorError::Invalid {
            message: format!("{message}{}", self.named()),
            code: self.code.clone(),
            field: self.field.clone(),
        }
    }
}

/// Appends the keys of an object that are names.
fn push_keys(out: &mut Vec<String>, v: Option<&Value>) {
    for key in v.and_then(Value::as_object).into_iter().flat_map(|m| m.keys()) {
        names::push_name(out, key);
    }
}

/// The delay a `Retry-After` header asks for, at `now`: delta-seconds or an HTTP-date (a date
/// in the past means "now").
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let raw = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(raw).ok()?;
    Some(at.duration_since(SystemTime::from(now)).unwrap_or_default())
}

/// `X-RateLimit-Reset` (Unix seconds) as a delay from `now`: WhiteLabelCRO's fallback when a
/// 429 carries no `Retry-After`.
fn reset_delay(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let reset = headers.get("x-ratelimit-reset")?.to_str().ok()?.trim().parse::<i64>().ok()?;
    (DateTime::from_timestamp(reset, 0)? - now).to_std().ok()
}

/// Classifies a response that is not a success. `what` names the request for messages
/// (method and redacted URL). Only statuses, codes, field names and scopes reach the message.
pub fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
    what: &str,
) -> ConnectorError {
    let info = ErrorInfo::parse(body);
    let code = info.code.clone();
    let label = match &code {
        Some(c) => format!("{what}: HTTP {} {c}", status.as_u16()),
        None => format!("{what}: HTTP {}", status.as_u16()),
    };
    // The names the error gave ride along on permanent rejections only.
    let named = format!("{label}{}", info.named());
    let wait = retry_after(headers, now);
    let code_is = |c: &str| code.as_deref() == Some(c);
    match status.as_u16() {
        401 => ConnectorError::Auth { message: label },
        403 if code_is("REQUEST_LIMIT_EXCEEDED") && info.concurrent_limit => {
            ConnectorError::Throttled { retry_after: wait, bucket: Some("concurrent".into()) }
        }
        403 if code_is("REQUEST_LIMIT_EXCEEDED") => {
            ConnectorError::QuotaExhausted { message: label, resets_at: None }
        }
        403 if code.as_deref().is_some_and(|c| c.starts_with("INSUFFICIENT_ACCESS")) => {
            // Salesforce record-level sharing: this record, not the credentials.
            ConnectorError::Invalid { message: named, code, field: info.field }
        }
        403 => {
            let message = match info.scope {
                Some(scope) => format!("{label} (missing scope {scope})"),
                None => label,
            };
            ConnectorError::Auth { message }
        }
        404 => ConnectorError::NotFound { message: label },
        300 | 409 => ConnectorError::Conflict { message: label },
        423 => {
            ConnectorError::Transient { message: label, retry_after: wait.or(Some(Duration::from_secs(2))) }
        }
        429 if info.policy.as_deref() == Some("DAILY") => {
            let resets_at = wait.and_then(|w| chrono::Duration::from_std(w).ok()).map(|w| now + w);
            ConnectorError::QuotaExhausted { message: label, resets_at }
        }
        429 => ConnectorError::Throttled {
            retry_after: wait.or_else(|| reset_delay(headers, now)),
            bucket: info.policy.map(|p| p.to_ascii_lowercase()),
        },
        400 if code_is("UNABLE_TO_LOCK_ROW") => {
            ConnectorError::Transient { message: label, retry_after: wait }
        }
        400..=499 if code_is("ENTITY_IS_DELETED") => ConnectorError::NotFound { message: label },
        400 if code_is("DUPLICATE_VALUE") => ConnectorError::Conflict { message: label },
        408 | 477 | 500..=599 => ConnectorError::Transient { message: label, retry_after: wait },
        400..=499 => ConnectorError::Invalid { message: named, code, field: info.field },
        _ => ConnectorError::Protocol { message: format!("{label}: unexpected status") },
    }
}

/// A connector's refinement of the default classification, for vendor codes the default does
/// not know. Installed once per client with
/// [`HttpClient::with_classifier`](super::HttpClient::with_classifier).
pub trait ResponseClassifier: Send + Sync {
    /// Returns a different class for this response, or `None` to keep `default`.
    fn refine(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        default: &ConnectorError,
    ) -> Option<ConnectorError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use http::HeaderName;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc()
    }

    fn run(status: u16, headers: &[(&str, &str)], body: &str) -> ConnectorError {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        classify(StatusCode::from_u16(status).unwrap(), &h, body.as_bytes(), now(), "POST /x")
    }

    #[test]
    fn classification_table() {
        use ErrorClass::*;
        let sf_total =
            r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        let sf_conc = r#"[{"message":"ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
            "errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        let hs_daily = r#"{"status":"error","message":"You have reached your daily limit.",
            "errorType":"RATE_LIMIT","policyName":"DAILY"}"#;
        let hs_burst = r#"{"status":"error","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}"#;
        let wl_scope = r#"{"error":{"code":"insufficient_scope","message":"m","details":{"required_scope":"clients:write"}}}"#;
        let cases: &[(u16, &str, ErrorClass)] = &[
            (401, "", Auth),
            (401, r#"[{"errorCode":"INVALID_SESSION_ID","message":"Session expired"}]"#, Auth),
            (403, wl_scope, Auth),
            (403, r#"{"category":"MISSING_SCOPES"}"#, Auth),
            (403, sf_total, QuotaExhausted),
            (403, sf_conc, Throttled),
            (403, r#"[{"errorCode":"INSUFFICIENT_ACCESS_OR_READONLY","message":"m"}]"#, Invalid),
            (404, "", NotFound),
            (409, "", Conflict),
            (300, "", Conflict),
            (400, "not json at all", Invalid),
            (422, "", Invalid),
            (400, r#"[{"errorCode":"UNABLE_TO_LOCK_ROW","message":"m"}]"#, Transient),
            (400, r#"[{"errorCode":"ENTITY_IS_DELETED","message":"m"}]"#, NotFound),
            (429, hs_daily, QuotaExhausted),
            (429, hs_burst, Throttled),
            (429, "", Throttled),
            (423, "", Transient),
            (500, "", Transient),
            (502, "", Transient),
            (503, "", Transient),
            (504, "", Transient),
            (524, "", Transient),
            (408, "", Transient),
        ];
        for (status, body, class) in cases {
            let got = run(*status, &[], body);
            assert_eq!(got.class(), *class, "{status} {body} → {got:?}");
        }
    }

    #[test]
    fn invalid_carries_code_and_field_but_not_values() {
        let body = r#"{"status":"error","message":"Property values were not valid: jane@example.com",
            "category":"VALIDATION_ERROR","errors":[{"code":"INVALID_EMAIL","message":"jane@example.com is bad",
            "context":{"propertyName":["email"]}}]}"#;
        let e = run(400, &[], body);
        let ConnectorError::Invalid { message, code, field } = &e else { panic!("{e:?}") };
        assert_eq!(code.as_deref(), Some("VALIDATION_ERROR"));
        assert_eq!(field.as_deref(), Some("email"));
        assert!(!message.contains("jane"), "{message}");

        let sf = r#"[{"message":"Email: invalid email address: bob@x","errorCode":"INVALID_EMAIL_ADDRESS","fields":["Email"]}]"#;
        let e = run(400, &[], sf);
        assert!(matches!(&e, ConnectorError::Invalid { field: Some(f), code: Some(c), .. }
            if f == "Email" && c == "INVALID_EMAIL_ADDRESS"));
        assert!(!e.to_string().contains("bob@x"));

        let wl =
            r#"{"error":{"code":"validation_failed","details":{"fields":{"email":"'a@b' is not valid"}}}}"#;
        let e = run(422, &[], wl);
        assert!(matches!(&e, ConnectorError::Invalid { field: Some(f), .. } if f == "email"));
        assert!(!e.to_string().contains("a@b"));
    }

    /// Several names: the first in `field`, all of them (and only names) in the message.
    #[test]
    fn every_named_field_reaches_the_message_and_no_value_does() {
        // HubSpot's documented invalid-property message (JSON inside a string), two properties.
        let hs = r#"{"status":"error","category":"VALIDATION_ERROR","correlationId":"c",
            "message":"Property values were not valid: [{\"isValid\":false,\"message\":\"ann@x.test is not a valid email\",\"error\":\"INVALID_EMAIL\",\"name\":\"email\"},{\"isValid\":false,\"message\":\"Lead was not one of the allowed options\",\"error\":\"INVALID_OPTION\",\"name\":\"lifecyclestage\"}]"}"#;
        let e = run(400, &[], hs);
        let ConnectorError::Invalid { message, code, field } = &e else { panic!("{e:?}") };
        assert_eq!((code.as_deref(), field.as_deref()), (Some("VALIDATION_ERROR"), Some("email")));
        assert!(message.contains("fields: email, lifecyclestage"), "{message}");
        assert!(message.contains("INVALID_OPTION"), "{message}");
        assert!(!message.contains("ann@x.test") && !message.contains("Lead was"), "{message}");

        // HubSpot `errors[]` naming properties in context.
        let hs = r#"{"category":"VALIDATION_ERROR","errors":[{"code":"PROPERTY_DOESNT_EXIST","message":"m",
            "context":{"propertyName":["shoe_size"]}},{"code":"INVALID_INTEGER","context":{"propertyName":["age"]}}]}"#;
        let info = ErrorInfo::parse(hs.as_bytes());
        assert_eq!(info.fields, vec!["shoe_size", "age"]);
        assert_eq!(info.detail_codes, vec!["PROPERTY_DOESNT_EXIST", "INVALID_INTEGER"]);

        // Salesforce: `fields` of the row, and the column an INVALID_FIELD names in its message.
        let sf = r#"[{"message":"Required fields are missing: [LastName, Company]","errorCode":"REQUIRED_FIELD_MISSING","fields":["LastName","Company"]}]"#;
        let e = run(400, &[], sf);
        assert!(matches!(&e, ConnectorError::Invalid { field: Some(f), code: Some(c), message }
            if f == "LastName" && c == "REQUIRED_FIELD_MISSING" && message.contains("fields: LastName, Company")));
        let sf = r#"[{"message":"No such column 'Shoe__c' on sobject of type Contact","errorCode":"INVALID_FIELD"}]"#;
        assert!(
            matches!(run(400, &[], sf), ConnectorError::Invalid { field: Some(f), .. } if f == "Shoe__c")
        );

        // WhiteLabelCRO §8: every key of details.fields, never the reasons (which quote values).
        let wl = r#"{"error":{"code":"validation_failed","message":"m","details":{"fields":{"email":"'a@b' is taken","zip":"'9' is short"}}}}"#;
        let e = run(422, &[], wl);
        let ConnectorError::Invalid { message, field, .. } = &e else { panic!("{e:?}") };
        assert_eq!(field.as_deref(), Some("email"));
        assert!(message.contains("fields: email, zip"), "{message}");
        assert!(!message.contains("a@b") && !message.contains("'9'"), "{message}");

        // A "field" that is a value (an email in a fields list) never passes for a name.
        let odd = r#"[{"errorCode":"INVALID_EMAIL_ADDRESS","fields":["bob@x.test"]}]"#;
        let e = run(400, &[], odd);
        assert!(matches!(&e, ConnectorError::Invalid { field: None, .. }), "{e:?}");
        assert!(!e.to_string().contains("bob@x.test"));
    }

    #[test]
    fn throttle_delays_from_retry_after_or_reset() {
        let e = run(
            429,
            &[("retry-after", "7")],
            r#"{"error":{"code":"rate_limited","details":{"bucket":"read"}}}"#,
        );
        assert_eq!(
            e,
            ConnectorError::Throttled {
                retry_after: Some(Duration::from_secs(7)),
                bucket: Some("read".into())
            }
        );
        let reset = (now().timestamp() + 12).to_string();
        let e = run(429, &[("x-ratelimit-reset", &reset)], "");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(12)));
        let e = run(429, &[("retry-after", "Thu, 01 Jan 2026 00:00:30 GMT")], "");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
        let e = run(503, &[("retry-after", "Wed, 31 Dec 2025 00:00:00 GMT")], "");
        assert_eq!(e.retry_after(), Some(Duration::ZERO), "a date in the past means now");
    }
}
