//! Writes through sObject Collections (spec §5–§6), `allOrNone=false`, ≤200 rows per call:
//! creates as an upsert on the external-id field (`PATCH /composite/sobjects/{Object}/{Field}`)
//! so a retried or replayed create can never make a second record, updates as a collections
//! update, deletes as a collections delete. Each row's result becomes its own outcome with a
//! classified error; the call's HTTP status says nothing about the rows (200 even if all failed).

use connector_api::http::{ErrorInfo, RequestSpec};
use connector_api::write::Written;
use connector_api::{ConnectorError, FieldMap, Write, WriteOp, WriteOutcome};
use serde_json::{Map, Value, json};

use crate::api::{Api, Target};
use crate::soql::{normalize_id, pct};
use crate::wire::SaveResult;

/// Rows per collections call.
pub const MAX_BATCH: usize = 200;

/// Classifies one row's errors (`[{"statusCode","message","fields"}]`, spec §6, §9) by the first
/// code (never its message, which may quote values). The fields every error names (`fields`,
/// or the column an `INVALID_FIELD` message names) are kept, names only: the first in `field`,
/// all of them in the message, with the further codes.
pub fn classify_row(errors: &[Value]) -> ConnectorError {
    let info = ErrorInfo::from_value(&Value::Array(errors.to_vec()));
    let code = info.code.clone();
    let message = format!("row rejected: {}", code.as_deref().unwrap_or("no error code"));
    let named = format!("{message}{}", info.named());
    match code.as_deref() {
        // Another transaction holds the row; the same write succeeds later.
        Some("UNABLE_TO_LOCK_ROW" | "ALL_OR_NONE_OPERATION_ROLLED_BACK" | "PROCESSING_HALTED") => {
            ConnectorError::Transient { message: named, retry_after: None }
        }
        Some("ENTITY_IS_DELETED" | "NOT_FOUND" | "INVALID_CROSS_REFERENCE_KEY") => {
            ConnectorError::NotFound { message: named }
        }
        Some("DUPLICATE_VALUE" | "DUPLICATE_EXTERNAL_ID") => ConnectorError::Conflict { message: named },
        Some("REQUEST_LIMIT_EXCEEDED") => ConnectorError::QuotaExhausted { message: named, resets_at: None },
        // DUPLICATES_DETECTED, REQUIRED_FIELD_MISSING, FIELD_CUSTOM_VALIDATION_EXCEPTION,
        // INVALID_FIELD, INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, … and anything unknown: the
        // data, not the moment, is wrong.
        _ => info.invalid(&message),
    }
}

/// Whether a row's errors include `code`.
fn has_code(errors: &[Value], code: &str) -> bool {
    errors
        .iter()
        .any(|e| e.get("statusCode").or_else(|| e.get("errorCode")).and_then(Value::as_str) == Some(code))
}

fn row(object: &str, fields: &FieldMap) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("attributes".into(), json!({ "type": object }));
    for (k, v) in fields {
        // Id and system fields are never written; the URL or `id` carries identity.
        if !k.eq_ignore_ascii_case("id") {
            m.insert(k.clone(), v.clone());
        }
    }
    m
}

fn outcomes(keys: Vec<String>, results: Vec<SaveResult>, deleting: bool) -> Vec<WriteOutcome> {
    let mut out = Vec::with_capacity(keys.len());
    let mut results = results.into_iter();
    for key in keys {
        let result = match results.next() {
            None => Err(ConnectorError::Protocol {
                message: "collections answer shorter than the request".into(),
            }),
            Some(r) if r.success => match r.id.as_deref().and_then(normalize_id) {
                Some(id) => Ok(Written { id, created: r.created.unwrap_or(false), modified_at: None }),
                None => Err(ConnectorError::Protocol { message: "successful row without an id".into() }),
            },
            Some(r) => match classify_row(&r.errors) {
                // Deleting what is already deleted has the intended effect.
                ConnectorError::NotFound { .. } if deleting && has_code(&r.errors, "ENTITY_IS_DELETED") => {
                    Ok(Written { id: r.id.unwrap_or_default(), created: false, modified_at: None })
                }
                e => Err(e),
            },
        };
        out.push(WriteOutcome { key, result });
    }
    out
}

