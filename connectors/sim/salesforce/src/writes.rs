//! API-side writes: body validation (unknown/read-only fields, required fields), the Email
//! duplicate rule (block vs alert, spec §12) and create/update/delete with their stamps.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::custom::CustomField;
use crate::error::ApiError;
use crate::schema::{Field, ObjectKind, SfType};
use crate::store::{Record, Store};

/// Whether a matching duplicate rule blocks the save or only alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateMode {
    /// Always rejected with `DUPLICATES_DETECTED`.
    Block,
    /// Rejected unless `Sforce-Duplicate-Rule-Header: allowSave=true`.
    Alert,
}

/// An active duplicate rule: exact, case-insensitive match on one field of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateRule {
    /// The object it guards.
    pub object: ObjectKind,
    /// The matched field (canonical name), e.g. `Email`.
    pub field: String,
    /// Block or alert.
    pub mode: DuplicateMode,
}

/// What a write needs besides the store.
#[derive(Debug, Clone, Copy)]
pub struct WriteCtx<'a> {
    /// The write's stamp (second precision).
    pub now: DateTime<Utc>,
    /// The org's custom fields.
    pub custom: &'a [CustomField],
    /// Active duplicate rules.
    pub rules: &'a [DuplicateRule],
    /// `allowSave=true` was sent in `Sforce-Duplicate-Rule-Header`.
    pub allow_save: bool,
    /// Refuse text values longer than their field (`Quirks::enforce_lengths`).
    pub enforce_lengths: bool,
}

/// Field changes parsed from a body: canonical name → value (`None` = set to null).
pub type Changes = BTreeMap<String, Option<String>>;

/// Parses a JSON body into changes, skipping `attributes` and the names in `skip`.
/// Unknown fields → `INVALID_FIELD`; read-only fields → `INVALID_FIELD_FOR_INSERT_UPDATE`.
pub fn parse_body(
    object: ObjectKind,
    body: &Map<String, Value>,
    custom: &[CustomField],
    skip: &[&str],
) -> Result<Changes, ApiError> {
    let mut out = Changes::new();
    for (key, value) in body {
        if key == "attributes" || skip.iter().any(|s| s.eq_ignore_ascii_case(key)) {
            continue;
        }
        let Some(field) = object.field(key, custom) else {
            return Err(ApiError::bad_request(
                "INVALID_FIELD",
                format!("No such column '{key}' on sobject of type {}", object.name()),
            )
            .with_fields(vec![key.clone()]));
        };
        if !field.writable {
            return Err(ApiError::bad_request(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                format!("Unable to create/update fields: {}", field.name),
            )
            .with_fields(vec![field.name]));
        }
        let v = match value {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => {
                return Err(ApiError::bad_request(
                    "JSON_PARSER_ERROR",
                    format!("Cannot deserialize value for field {}", field.name),
                ));
            }
        };
        if let Some(v) = &v {
            check_value(&field, v)?;
        }
        out.insert(field.name, v);
    }
    Ok(out)
}

/// A value fits its field: restricted picklist values, number and checkbox forms (lengths are
/// checked by [`create`] / [`update`], see `check_lengths`).
/// Messages name the field, never the value.
fn check_value(field: &Field, v: &str) -> Result<(), ApiError> {
    let bad = |code: &'static str, msg: String| {
        Err(ApiError::bad_request(code, msg).with_fields(vec![field.name.clone()]))
    };
    if field.restricted && !field.picklist.iter().any(|p| p == v) {
        return bad(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            format!("{}: bad value for restricted picklist field", field.label),
        );
    }
    match field.kind {
        SfType::Double if v.parse::<f64>().is_err() => {
            bad("INVALID_TYPE_ON_FIELD_IN_RECORD", format!("{}: value not of required type", field.label))
        }
        SfType::Boolean if !matches!(v, "true" | "false") => {
            bad("INVALID_TYPE_ON_FIELD_IN_RECORD", format!("{}: value not of required type", field.label))
        }
        _ => Ok(()),
    }
}

