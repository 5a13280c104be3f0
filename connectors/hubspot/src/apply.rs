//! Writes (spec §4): creates as batch upserts keyed on the unique property (a retry finds the
//! first create; `new` says whether it created), updates as batch updates, deletes as batch
//! archives. Per-item outcomes come from 207 answers, mapped back by `objectWriteTraceId` (the
//! write's key) or by the ids the error names.

use std::collections::{BTreeMap, HashMap};

use connector_api::http::ErrorInfo;
use connector_api::write::Written;
use connector_api::{ConnectorError, FieldMap, Write, WriteOp, WriteOutcome};
use http::StatusCode;
use serde_json::Value;

use crate::client::Api;
use crate::read::modified_at;
use crate::wire::{BatchError, BatchResponse, IdInput, Inputs, SimpleObject, WriteInput};
use crate::{HubspotConnector, MAX_BATCH, Object};

/// Property values are strings on the wire (spec §2); null clears.
fn strings(fields: &FieldMap) -> BTreeMap<String, String> {
    fields
        .iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect()
}

/// A 207 item's error: its category, and the properties it names (`context.propertyName`,
/// nested `errors[]`, or the JSON inside the invalid-property message, spec §11), names only.
pub(crate) fn item_error(e: &BatchError) -> ConnectorError {
    let info = ErrorInfo::from_value(&e.raw);
    let message = format!("hubspot rejected the item ({})", e.category.as_deref().unwrap_or("no category"));
    match e.category.as_deref() {
        Some("OBJECT_NOT_FOUND") => ConnectorError::NotFound { message },
        Some("CONFLICT") => ConnectorError::Conflict { message },
        Some("RATE_LIMITS") => ConnectorError::Throttled { retry_after: None, bucket: None },
        _ => info.invalid(&message),
    }
}

fn unanswered() -> ConnectorError {
    ConnectorError::Protocol { message: "hubspot answered no result and no error for this item".into() }
}

/// One group's outcome: per item, or the whole request failed.
type Group = Result<Vec<WriteOutcome>, ConnectorError>;

pub(crate) async fn apply(
    c: &HubspotConnector,
    object: Object,
    writes: Vec<Write>,
) -> Result<Vec<WriteOutcome>, ConnectorError> {
    let (mut upserts, mut plain, mut updates, mut deletes) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for w in writes {
        match &w.op {
            WriteOp::Create { external_id: Some(_), .. } => upserts.push(w),
            WriteOp::Create { external_id: None, .. } => plain.push(w),
            WriteOp::Update { .. } => updates.push(w),
            WriteOp::Delete { .. } => deletes.push(w),
        }
    }
    let mut groups: Vec<(Vec<String>, Group)> = Vec::new();
    for chunk in upserts.chunks(MAX_BATCH) {
        groups.push((keys(chunk), upsert(c, object, chunk).await));
    }
    for w in &plain {
        groups.push((keys(std::slice::from_ref(w)), create_one(c, object, w).await));
    }
    for chunk in updates.chunks(MAX_BATCH) {
        groups.push((keys(chunk), update(c, object, chunk).await));
    }
    for chunk in deletes.chunks(MAX_BATCH) {
        groups.push((keys(chunk), archive(c, object, chunk).await));
    }
    // Nothing known to be done: the whole call failed.
    if let Some((_, Err(e))) = groups.first()
        && groups.iter().all(|(_, g)| g.is_err())
    {
        return Err(e.clone());
    }
    let mut out = Vec::new();
    for (keys, group) in groups {
        match group {
            Ok(items) => out.extend(items),
            Err(e) => out.extend(keys.into_iter().map(|key| WriteOutcome { key, result: Err(e.clone()) })),
        }
    }
    Ok(out)
}

fn keys(ws: &[Write]) -> Vec<String> {
    ws.iter().map(|w| w.key.clone()).collect()
}

fn written(object: Object, raw: &Value, created: bool) -> Option<Written> {
    let o: SimpleObject = serde_json::from_value(raw.clone()).ok()?;
    let modified = modified_at(object, &o);
    Some(Written { id: o.id, created, modified_at: modified })
}