/// Fails every write of a group with the same error (the whole call failed).
fn fail_all(keys: Vec<String>, err: &ConnectorError) -> Vec<WriteOutcome> {
    keys.into_iter().map(|key| WriteOutcome { key, result: Err(err.clone()) }).collect()
}

/// The groups of one `apply` call.
#[derive(Default)]
struct Groups {
    upserts: Vec<(String, Map<String, Value>)>,
    creates: Vec<(String, Map<String, Value>)>,
    updates: Vec<(String, Map<String, Value>)>,
    deletes: Vec<(String, String)>,
}

/// Applies `writes` to `object`; creates upsert on `ext_field`.
pub async fn apply(
    api: &Api,
    object: &str,
    ext_field: &str,
    writes: Vec<Write>,
) -> Result<Vec<WriteOutcome>, ConnectorError> {
    if writes.len() > MAX_BATCH {
        return Err(ConnectorError::Invalid {
            message: format!("{} writes in one batch; at most {MAX_BATCH}", writes.len()),
            code: None,
            field: None,
        });
    }
    let mut g = Groups::default();
    let mut out = Vec::new();
    for w in writes {
        match w.op {
            WriteOp::Create { fields, external_id: Some(ext) } => {
                let named = ext.field.eq_ignore_ascii_case(ext_field) || ext.field == "external_id";
                if !named {
                    let message =
                        format!("external id field {} is not the configured {ext_field}", ext.field);
                    let e = ConnectorError::Invalid { message, code: None, field: Some(ext.field) };
                    out.push(WriteOutcome { key: w.key, result: Err(e) });
                    continue;
                }
                let mut r = row(object, &fields);
                r.retain(|k, _| !k.eq_ignore_ascii_case(ext_field));
                r.insert(ext_field.to_string(), Value::String(ext.value));
                g.upserts.push((w.key, r));
            }
            WriteOp::Create { fields, external_id: None } => g.creates.push((w.key, row(object, &fields))),
            WriteOp::Update { id, fields } => {
                let mut r = row(object, &fields);
                r.insert("id".into(), Value::String(id));
                g.updates.push((w.key, r));
            }
            WriteOp::Delete { id } => g.deletes.push((w.key, id)),
        }
    }
    let path = format!("/composite/sobjects/{object}/{ext_field}");
    out.extend(collection(api, &path, true, g.upserts, |u| RequestSpec::patch(u).idempotent(true)).await?);
    // A create without an external id cannot be made retry-safe: sent once, never retried.
    out.extend(collection(api, "/composite/sobjects", false, g.creates, RequestSpec::post).await?);
    out.extend(
        collection(api, "/composite/sobjects", false, g.updates, |u| RequestSpec::patch(u).idempotent(true))
            .await?,
    );
    if !g.deletes.is_empty() {
        let (keys, ids): (Vec<_>, Vec<_>) = g.deletes.into_iter().unzip();
        let path = format!("/composite/sobjects?allOrNone=false&ids={}", pct(&ids.join(",")));
        let sent = api
            .send_json::<Vec<SaveResult>>(Target::Data(&path), |u| {
                RequestSpec::delete(u).log_as("DELETE /composite/sobjects")
            })
            .await;
        out.extend(group_result(keys, sent, true)?);
    }
    Ok(out)
}

async fn collection(
    api: &Api,
    path: &str,
    upsert: bool,
    rows: Vec<(String, Map<String, Value>)>,
    method: impl Fn(String) -> RequestSpec,
) -> Result<Vec<WriteOutcome>, ConnectorError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let (keys, records): (Vec<_>, Vec<_>) = rows.into_iter().unzip();
    let body = json!({ "allOrNone": false, "records": records });
    let label = if upsert { "PATCH /composite/sobjects/{object}/{field}" } else { "/composite/sobjects" };
    let sent = api
        .send_json::<Vec<SaveResult>>(Target::Data(path), |u| {
            method(u).json(&body).expect("a JSON value encodes").log_as(label)
        })
        .await;
    group_result(keys, sent, false)
}