/// `STRING_TOO_LONG` for a text value over its field's length (when `ctx.enforce_lengths`).
/// Salesforce quotes the value in the message; the simulator gives its size instead.
fn check_lengths(ctx: &WriteCtx<'_>, object: ObjectKind, changes: &Changes) -> Result<(), ApiError> {
    if !ctx.enforce_lengths {
        return Ok(());
    }
    for (name, value) in changes {
        let (Some(v), Some(f)) = (value, object.field(name, ctx.custom)) else { continue };
        let chars = v.chars().count();
        if f.kind.is_text() && chars > f.length as usize {
            let msg =
                format!("{}: data value too large: {chars} characters (max length={})", f.label, f.length);
            return Err(ApiError::bad_request("STRING_TOO_LONG", msg).with_fields(vec![f.name]));
        }
    }
    Ok(())
}

/// `DUPLICATE_VALUE` when a unique field's value (case-insensitive) is held by another live record.
fn check_unique(
    store: &Store,
    ctx: &WriteCtx<'_>,
    object: ObjectKind,
    fields: &BTreeMap<String, String>,
    self_id: Option<&str>,
) -> Result<(), ApiError> {
    for c in ctx.custom.iter().filter(|c| c.object == object && c.unique) {
        let Some(value) = fields.get(&c.name) else { continue };
        let other = store.all().find(|r| {
            r.object == object
                && r.deleted_at.is_none()
                && Some(r.id.as_str()) != self_id
                && r.fields.get(&c.name).is_some_and(|v| v.eq_ignore_ascii_case(value))
        });
        if let Some(other) = other {
            return Err(ApiError::bad_request(
                "DUPLICATE_VALUE",
                format!("duplicate value found: {} duplicates value on record with id: {}", c.name, other.id),
            )
            .with_fields(vec![c.name.clone()]));
        }
    }
    Ok(())
}

fn apply(fields: &mut BTreeMap<String, String>, changes: &Changes) {
    for (k, v) in changes {
        match v {
            Some(v) => fields.insert(k.clone(), v.clone()),
            None => fields.remove(k),
        };
    }
}

fn check_required(object: ObjectKind, fields: &BTreeMap<String, String>) -> Result<(), ApiError> {
    let missing: Vec<String> =
        object.required().iter().filter(|f| !fields.contains_key(**f)).map(|f| f.to_string()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::bad_request(
        "REQUIRED_FIELD_MISSING",
        format!("Required fields are missing: [{}]", missing.join(", ")),
    )
    .with_fields(missing))
}

fn check_duplicates(
    store: &Store,
    ctx: &WriteCtx<'_>,
    object: ObjectKind,
    fields: &BTreeMap<String, String>,
    self_id: Option<&str>,
) -> Result<(), ApiError> {
    for rule in ctx.rules.iter().filter(|r| r.object == object) {
        let Some(value) = fields.get(&rule.field) else { continue };
        let matches: Vec<&Record> = store
            .all()
            .filter(|r| r.object == object && r.deleted_at.is_none() && Some(r.id.as_str()) != self_id)
            .filter(|r| r.fields.get(&rule.field).is_some_and(|v| v.eq_ignore_ascii_case(value)))
            .collect();
        if matches.is_empty() || (rule.mode == DuplicateMode::Alert && ctx.allow_save) {
            continue;
        }
        let mut err = ApiError::bad_request("DUPLICATES_DETECTED", "Use one of these records?");
        err.duplicate_result = Some(duplicate_result(rule, &matches));
        return Err(err);
    }
    Ok(())
}

fn duplicate_result(rule: &DuplicateRule, matches: &[&Record]) -> Value {
    let entity = rule.object.name();
    let records: Vec<Value> = matches
        .iter()
        .map(|r| {
            json!({"additionalInformation": [], "fieldDiffs": [], "matchConfidence": 100.0,
                   "record": {"attributes": {"type": entity}, "Id": r.id}})
        })
        .collect();
    json!({
        "allowSave": rule.mode == DuplicateMode::Alert,
        "duplicateRule": format!("Standard_{entity}_Duplicate_Rule"),
        "duplicateRuleEntityType": entity,
        "errorMessage": "Use one of these records?",
        "matchResults": [{"entityType": entity, "errors": [], "matchEngine": "ExactMatchEngine",
                          "matchRecords": records, "rule": format!("Standard_Rule_for_{entity}s_with_Duplicate_{}", rule.field),
                          "size": matches.len(), "success": true}]
    })
}

/// Validates and stores a new record; returns its id.
pub fn create(
    store: &mut Store,
    ctx: &WriteCtx<'_>,
    object: ObjectKind,
    changes: &Changes,
) -> Result<String, ApiError> {
    check_lengths(ctx, object, changes)?;
    let mut fields = BTreeMap::new();
    apply(&mut fields, changes);
    check_required(object, &fields)?;
    check_unique(store, ctx, object, &fields, None)?;
    check_duplicates(store, ctx, object, &fields, None)?;
    Ok(store.insert(object, fields, ctx.now, ctx.now))
}