/// Matches results and errors back to writes. `key_of_result` names the write a result answers.
fn outcomes(
    object: Object,
    ws: &[Write],
    resp: &BatchResponse,
    key_of_result: impl Fn(&SimpleObject) -> Option<String>,
    key_of_id: &HashMap<String, String>,
) -> Vec<WriteOutcome> {
    let mut done: HashMap<String, Result<Written, ConnectorError>> = HashMap::new();
    for raw in &resp.results {
        let Ok(o) = serde_json::from_value::<SimpleObject>(raw.clone()) else { continue };
        if let (Some(key), Some(w)) = (key_of_result(&o), written(object, raw, o.new.unwrap_or(false))) {
            done.insert(key, Ok(w));
        }
    }
    for e in &resp.errors {
        let by_trace = e.context("objectWriteTraceId").into_iter();
        let by_id = e.context("ids").into_iter().filter_map(|id| key_of_id.get(&id).cloned());
        for key in by_trace.chain(by_id) {
            done.insert(key, Err(item_error(e)));
        }
    }
    ws.iter()
        .map(|w| WriteOutcome {
            key: w.key.clone(),
            result: done.remove(&w.key).unwrap_or_else(|| Err(unanswered())),
        })
        .collect()
}

async fn upsert(c: &HubspotConnector, object: Object, ws: &[Write]) -> Group {
    let mut inputs = Vec::new();
    // (idProperty, lowercased value) → key, to match results (which carry no trace id).
    let mut by_value: HashMap<(String, String), String> = HashMap::new();
    let mut key_of_id = HashMap::new();
    for w in ws {
        let WriteOp::Create { fields, external_id: Some(ext) } = &w.op else { continue };
        let field = c.identity_property(&ext.field).to_string();
        let mut properties = strings(fields);
        properties.insert(field.clone(), ext.value.clone());
        by_value.insert((field.clone(), ext.value.to_lowercase()), w.key.clone());
        key_of_id.insert(ext.value.clone(), w.key.clone());
        inputs.push(WriteInput {
            id: Some(ext.value.clone()),
            id_property: Some(field),
            properties,
            object_write_trace_id: w.key.clone(),
        });
    }
    let fields: Vec<String> = by_value.keys().map(|(f, _)| f.clone()).collect();
    // Keyed on a unique property, so sending it twice cannot create twice.
    let (_, bytes) =
        c.api.post(c.api.url(object.name(), "/batch/upsert"), &Inputs { inputs }, false, true).await?;
    let resp: BatchResponse = Api::decode("batch upsert", &bytes)?;
    let key_of = |o: &SimpleObject| {
        fields.iter().find_map(|f| {
            let v = o.properties.get(f)?.as_deref()?.to_lowercase();
            by_value.get(&(f.clone(), v)).cloned()
        })
    };
    Ok(outcomes(object, ws, &resp, key_of, &key_of_id))
}

async fn create_one(c: &HubspotConnector, object: Object, w: &Write) -> Group {
    let WriteOp::Create { fields, .. } = &w.op else { return Ok(Vec::new()) };
    let body = serde_json::json!({ "properties": strings(fields) });
    // No unique key to upsert on: a plain create, never retried after it may have been sent.
    let (status, bytes) = c.api.post(c.api.url(object.name(), ""), &body, false, false).await?;
    if status == StatusCode::MULTI_STATUS {
        return Err(ConnectorError::Protocol { message: "unexpected 207 on a single create".into() });
    }
    let raw: Value = Api::decode("create", &bytes)?;
    let result = written(object, &raw, true).ok_or_else(unanswered);
    Ok(vec![WriteOutcome { key: w.key.clone(), result }])
}

