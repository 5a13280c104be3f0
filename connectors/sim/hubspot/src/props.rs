//! Write validation against the property catalog (`schema.rs`): known/read-only properties,
//! values as strings (JSON numbers and booleans are taken as their text), `""` clears, type checks
//! (number, bool, enumeration options), the `lifecyclestage` forward-only rule and the date-only
//! midnight rule (spec §2, §3, §9).

use std::collections::BTreeMap;

use chrono::{DateTime, Timelike, Utc};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::model::{ObjectType, READ_ONLY, Record};
use crate::schema::{Catalog, PropertyDef, PropertyType};

/// `lifecyclestage` internal names in forward order (spec §3).
pub const LIFECYCLE: &[&str] = &[
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
];

/// Validates an input `properties` object against the schema and (for updates) the current record.
/// Returns the values to apply; an empty string means "clear".
pub fn validate(
    catalog: &Catalog,
    object: ObjectType,
    current: Option<&Record>,
    input: &Map<String, Value>,
) -> ApiResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (name, value) in input {
        let def = catalog.get(object, name);
        if READ_ONLY.contains(&name.as_str()) || def.is_some_and(|d| d.read_only_value) {
            return Err(ApiError::invalid_property(
                name,
                "READ_ONLY_VALUE",
                &format!("{name} is a read only property; its value cannot be set."),
            ));
        }
        let Some(def) = def else {
            return Err(ApiError::invalid_property(
                name,
                "PROPERTY_DOESNT_EXIST",
                &format!("Property \"{name}\" does not exist"),
            ));
        };
        let text = as_text(name, value)?;
        if !text.is_empty() {
            check_type(def, current, &text)?;
        }
        out.insert(name.clone(), text);
    }
    Ok(out)
}

/// A property value as HubSpot stores it: strings as given, numbers and booleans as their JSON
/// text, `null` as a clear. Objects and arrays are refused. (The spec says values are strings on
/// the way out; HubSpot's Node SDK widened its input type to accept numbers and booleans,
/// hubspot-api-nodejs#21 / #173, which the API stores as text.)
fn as_text(name: &str, value: &Value) -> ApiResult<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Ok(String::new()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(ApiError::invalid_property(
            name,
            "INVALID_PROPERTY_VALUE",
            &format!("{name} must be a string, number or boolean"),
        )),
    }
}

fn check_type(def: &PropertyDef, current: Option<&Record>, text: &str) -> ApiResult<()> {
    let name = def.name.as_str();
    match def.kind {
        PropertyType::Number if text.trim().parse::<f64>().is_err() => {
            Err(ApiError::invalid_property(name, "INVALID_FLOAT", &format!("{text} is not a valid number")))
        }
        PropertyType::Bool if !matches!(text, "true" | "false") => Err(ApiError::invalid_property(
            name,
            "INVALID_BOOLEAN",
            &format!("{text} is not a valid boolean; use true or false"),
        )),
        PropertyType::Enumeration if name == "lifecyclestage" => check_lifecycle(current, text),
        PropertyType::Enumeration if !def.allows_option(text) => {
            let allowed: Vec<&str> = def.options.iter().map(|o| o.value.as_str()).collect();
            Err(ApiError::invalid_property(
                name,
                "INVALID_OPTION",
                &format!("{text} was not one of the allowed options: {allowed:?}"),
            ))
        }
        PropertyType::Date => check_midnight(name, text),
        _ => Ok(()),
    }
}

/// Enumeration by internal name (case-sensitive) and forward-only moves (clear first to go back).
/// The spec says "can only move forward"; this simulator rejects a backward move with a 400.
fn check_lifecycle(current: Option<&Record>, new: &str) -> ApiResult<()> {
    let Some(new_rank) = LIFECYCLE.iter().position(|s| *s == new) else {
        return Err(ApiError::invalid_property(
            "lifecyclestage",
            "INVALID_OPTION",
            &format!("{new} was not one of the allowed options"),
        ));
    };
    let old_rank = current
        .and_then(|r| r.properties.get("lifecyclestage"))
        .and_then(|old| LIFECYCLE.iter().position(|s| s == old));
    if old_rank.is_some_and(|old| new_rank < old) {
        return Err(ApiError::invalid_property(
            "lifecyclestage",
            "INVALID_PROPERTY_VALUE",
            "lifecyclestage can only move forward; clear it first to set an earlier stage",
        ));
    }
    Ok(())
}

fn check_midnight(name: &str, text: &str) -> ApiResult<()> {
    if chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok() {
        return Ok(());
    }
    let Some(t) = text.parse::<i64>().ok().and_then(DateTime::<Utc>::from_timestamp_millis) else {
        return Err(ApiError::invalid_property(name, "INVALID_DATE", &format!("{text} is not a valid date")));
    };
    if t.num_seconds_from_midnight() != 0 || t.timestamp_subsec_millis() != 0 {
        let at = t.format("%H:%M:%S%.3f");
        return Err(ApiError::invalid_property(
            name,
            "INVALID_DATE",
            &format!("{text} is at {at} UTC, not midnight!"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn rejects_unknown_read_only_non_string_and_non_midnight() {
        let s = Schema { date_properties: vec!["birth".into()], ..Schema::default() }.catalog().unwrap();
        let c = ObjectType::Contacts;
        assert!(validate(&s, c, None, &obj(json!({"nope": "x"}))).is_err());
        assert!(validate(&s, c, None, &obj(json!({"createdate": "1"}))).is_err());
        assert!(validate(&s, c, None, &obj(json!({"phone": {"n": 5}}))).is_err());
        assert_eq!(validate(&s, c, None, &obj(json!({"phone": 5}))).unwrap()["phone"], "5");
        let e = validate(&s, c, None, &obj(json!({"birth": "1700000000123"}))).unwrap_err();
        assert!(e.message.contains("not midnight"), "{}", e.message);
        assert!(validate(&s, c, None, &obj(json!({"birth": "1699920000000"}))).is_ok());
    }

    #[test]
    fn lifecycle_is_case_sensitive_and_forward_only() {
        let s = Schema::default().catalog().unwrap();
        let c = ObjectType::Contacts;
        assert!(validate(&s, c, None, &obj(json!({"lifecyclestage": "Lead"}))).is_err());
        let mut r = Record {
            id: 1,
            object: c,
            properties: BTreeMap::new(),
            created_ms: 0,
            updated_ms: 0,
            archived_at_ms: None,
            merged_into: None,
        };
        r.properties.insert("lifecyclestage".into(), "customer".into());
        assert!(validate(&s, c, Some(&r), &obj(json!({"lifecyclestage": "lead"}))).is_err());
        assert!(validate(&s, c, Some(&r), &obj(json!({"lifecyclestage": ""}))).is_ok());
        assert!(validate(&s, c, Some(&r), &obj(json!({"lifecyclestage": "evangelist"}))).is_ok());
    }
}