/// The live record of `object` with this id, or the API's 404s.
pub fn live<'a>(store: &'a Store, object: ObjectKind, id: &str) -> Result<&'a Record, ApiError> {
    let rec = store.get(id).filter(|r| r.object == object).ok_or_else(ApiError::not_found)?;
    if rec.deleted_at.is_some() {
        return Err(ApiError::entity_deleted());
    }
    Ok(rec)
}

/// Validates and applies an update by a user (bumps both clocks).
pub fn update(
    store: &mut Store,
    ctx: &WriteCtx<'_>,
    object: ObjectKind,
    id: &str,
    changes: &Changes,
) -> Result<String, ApiError> {
    update_tracked(store, ctx, object, id, changes).map(|(id, _)| id)
}

/// [`update`], also saying whether any stored field value changed (the request log's write
/// effect: an update that changed nothing was a wasted request).
pub fn update_tracked(
    store: &mut Store,
    ctx: &WriteCtx<'_>,
    object: ObjectKind,
    id: &str,
    changes: &Changes,
) -> Result<(String, bool), ApiError> {
    let rec = live(store, object, id)?;
    check_unlocked(rec, ctx.now)?;
    check_lengths(ctx, object, changes)?;
    let mut fields = rec.fields.clone();
    apply(&mut fields, changes);
    check_required(object, &fields)?;
    let rid = rec.id.clone();
    check_unique(store, ctx, object, &fields, Some(&rid))?;
    check_duplicates(store, ctx, object, &fields, Some(&rid))?;
    let rec = store.get_mut(&rid).ok_or_else(ApiError::not_found)?;
    let changed = rec.fields != fields;
    rec.fields = fields;
    rec.last_modified = ctx.now;
    rec.modstamp = ctx.now;
    Ok((rid, changed))
}

/// Moves a live record to the recycle bin.
pub fn delete(
    store: &mut Store,
    now: DateTime<Utc>,
    object: Option<ObjectKind>,
    id: &str,
) -> Result<String, ApiError> {
    let rec =
        store.get(id).filter(|r| object.is_none_or(|o| r.object == o)).ok_or_else(ApiError::not_found)?;
    if rec.deleted_at.is_some() {
        return Err(ApiError::entity_deleted());
    }
    check_unlocked(rec, now)?;
    let rid = rec.id.clone();
    let rec = store.get_mut(&rid).ok_or_else(ApiError::not_found)?;
    rec.deleted_at = Some(now);
    rec.last_modified = now;
    rec.modstamp = now;
    Ok(rid)
}

/// `UNABLE_TO_LOCK_ROW` while another (simulated long) transaction holds the row.
pub fn check_unlocked(rec: &Record, now: DateTime<Utc>) -> Result<(), ApiError> {
    if rec.visible_at > now {
        return Err(unable_to_lock());
    }
    Ok(())
}

/// The lock-contention error (also injected at the configured `lock_rate`).
pub fn unable_to_lock() -> ApiError {
    ApiError::bad_request("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
}

/// The canonical name of `object`'s External ID field called `name` (case-insensitive).
pub fn external_id_field(custom: &[CustomField], object: ObjectKind, name: &str) -> Option<String> {
    custom
        .iter()
        .find(|c| c.object == object && c.external_id && c.name.eq_ignore_ascii_case(name))
        .map(|c| c.name.clone())
}

/// Live records of `object` whose external-id `field` equals `value`.
pub fn ext_matches(store: &Store, object: ObjectKind, field: &str, value: &str) -> Vec<String> {
    store
        .all()
        .filter(|r| r.object == object && r.deleted_at.is_none())
        .filter(|r| r.fields.get(field).is_some_and(|v| v == value))
        .map(|r| r.id.clone())
        .collect()
}

/// The 300 answer to an upsert whose external id matches several records.
pub fn multiple_choices(version: &str, object: ObjectKind, ids: &[String]) -> (StatusCode, Value) {
    let urls: Vec<String> =
        ids.iter().map(|id| format!("/services/data/{version}/sobjects/{}/{id}", object.name())).collect();
    (StatusCode::MULTIPLE_CHOICES, json!(urls))
}