/// Per-row outcomes, or — when the whole call failed — the error for every row of the group,
/// except for classes that stop the run for this system (auth, quota), which are returned.
fn group_result(
    keys: Vec<String>,
    sent: Result<Vec<SaveResult>, ConnectorError>,
    deleting: bool,
) -> Result<Vec<WriteOutcome>, ConnectorError> {
    match sent {
        Ok(results) => Ok(outcomes(keys, results, deleting)),
        Err(e @ (ConnectorError::Auth { .. } | ConnectorError::QuotaExhausted { .. })) => Err(e),
        Err(e) => Ok(fail_all(keys, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_api::ErrorClass;

    fn item(code: &str) -> Value {
        json!({"statusCode": code, "message": "m", "fields": ["Email"]})
    }

    #[test]
    fn row_errors_are_classified_by_code() {
        let cases = [
            ("UNABLE_TO_LOCK_ROW", ErrorClass::Transient),
            ("DUPLICATES_DETECTED", ErrorClass::Invalid),
            ("REQUIRED_FIELD_MISSING", ErrorClass::Invalid),
            ("FIELD_CUSTOM_VALIDATION_EXCEPTION", ErrorClass::Invalid),
            ("ENTITY_IS_DELETED", ErrorClass::NotFound),
            ("DUPLICATE_VALUE", ErrorClass::Conflict),
            ("SOMETHING_NEW", ErrorClass::Invalid),
        ];
        for (code, class) in cases {
            assert_eq!(classify_row(&[item(code)]).class(), class, "{code}");
        }
        let ConnectorError::Invalid { field, code, .. } = classify_row(&[item("DUPLICATES_DETECTED")]) else {
            panic!()
        };
        assert_eq!((field.as_deref(), code.as_deref()), (Some("Email"), Some("DUPLICATES_DETECTED")));
    }

    fn invalid(errors: Value) -> (String, Option<String>, Option<String>) {
        let rows: Vec<Value> = serde_json::from_value(errors).unwrap();
        match classify_row(&rows) {
            ConnectorError::Invalid { message, code, field } => (message, code, field),
            other => panic!("{other:?}"),
        }
    }

    /// Collections rows as the REST guide shows them (spec §6, §9): several fields, several
    /// errors, a picklist refusal, a column named only in the message; messages quoting values.
    #[test]
    fn row_errors_keep_every_field_name_and_no_value() {
        let (message, code, field) = invalid(json!([{
            "statusCode": "REQUIRED_FIELD_MISSING",
            "message": "Required fields are missing: [LastName, Company]",
            "fields": ["LastName", "Company"]
        }]));
        assert_eq!((code.as_deref(), field.as_deref()), (Some("REQUIRED_FIELD_MISSING"), Some("LastName")));
        assert!(message.contains("fields: LastName, Company"), "{message}");

        let (message, code, field) = invalid(json!([
            {"statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
             "message": "bad value for restricted picklist field: Platinum Plus", "fields": ["LeadSource"]},
            {"statusCode": "INVALID_EMAIL_ADDRESS", "message": "Email: invalid email address: bob@@x", "fields": ["Email"]}
        ]));
        assert_eq!(code.as_deref(), Some("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"));
        assert_eq!(field.as_deref(), Some("LeadSource"));
        assert!(
            message.contains("fields: LeadSource, Email") && message.contains("INVALID_EMAIL_ADDRESS"),
            "{message}"
        );
        assert!(!message.contains("Platinum") && !message.contains("bob@@x"), "no values: {message}");

        let (message, _, field) = invalid(json!([{
            "statusCode": "INVALID_FIELD", "message": "No such column 'Shoe_Size__c' on sobject of type Contact", "fields": []
        }]));
        assert_eq!(field.as_deref(), Some("Shoe_Size__c"), "{message}");

        let (message, code, field) = invalid(json!([{
            "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "Phone 555-0100 is not allowed", "fields": []
        }]));
        assert_eq!((code.as_deref(), field), (Some("FIELD_CUSTOM_VALIDATION_EXCEPTION"), None));
        assert!(!message.contains("555-0100"), "{message}");
    }
}
