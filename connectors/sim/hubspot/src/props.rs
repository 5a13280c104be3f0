//! Property schema and write validation: known/read-only properties, string values, `""` clears,
//! `lifecyclestage` enumeration and forward-only rule, date-only midnight rule (spec §2, §3, §9).

use std::collections::BTreeMap;

use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::model::{ObjectType, READ_ONLY, Record};

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

const CONTACT_PROPS: &[&str] = &[
    "email",
    "firstname",
    "lastname",
    "phone",
    "mobilephone",
    "company",
    "jobtitle",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "website",
    "lifecyclestage",
];
const COMPANY_PROPS: &[&str] = &[
    "name",
    "domain",
    "phone",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "industry",
    "website",
    "lifecyclestage",
];

/// Which properties exist beyond the built-in ones; the same for contacts and companies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Schema {
    /// Extra custom properties that may be written.
    pub extra_properties: Vec<String>,
    /// Custom properties with `hasUniqueValue` (usable as `idProperty`; values unique among live
    /// records of one object type), e.g. `wlcro_id`.
    pub unique_properties: Vec<String>,
    /// Date-only properties: writes must be midnight UTC (epoch ms) or `YYYY-MM-DD`.
    pub date_properties: Vec<String>,
}

impl Schema {
    /// Whether `name` may be written on `object`.
    pub fn writable(&self, object: ObjectType, name: &str) -> bool {
        let builtin = match object {
            ObjectType::Contacts => CONTACT_PROPS,
            ObjectType::Companies => COMPANY_PROPS,
        };
        builtin.contains(&name)
            || self.extra_properties.iter().any(|p| p == name)
            || self.unique_properties.iter().any(|p| p == name)
            || self.date_properties.iter().any(|p| p == name)
    }

    /// Whether `name` is a unique-value custom property.
    pub fn is_unique(&self, name: &str) -> bool {
        self.unique_properties.iter().any(|p| p == name)
    }
}

/// Validates an input `properties` object against the schema and (for updates) the current record.
/// Returns the values to apply; an empty string means "clear".
pub fn validate(
    schema: &Schema,
    object: ObjectType,
    current: Option<&Record>,
    input: &Map<String, Value>,
) -> ApiResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (name, value) in input {
        if READ_ONLY.contains(&name.as_str()) {
            return Err(ApiError::invalid_property(
                name,
                "READ_ONLY_VALUE",
                &format!("{name} is a read only property; its value cannot be set."),
            ));
        }
        if !schema.writable(object, name) {
            return Err(ApiError::invalid_property(
                name,
                "PROPERTY_DOESNT_EXIST",
                &format!("Property \"{name}\" does not exist"),
            ));
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            _ => {
                return Err(ApiError::invalid_property(
                    name,
                    "INVALID_PROPERTY_VALUE",
                    &format!("{name} must be sent as a string"),
                ));
            }
        };
        if name == "lifecyclestage" {
            check_lifecycle(current, &text)?;
        }
        if schema.date_properties.iter().any(|p| p == name) && !text.is_empty() {
            check_midnight(name, &text)?;
        }
        out.insert(name.clone(), text);
    }
    Ok(out)
}

/// Enumeration by internal name (case-sensitive) and forward-only moves (clear first to go back).
/// The spec says "can only move forward"; this simulator rejects a backward move with a 400.
fn check_lifecycle(current: Option<&Record>, new: &str) -> ApiResult<()> {
    if new.is_empty() {
        return Ok(());
    }
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
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn rejects_unknown_read_only_non_string_and_non_midnight() {
        let s = Schema { date_properties: vec!["birth".into()], ..Schema::default() };
        let c = ObjectType::Contacts;
        assert!(validate(&s, c, None, &obj(json!({"nope": "x"}))).is_err());
        assert!(validate(&s, c, None, &obj(json!({"createdate": "1"}))).is_err());
        assert!(validate(&s, c, None, &obj(json!({"phone": 5}))).is_err());
        let e = validate(&s, c, None, &obj(json!({"birth": "1700000000123"}))).unwrap_err();
        assert!(e.message.contains("not midnight"), "{}", e.message);
        assert!(validate(&s, c, None, &obj(json!({"birth": "1699920000000"}))).is_ok());
    }

    #[test]
    fn lifecycle_is_case_sensitive_and_forward_only() {
        let s = Schema::default();
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
