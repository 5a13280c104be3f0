//! WhiteLabelCRO wire formats, written from `specs/whitelabelcro-api.md` (never from the
//! simulator): the event envelope, the events and search response shapes, action responses and
//! timestamps. Lenient where the spec says so (bare array or wrapper, `Z` or `+00:00`, fractional
//! seconds, missing optional fields); strict for ids (JSON integers only).

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Why a piece of a response could not be read. Messages name fields, never their values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The body is not JSON, or not one of the accepted shapes.
    #[error("unreadable body: {0}")]
    Body(String),
    /// A required field is missing or has the wrong type.
    #[error("field `{0}` is missing or not of the expected type")]
    Field(&'static str),
    /// A timestamp is not RFC 3339 (UTC).
    #[error("field `{0}` is not an RFC 3339 timestamp")]
    Time(&'static str),
}

/// Parses an RFC 3339 timestamp: `Z` or any offset, optional fractional seconds; a timestamp
/// without a zone is taken as UTC (lenient, §2.1).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.to_utc());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|n| n.and_utc())
}

/// A strict integer id: a JSON integer, nothing else (no strings, no floats).
pub fn strict_id(v: Option<&Value>) -> Option<i64> {
    v.filter(|v| v.is_i64() || v.is_u64()).and_then(Value::as_i64)
}

/// The pieces of an events response body: accepts `{"events": [...]}`, `{"data": [...]}` or a
/// bare array (§3). Items stay raw so one bad event does not spoil the page.
pub fn event_items(body: &[u8]) -> Result<Vec<Value>, WireError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| WireError::Body(e.to_string()))?;
    list_under(v, &["events", "data"]).ok_or_else(|| WireError::Body("no event list".into()))
}

/// The records of a search response: an array, a bare object, or `{"results": [...]}` (§6).
pub fn search_items(body: &[u8]) -> Result<Vec<Value>, WireError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| WireError::Body(e.to_string()))?;
    if let Some(items) = list_under(v.clone(), &["results", "clients", "leads", "data"]) {
        return Ok(items);
    }
    match v {
        Value::Object(ref m) if m.contains_key("client_id") => Ok(vec![v]),
        Value::Object(_) | Value::Null => Ok(Vec::new()),
        _ => Err(WireError::Body("not a search result".into())),
    }
}

fn list_under(v: Value, keys: &[&str]) -> Option<Vec<Value>> {
    match v {
        Value::Array(items) => Some(items),
        Value::Object(mut m) => keys.iter().find_map(|k| match m.remove(*k) {
            Some(Value::Array(items)) => Some(items),
            _ => None,
        }),
        _ => None,
    }
}

/// One event envelope (§2.1). Only `id`, `type`, `createdUtc` and `payload` are required.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The event id (long integer), the de-duplication key.
    pub id: i64,
    /// The event type, lowercased.
    pub kind: String,
    /// When the event was written.
    pub created: DateTime<Utc>,
    /// The type-specific payload.
    pub payload: Map<String, Value>,
}

impl Envelope {
    /// Reads an envelope from one raw feed item.
    pub fn parse(v: &Value) -> Result<Self, WireError> {
        let id = strict_id(v.get("id")).ok_or(WireError::Field("id"))?;
        let kind = v.get("type").and_then(Value::as_str).ok_or(WireError::Field("type"))?;
        // Zapier's flattened `created_utc` is not the API, but costs nothing to accept.
        let created = v.get("createdUtc").or_else(|| v.get("created_utc"));
        let created = created.and_then(Value::as_str).ok_or(WireError::Field("createdUtc"))?;
        let created = parse_time(created).ok_or(WireError::Time("createdUtc"))?;
        let payload = match v.get("payload") {
            Some(Value::Object(m)) => m.clone(),
            _ => return Err(WireError::Field("payload")),
        };
        Ok(Self { id, kind: kind.trim().to_ascii_lowercase(), created, payload })
    }

    /// The payload's `client_id`, strictly an integer.
    pub fn client_id(&self) -> Result<i64, WireError> {
        strict_id(self.payload.get("client_id")).ok_or(WireError::Field("client_id"))
    }

    /// The new status name of a `client.status_changed` event.
    pub fn new_status(&self) -> Result<String, WireError> {
        let s = self.payload.get("new_status").and_then(Value::as_str).map(str::trim);
        s.filter(|s| !s.is_empty()).map(str::to_string).ok_or(WireError::Field("new_status"))
    }
}

/// True when a status name is a lead status (the `'Lead%'` pattern, §9).
pub fn is_lead_status(name: &str) -> bool {
    name.trim().get(..4).is_some_and(|p| p.eq_ignore_ascii_case("lead"))
}

/// The answer of Create Lead / Create Client (§5).
#[derive(Debug, Clone, Deserialize)]
pub struct CreateResponse {
    /// The new (or, on an `external_id` replay, the existing) record's id.
    pub client_id: Value,
    /// When it was created.
    #[serde(default)]
    pub created_utc: Option<String>,
}

/// The answer of the update and status actions (§5); every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UpdateResponse {
    /// When the record was updated.
    #[serde(default)]
    pub updated_utc: Option<String>,
}

/// Search response fields that are not record fields (ids, derived names, timestamps).
const NOT_FIELDS: &[&str] = &["client_id", "created_utc", "updated_utc", "full_name", "status_name"];

/// One search hit, read.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The record's `client_id`.
    pub id: i64,
    /// Its record fields (ids, derived names and timestamps left out).
    pub fields: Map<String, Value>,
    /// `created_utc`, when sent.
    pub created: Option<DateTime<Utc>>,
    /// `updated_utc`, when sent (the spec's field list has none).
    pub updated: Option<DateTime<Utc>>,
}

