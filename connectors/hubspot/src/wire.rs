//! HubSpot CRM v3 wire types, written from specs/hubspot-api.md (§2 envelope, §4 batch, §5
//! search), independent of the simulator: a misreading on either side fails a test.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `SimplePublicObject`: property values are strings (or `null` when requested but empty).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimpleObject {
    /// Numeric id as a string.
    pub id: String,
    /// Requested properties.
    #[serde(default)]
    pub properties: BTreeMap<String, Option<String>>,
    /// Last update (ISO 8601 with ms).
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Whether it is in the recycle bin.
    #[serde(default)]
    pub archived: bool,
    /// When it was archived.
    #[serde(default)]
    pub archived_at: Option<DateTime<Utc>>,
    /// Upsert results only: whether the record was created.
    #[serde(default)]
    pub new: Option<bool>,
}

/// `{"results":[..],"paging":{"next":{"after":".."}}}` (list, search).
#[derive(Debug, Clone, Deserialize)]
pub struct Collection {
    /// The page.
    #[serde(default)]
    pub results: Vec<Value>,
    /// Absent at the end.
    #[serde(default)]
    pub paging: Option<Paging>,
}

/// Forward paging.
#[derive(Debug, Clone, Deserialize)]
pub struct Paging {
    /// The next page, if any.
    #[serde(default)]
    pub next: Option<NextPage>,
}

/// `paging.next`.
#[derive(Debug, Clone, Deserialize)]
pub struct NextPage {
    /// Opaque on lists, an integer offset on search; kept as text either way.
    #[serde(deserialize_with = "any_text")]
    pub after: String,
}

fn any_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

/// A batch answer (200/201/207): results plus optional per-item errors.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchResponse {
    /// Successful items.
    #[serde(default)]
    pub results: Vec<Value>,
    /// Failed items (207).
    #[serde(default)]
    pub errors: Vec<BatchError>,
}

/// One `errors[]` item. Every field is optional (spec §11) and any shape is accepted: the item
/// is kept whole for [`ErrorInfo`](connector_api::http::ErrorInfo), which reads its names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(from = "Value")]
pub struct BatchError {
    /// `VALIDATION_ERROR`, `OBJECT_NOT_FOUND`, `CONFLICT`, …
    pub category: Option<String>,
    /// The item as answered.
    pub raw: Value,
}

impl From<Value> for BatchError {
    fn from(raw: Value) -> Self {
        let category = raw.get("category").and_then(Value::as_str).map(str::to_string);
        Self { category, raw }
    }
}

impl BatchError {
    /// The strings `context.{key}` lists (`objectWriteTraceId`, `ids`, `propertyName`).
    pub fn context(&self, key: &str) -> Vec<String> {
        match self.raw.get("context").and_then(|c| c.get(key)) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }
}

/// One filter of a search group.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// The property.
    pub property_name: String,
    /// `EQ`, `GT`, `GTE`, `LTE`, `HAS_PROPERTY`, …
    pub operator: &'static str,
    /// The value (epoch ms for datetimes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The values of `IN` / `NOT_IN` (strings must be lowercase, spec §5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

impl Filter {
    /// `property operator value`.
    pub fn new(property: &str, operator: &'static str, value: impl ToString) -> Self {
        Self { property_name: property.to_string(), operator, value: Some(value.to_string()), values: None }
    }

    /// A valueless operator (`HAS_PROPERTY`).
    pub fn flag(property: &str, operator: &'static str) -> Self {
        Self { property_name: property.to_string(), operator, value: None, values: None }
    }

    /// `property IN values`. String values must already be lowercase (spec §5).
    pub fn any_of(property: &str, values: Vec<String>) -> Self {
        Self { property_name: property.to_string(), operator: "IN", value: None, values: Some(values) }
    }
}

/// A group: filters ANDed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilterGroup {
    /// The filters.
    pub filters: Vec<Filter>,
}

/// One sort rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sort {
    /// The property.
    pub property_name: String,
    /// `ASCENDING` / `DESCENDING`.
    pub direction: &'static str,
}

/// `PublicObjectSearchRequest`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    /// Groups, ORed.
    pub filter_groups: Vec<FilterGroup>,
    /// At most one.
    pub sorts: Vec<Sort>,
    /// Properties to return.
    pub properties: Vec<String>,
    /// ≤ 200.
    pub limit: usize,
    /// Integer offset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// `POST /batch/read` body.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRead<'a> {
    /// `{"id": ..}` items.
    pub inputs: Vec<IdInput<'a>>,
    /// Properties to return.
    pub properties: &'a [String],
    /// The unique property the input ids are values of (`email`, a custom unique property);
    /// absent when they are record ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_property: Option<&'a str>,
}

/// `{"id": ..}`.
#[derive(Debug, Clone, Serialize)]
pub struct IdInput<'a> {
    /// The id.
    pub id: &'a str,
}

/// One batch write input (create, update, upsert).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteInput {
    /// Record id (update) or the `idProperty` value (upsert); absent on create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Upsert key property.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_property: Option<String>,
    /// Property values, all strings.
    pub properties: BTreeMap<String, String>,
    /// Lets HubSpot report per-item failures (207) for this input (spec §4).
    pub object_write_trace_id: String,
}

/// `{"inputs": [..]}`.
#[derive(Debug, Clone, Serialize)]
pub struct Inputs<T> {
    /// The inputs.
    pub inputs: Vec<T>,
}