async fn update(c: &HubspotConnector, object: Object, ws: &[Write]) -> Group {
    let mut key_of_id = HashMap::new();
    let mut inputs = Vec::new();
    for w in ws {
        let WriteOp::Update { id, fields } = &w.op else { continue };
        key_of_id.insert(id.clone(), w.key.clone());
        inputs.push(WriteInput {
            id: Some(id.clone()),
            id_property: None,
            properties: strings(fields),
            object_write_trace_id: w.key.clone(),
        });
    }
    // Setting the same values twice is harmless: updates are safe to retry.
    let (_, bytes) =
        c.api.post(c.api.url(object.name(), "/batch/update"), &Inputs { inputs }, false, true).await?;
    let resp: BatchResponse = Api::decode("batch update", &bytes)?;
    Ok(outcomes(object, ws, &resp, |o| key_of_id.get(&o.id).cloned(), &key_of_id))
}

async fn archive(c: &HubspotConnector, object: Object, ws: &[Write]) -> Group {
    let ids: Vec<&str> = ws
        .iter()
        .filter_map(|w| if let WriteOp::Delete { id } = &w.op { Some(id.as_str()) } else { None })
        .collect();
    let body = Inputs { inputs: ids.iter().map(|id| IdInput { id }).collect() };
    c.api.post(c.api.url(object.name(), "/batch/archive"), &body, false, true).await?;
    Ok(ws
        .iter()
        .zip(ids)
        .map(|(w, id)| WriteOutcome {
            key: w.key.clone(),
            result: Ok(Written { id: id.to_string(), created: false, modified_at: None }),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn invalid(item: Value) -> (String, Option<String>, Option<String>) {
        match item_error(&BatchError::from(item)) {
            ConnectorError::Invalid { message, code, field } => (message, code, field),
            other => panic!("{other:?}"),
        }
    }

    /// The 207 item shape of HubSpot's error-handling page: the property only inside the
    /// JSON-in-a-string message.
    #[test]
    fn a_207_item_names_the_property_from_its_message() {
        let inner = json!([
            {"isValid": false, "message": "ann@x.test was not valid", "error": "INVALID_EMAIL", "name": "email"},
            {"isValid": false, "message": "Lead was not one of the allowed options", "error": "INVALID_OPTION", "name": "lifecyclestage"}
        ]);
        let item = json!({
            "status": "error", "category": "VALIDATION_ERROR",
            "message": format!("Property values were not valid: {inner}"),
            "context": {"objectWriteTraceId": ["k1"]}
        });
        let (message, code, field) = invalid(item);
        assert_eq!((code.as_deref(), field.as_deref()), (Some("VALIDATION_ERROR"), Some("email")));
        assert!(message.contains("fields: email, lifecyclestage"), "{message}");
        assert!(message.contains("INVALID_OPTION") && message.contains("INVALID_EMAIL"), "{message}");
        assert!(!message.contains("ann@x.test") && !message.contains("Lead was"), "no values: {message}");
    }

    /// The generic error shape (spec §11): `context.propertyName` on the item or its `errors[]`.
    #[test]
    fn a_207_item_names_the_property_from_its_context() {
        let item =
            json!({"category": "VALIDATION_ERROR", "context": {"propertyName": ["zip"], "ids": ["7"]}});
        assert_eq!(invalid(item).2.as_deref(), Some("zip"));
        let item = json!({"category": "VALIDATION_ERROR", "errors": [
            {"message": "bad", "code": "INVALID_DATE", "context": {"propertyName": ["renewal_date"]}}
        ]});
        let (message, _, field) = invalid(item);
        assert_eq!(field.as_deref(), Some("renewal_date"));
        assert!(message.contains("INVALID_DATE"), "{message}");
        // Nothing named: no field, and the item still reads (a context of another shape too).
        let (_, code, field) = invalid(json!({"category": "VALIDATION_ERROR", "context": {"n": 3}}));
        assert_eq!((code.as_deref(), field), (Some("VALIDATION_ERROR"), None));
    }

    #[test]
    fn item_classes_follow_the_category() {
        let e =
            item_error(&BatchError::from(json!({"category": "OBJECT_NOT_FOUND", "context": {"ids": ["1"]}})));
        assert!(matches!(e, ConnectorError::NotFound { .. }));
        let e = item_error(&BatchError::from(json!({"category": "CONFLICT"})));
        assert!(matches!(e, ConnectorError::Conflict { .. }));
    }
}