/// Reads a search hit. `status` falls back to `status_name` (the spec says they are the same).
pub fn search_record(v: &Value) -> Result<SearchHit, WireError> {
    let id = strict_id(v.get("client_id")).ok_or(WireError::Field("client_id"))?;
    let obj = v.as_object().ok_or(WireError::Field("client_id"))?;
    let mut fields: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| !NOT_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !fields.get("status").is_some_and(Value::is_string)
        && let Some(name) = obj.get("status_name").filter(|v| v.is_string())
    {
        fields.insert("status".into(), name.clone());
    }
    let time = |k: &str| obj.get(k).and_then(Value::as_str).and_then(parse_time);
    Ok(SearchHit { id, fields, created: time("created_utc"), updated: time("updated_utc") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn timestamps_are_read_leniently() {
        let want = t("2026-02-03T14:05:09Z");
        assert_eq!(parse_time("2026-02-03T14:05:09Z"), Some(want));
        assert_eq!(parse_time("2026-02-03T14:05:09+00:00"), Some(want));
        assert_eq!(parse_time("2026-02-03T15:05:09+01:00"), Some(want));
        assert_eq!(parse_time("2026-02-03T14:05:09"), Some(want));
        let frac = parse_time("2026-02-03T14:05:09.250Z").unwrap();
        assert_eq!(frac - want, chrono::Duration::milliseconds(250));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2026-02-03"), None);
    }

    #[test]
    fn events_body_accepts_wrapper_data_or_bare_array() {
        let e = json!({"id": 1, "type": "lead.created", "createdUtc": "2026-02-03T14:05:09Z", "payload": {}});
        for body in [json!({"events": [e], "count": 1}), json!({"data": [e]}), json!([e])] {
            let items = event_items(body.to_string().as_bytes()).unwrap();
            assert_eq!(items.len(), 1, "{body}");
        }
        assert!(event_items(b"{\"count\": 0}").is_err());
        assert!(event_items(b"<html>").is_err());
    }

    #[test]
    fn spec_example_envelope_parses_and_missing_optionals_are_fine() {
        let v = json!({
            "id": 40001, "type": "lead.created", "createdUtc": "2026-02-03T14:05:09Z", "companyId": 17,
            "payload": {"client_id": 901, "first_name": "Ana", "last_name": "Ruiz", "email": "ana@example.test"},
            "metadata": {"source": "web_portal", "user_id": 8}
        });
        let e = Envelope::parse(&v).unwrap();
        assert_eq!((e.id, e.kind.as_str(), e.client_id().unwrap()), (40001, "lead.created", 901));
        assert_eq!(e.created, t("2026-02-03T14:05:09Z"));
        // No companyId, no metadata, upper-case type, offset timestamp.
        let v = json!({"id": 2, "type": "Client.Status_Changed", "createdUtc": "2026-02-03T14:05:09.5+00:00",
            "payload": {"client_id": 3, "new_status": " Active Client "}});
        let e = Envelope::parse(&v).unwrap();
        assert_eq!(e.kind, "client.status_changed");
        assert_eq!(e.new_status().unwrap(), "Active Client");
    }

    #[test]
    fn ids_are_strict() {
        let base = |id: Value, cid: Value| {
            json!({"id": id, "type": "lead.created", "createdUtc": "2026-02-03T14:05:09Z",
                "payload": {"client_id": cid}})
        };
        assert_eq!(Envelope::parse(&base(json!("40001"), json!(1))), Err(WireError::Field("id")));
        assert_eq!(Envelope::parse(&base(json!(1.5), json!(1))), Err(WireError::Field("id")));
        let e = Envelope::parse(&base(json!(7), json!("901"))).unwrap();
        assert_eq!(e.client_id(), Err(WireError::Field("client_id")));
        let no_time = json!({"id": 1, "type": "lead.created", "payload": {}});
        assert_eq!(Envelope::parse(&no_time), Err(WireError::Field("createdUtc")));
        let bad_time = json!({"id": 1, "type": "lead.created", "createdUtc": "soon", "payload": {}});
        assert_eq!(Envelope::parse(&bad_time), Err(WireError::Time("createdUtc")));
        let no_payload = json!({"id": 1, "type": "lead.created", "createdUtc": "2026-02-03T14:05:09Z"});
        assert_eq!(Envelope::parse(&no_payload), Err(WireError::Field("payload")));
    }

    #[test]
    fn search_accepts_array_object_results_and_empty() {
        let hit = json!({"client_id": 5, "first_name": "A", "full_name": "A B", "status_name": "Lead - New",
            "status_id": 1, "created_utc": "2026-02-03T14:05:09Z"});
        for body in [json!([hit]), hit.clone(), json!({"results": [hit]})] {
            assert_eq!(search_items(body.to_string().as_bytes()).unwrap().len(), 1, "{body}");
        }
        assert!(search_items(b"[]").unwrap().is_empty());
        assert!(search_items(b"").unwrap().is_empty());
        assert!(search_items(b"{}").unwrap().is_empty());
        let h = search_record(&hit).unwrap();
        assert_eq!(h.id, 5);
        assert_eq!(h.fields.get("status"), Some(&json!("Lead - New")), "status falls back to status_name");
        assert!(!h.fields.contains_key("full_name") && !h.fields.contains_key("client_id"));
        assert_eq!(h.created, Some(t("2026-02-03T14:05:09Z")));
        assert_eq!(h.updated, None);
        assert!(search_record(&json!({"client_id": "5"})).is_err());
    }

    #[test]
    fn lead_status_pattern() {
        assert!(is_lead_status("Lead - New"));
        assert!(is_lead_status("lead - contacted"));
        assert!(!is_lead_status("Active Client"));
        assert!(!is_lead_status("Le"));
    }
}
