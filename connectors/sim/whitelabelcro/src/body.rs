//! Typed reads of JSON request-body fields: a missing required field or a wrong type → 400;
//! unknown fields are ignored (spec §5 SUGGESTION: lenient bodies). PATCH reads distinguish
//! "absent" (unchanged) from `null` (clear).

use serde_json::{Map, Value};

use crate::error::ApiError;

/// A JSON object body.
pub type Obj = Map<String, Value>;

fn wrong_type(name: &str, want: &str) -> ApiError {
    ApiError::invalid(format!("field '{name}' must be {want}"))
}

/// A required, non-blank string.
pub fn req_str(b: &Obj, name: &str) -> Result<String, ApiError> {
    match opt_str(b, name)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(ApiError::invalid(format!("field '{name}' is required"))),
    }
}

/// An optional string (`null` = absent).
pub fn opt_str(b: &Obj, name: &str) -> Result<Option<String>, ApiError> {
    match b.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong_type(name, "a string")),
    }
}

/// An optional integer (`null` = absent).
pub fn opt_int(b: &Obj, name: &str) -> Result<Option<i64>, ApiError> {
    match b.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| wrong_type(name, "an integer")),
    }
}

/// An optional number (`null` = absent).
pub fn opt_f64(b: &Obj, name: &str) -> Result<Option<f64>, ApiError> {
    match b.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| wrong_type(name, "a number")),
    }
}

/// PATCH string: absent → `None`, `null` → `Some(None)`.
pub fn patch_str(b: &Obj, name: &str) -> Result<Option<Option<String>>, ApiError> {
    match b.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(wrong_type(name, "a string or null")),
    }
}

/// PATCH string that cannot be cleared: `null` or blank → 400.
pub fn patch_required_str(b: &Obj, name: &str) -> Result<Option<String>, ApiError> {
    match patch_str(b, name)? {
        None => Ok(None),
        Some(Some(s)) if !s.trim().is_empty() => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(format!("field '{name}' cannot be cleared"))),
    }
}

/// PATCH integer: absent → `None`, `null` → `Some(None)`.
pub fn patch_int(b: &Obj, name: &str) -> Result<Option<Option<i64>>, ApiError> {
    match b.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => v.as_i64().map(|i| Some(Some(i))).ok_or_else(|| wrong_type(name, "an integer or null")),
    }
}

/// The first of several accepted spellings that is present.
pub fn first_present<'a>(b: &'a Obj, names: &[&str]) -> Option<(&'a Value, String)> {
    names.iter().find_map(|n| b.get(*n).map(|v| (v, (*n).to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Obj {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn patch_reads_tell_absent_from_null() {
        let b = obj(json!({"phone": null, "city": "Austin", "employee_id": "x"}));
        assert_eq!(patch_str(&b, "phone").unwrap(), Some(None));
        assert_eq!(patch_str(&b, "zip").unwrap(), None);
        assert_eq!(patch_str(&b, "city").unwrap(), Some(Some("Austin".into())));
        assert!(patch_int(&b, "employee_id").is_err());
        assert!(patch_required_str(&obj(json!({"email": null})), "email").is_err());
        assert!(req_str(&obj(json!({"email": " "})), "email").is_err());
    }
}
