//! Reading records: `SimplePublicObject` → [`Record`], batch read (`fetch`) and identity lookups
//! (`find`: for an email the search and batch read of [`crate::lookup`], which see every
//! contact holding it; the `idProperty` GET for the unique property; search `EQ` otherwise; the
//! batched `find_many` is in [`crate::lookup`]).

use chrono::{DateTime, Utc};
use connector_api::{ConnectorError, FieldMap, IdentityKey, Quarantined, Record};
use serde_json::Value;

use crate::client::Api;
use crate::wire::{
    BatchRead, BatchResponse, Collection, Filter, FilterGroup, IdInput, SearchRequest, SimpleObject,
};
use crate::{HubspotConnector, MAX_BATCH, Object};

/// A datetime property value: ISO 8601 (v3 responses) or epoch ms (spec §9).
pub(crate) fn parse_time(v: &str) -> Option<DateTime<Utc>> {
    if let Ok(ms) = v.trim().parse::<i64>() {
        return DateTime::from_timestamp_millis(ms);
    }
    DateTime::parse_from_rfc3339(v.trim()).ok().map(|d| d.to_utc())
}

/// The record's change time: the modified property, else `updatedAt`.
pub(crate) fn modified_at(object: Object, o: &SimpleObject) -> Option<DateTime<Utc>> {
    o.properties
        .get(object.modified_property())
        .and_then(|v| v.as_deref())
        .and_then(parse_time)
        .or(o.updated_at)
}

/// Converts one result; an unreadable one is quarantined with its reason (never its values).
pub(crate) fn to_record(object: Object, raw: &Value) -> Result<(Record, SimpleObject), Quarantined> {
    let id = raw.get("id").and_then(Value::as_str).map(str::to_string);
    let quarantine = |reason: String| Quarantined { id: id.clone(), reason, raw: truncate(raw) };
    let o: SimpleObject = serde_json::from_value(raw.clone())
        .map_err(|e| quarantine(format!("not a SimplePublicObject: {e}")))?;
    let modified = modified_at(object, &o)
        .ok_or_else(|| quarantine(format!("no readable {}", object.modified_property())))?;
    let fields: FieldMap =
        o.properties.iter().map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String))).collect();
    let record = Record {
        object: object.name().to_string(),
        id: o.id.clone(),
        modified_at: modified,
        fields,
        deleted: o.archived,
    };
    Ok((record, o))
}

fn truncate(raw: &Value) -> String {
    let s = raw.to_string();
    s.chars().take(2_000).collect()
}

fn records(object: Object, results: &[Value]) -> Result<Vec<Record>, ConnectorError> {
    results
        .iter()
        .map(|r| {
            to_record(object, r)
                .map(|(rec, _)| rec)
                .map_err(|q| ConnectorError::Protocol { message: q.reason })
        })
        .collect()
}

/// Percent-encodes a path segment (everything but unreserved characters).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) async fn fetch(
    c: &HubspotConnector,
    object: Object,
    ids: &[String],
) -> Result<Vec<Record>, ConnectorError> {
    let props = c.read_properties(object);
    let mut out = Vec::new();
    for chunk in ids.chunks(MAX_BATCH) {
        let body = BatchRead {
            inputs: chunk.iter().map(|id| IdInput { id }).collect(),
            properties: &props,
            id_property: None,
        };
        let (_, bytes) = c.api.post(c.api.url(object.name(), "/batch/read"), &body, false, true).await?;
        let resp: BatchResponse = Api::decode("batch read", &bytes)?;
        c.note_properties(object, &props, &resp.results);
        // Missing ids come back as a 207 error item: left out, as the trait says. So is a result
        // that cannot be read (no id, no modified time): one bad record must not make the others
        // unreadable. The engine treats it as not there this time (it plans nothing for it);
        // the pull quarantines the same record with its reason when it reads it.
        for raw in &resp.results {
            match to_record(object, raw) {
                Ok((record, _)) if chunk.contains(&record.id) => out.push(record),
                Ok(_) => {}
                // The reason is not logged: a decoder's message can quote the record's values.
                Err(q) => tracing::warn!(
                    object = object.name(),
                    id = q.id.as_deref().unwrap_or("?"),
                    "an unreadable record in a batch read was left out"
                ),
            }
        }
    }
    Ok(out)
}

/// The most records one search-based `find` answers for a value (one search page).
pub(crate) const FIND_LIMIT: usize = 100;

pub(crate) async fn find(
    c: &HubspotConnector,
    object: Object,
    key: &IdentityKey,
) -> Result<Vec<Record>, ConnectorError> {
    let field = c.identity_property(&key.field);
    if field == "id" || field == "hs_object_id" {
        return fetch(c, object, std::slice::from_ref(&key.value)).await;
    }
    if field == "email" && object == Object::Contacts {
        let value = key.value.to_lowercase();
        let mut found = crate::lookup::find_emails(c, &[&value]).await?;
        return Ok(found.remove(&value).unwrap_or_default());
    }
    let props = c.read_properties(object).join(",");
    if field == c.config.unique_property {
        // Consistent reads (search lags, spec §5): a find right after a create must see it.
        let rest = format!("/{}?idProperty={field}&properties={props}", encode_segment(&key.value));
        let log_as = format!("GET /crm/v3/objects/{}/{{key}}?idProperty={field}", object.name());
        let found: Option<Value> = c.api.get_opt(c.api.url(object.name(), &rest), log_as).await?;
        return records(object, found.as_slice());
    }
    let req = SearchRequest {
        filter_groups: vec![FilterGroup { filters: vec![Filter::new(field, "EQ", &key.value)] }],
        sorts: Vec::new(),
        properties: c.read_properties(object),
        limit: FIND_LIMIT,
        after: None,
    };
    let (_, bytes) = c.api.post(c.api.url(object.name(), "/search"), &req, true, true).await?;
    let page: Collection = Api::decode("search", &bytes)?;
    records(object, &page.results)
}
