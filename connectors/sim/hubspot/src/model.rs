//! Object types and the stored record, and how a record is rendered as a `SimplePublicObject`
//! (spec §2 envelope, §3 properties, §9 timestamps).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The two simulated object types; they share every code path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectType {
    /// `/crm/v3/objects/contacts`
    Contacts,
    /// `/crm/v3/objects/companies`
    Companies,
}

impl ObjectType {
    /// Parses the path segment.
    pub fn parse(segment: &str) -> Option<Self> {
        match segment {
            "contacts" | "contact" | "0-1" => Some(Self::Contacts),
            "companies" | "company" | "0-2" => Some(Self::Companies),
            _ => None,
        }
    }

    /// The change-cursor property integrators filter on (spec §3).
    pub fn modified_property(self) -> &'static str {
        match self {
            Self::Contacts => "lastmodifieddate",
            Self::Companies => "hs_lastmodifieddate",
        }
    }

    /// Singular name used in webhook `subscriptionType` (`contact.creation`).
    pub fn singular(self) -> &'static str {
        match self {
            Self::Contacts => "contact",
            Self::Companies => "company",
        }
    }

    /// Properties returned when a read names none (spec §5 default returned properties).
    pub fn default_properties(self) -> &'static [&'static str] {
        match self {
            Self::Contacts => {
                &["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"]
            }
            Self::Companies => &["name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id"],
        }
    }
}

/// Properties the platform computes; API writes to them are rejected as read-only.
pub const READ_ONLY: &[&str] = &[
    "hs_object_id",
    "createdate",
    "lastmodifieddate",
    "hs_lastmodifieddate",
    "hs_merged_object_ids",
    "hs_additional_emails",
];

/// Datetime properties the platform maintains (compared as epoch ms in search).
pub const SYSTEM_DATETIMES: &[&str] = &["createdate", "lastmodifieddate", "hs_lastmodifieddate"];

/// One stored record (live or archived).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// Numeric id (`id` and `hs_object_id`).
    pub id: u64,
    /// Object type.
    pub object: ObjectType,
    /// Stored property values; empty values are not stored (they read back as `null`).
    /// Includes `hs_merged_object_ids` / `hs_additional_emails` (`;`-separated) once set.
    pub properties: BTreeMap<String, String>,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Last modification time, epoch ms (every write bumps it).
    pub updated_ms: i64,
    /// Set while the record is in the recycle bin.
    pub archived_at_ms: Option<i64>,
    /// Set when the record was merged away into that id.
    pub merged_into: Option<u64>,
}

impl Record {
    /// Whether the record is archived.
    pub fn archived(&self) -> bool {
        self.archived_at_ms.is_some()
    }

    /// A property's string value, computed ones included.
    pub fn value(&self, name: &str) -> Option<String> {
        match name {
            "hs_object_id" => Some(self.id.to_string()),
            "createdate" => Some(iso_ms(self.created_ms)),
            "hs_lastmodifieddate" => Some(iso_ms(self.updated_ms)),
            "lastmodifieddate" if self.object == ObjectType::Contacts => Some(iso_ms(self.updated_ms)),
            _ => self.properties.get(name).cloned(),
        }
    }

    /// A datetime property as epoch ms when the platform maintains it.
    pub fn system_ms(&self, name: &str) -> Option<i64> {
        match name {
            "createdate" => Some(self.created_ms),
            "hs_lastmodifieddate" => Some(self.updated_ms),
            "lastmodifieddate" if self.object == ObjectType::Contacts => Some(self.updated_ms),
            _ => None,
        }
    }

    /// Emails identifying the record: `email` plus `hs_additional_emails`, lowercased.
    pub fn emails(&self) -> Vec<String> {
        let mut out: Vec<String> =
            self.properties.get("email").map(|e| e.to_lowercase()).into_iter().collect();
        if let Some(extra) = self.properties.get("hs_additional_emails") {
            out.extend(extra.split(';').filter(|e| !e.is_empty()).map(str::to_lowercase));
        }
        out
    }

    /// Renders the `SimplePublicObject` envelope with the requested properties (defaults when
    /// `requested` is empty). Requested-but-empty properties come back as `null`.
    pub fn render(&self, requested: &[String]) -> Value {
        let mut props = Map::new();
        if requested.is_empty() {
            for p in self.object.default_properties() {
                props.insert((*p).to_string(), self.value(p).map_or(Value::Null, Value::String));
            }
        } else {
            for p in requested {
                props.insert(p.clone(), self.value(p).map_or(Value::Null, Value::String));
            }
        }
        let mut v = json!({
            "id": self.id.to_string(),
            "properties": props,
            "createdAt": iso_ms(self.created_ms),
            "updatedAt": iso_ms(self.updated_ms),
            "archived": self.archived(),
        });
        if let Some(at) = self.archived_at_ms {
            v["archivedAt"] = json!(iso_ms(at));
        }
        v
    }
}

/// Epoch ms → `2024-01-17T19:55:04.281Z` (spec §9).
pub fn iso_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses a datetime filter value: epoch ms digits, or an ISO-8601 string.
pub fn parse_ms(value: &str) -> Option<i64> {
    if let Ok(ms) = value.trim().parse::<i64>() {
        return Some(ms);
    }
    DateTime::parse_from_rfc3339(value.trim()).ok().map(|d| d.timestamp_millis())
}

/// Splits a comma-separated `properties` query parameter.
pub fn split_props(raw: Option<&str>) -> Vec<String> {
    raw.map(|s| s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_iso_millis_and_null_for_requested_empty() {
        let r = Record {
            id: 7,
            object: ObjectType::Contacts,
            properties: BTreeMap::from([("email".to_string(), "a@b.c".to_string())]),
            created_ms: 1_700_000_000_123,
            updated_ms: 1_700_000_000_124,
            archived_at_ms: None,
            merged_into: None,
        };
        let v = r.render(&["email".into(), "phone".into(), "lastmodifieddate".into()]);
        assert_eq!(v["properties"]["phone"], Value::Null);
        assert_eq!(v["properties"]["lastmodifieddate"], "2023-11-14T22:13:20.124Z");
        assert_eq!(v["id"], "7");
        assert!(v["properties"].get("firstname").is_none());
        assert_eq!(parse_ms("2023-11-14T22:13:20.124Z"), Some(1_700_000_000_124));
    }
}
