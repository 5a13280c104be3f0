//! The org's custom fields (what an admin creates in Setup, what `describe` lists after the
//! standard fields, and what writes are checked against): from a schema file
//! (`crosswalk sim salesforce --schema FILE`), the control API, or by default the set-up the
//! shipped mappings need (`schema/default.json`).
//!
//! Schema file format (JSON): `{"fields": [{"object": "Contact", "name": "WLCRO_Id__c",
//! "label": "…", "type": "string", "length": 40, "externalId": true, "unique": true,
//! "picklistValues": ["…"], "restrictedPicklist": true, "updateable": true, "filterable": true,
//! "nillable": true}]}`; `type` is one of `string`, `textarea`, `email`, `phone`, `url`,
//! `picklist`, `boolean`, `date`, `datetime`, `double`. Names end in `__c`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::schema::{ObjectKind, SfType};

/// The default custom fields: what an admin creates in Salesforce for the shipped mappings.
pub const DEFAULT_SCHEMA_JSON: &str = include_str!("../schema/default.json");

/// One custom field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomField {
    /// Contact, Lead or Account.
    pub object: ObjectKind,
    /// API name, ending in `__c`.
    pub name: String,
    /// Field label (defaults to the name without `__c`).
    #[serde(default)]
    pub label: String,
    /// Data type.
    #[serde(rename = "type")]
    pub kind: SfType,
    /// Maximum length of text values (default 255).
    #[serde(default)]
    pub length: Option<u32>,
    /// Flagged External ID: usable for upserts and indexed.
    #[serde(default)]
    pub external_id: bool,
    /// Values unique among the object's records (case-insensitive).
    #[serde(default)]
    pub unique: bool,
    /// Picklist values (API names).
    #[serde(default)]
    pub picklist_values: Vec<String>,
    /// Restricted picklist: values outside the list are refused (default true).
    #[serde(default = "yes")]
    pub restricted_picklist: bool,
    /// The integration user may write it (field-level security; default true).
    #[serde(default = "yes")]
    pub updateable: bool,
    /// Usable in SOQL `WHERE` (default true).
    #[serde(default = "yes")]
    pub filterable: bool,
    /// May be empty (default true).
    #[serde(default = "yes")]
    pub nillable: bool,
}

fn yes() -> bool {
    true
}

impl CustomField {
    /// A text External ID field on `object` (the legacy `external_id_fields` shorthand).
    pub fn external_id_text(object: ObjectKind, name: &str) -> Self {
        Self {
            object,
            name: name.to_string(),
            label: String::new(),
            kind: SfType::String,
            length: Some(255),
            external_id: true,
            unique: false,
            picklist_values: Vec::new(),
            restricted_picklist: true,
            updateable: true,
            filterable: true,
            nillable: true,
        }
    }

    /// The label, or the name without `__c`.
    pub fn label(&self) -> String {
        if self.label.is_empty() {
            self.name.trim_end_matches("__c").replace('_', " ")
        } else {
            self.label.clone()
        }
    }
}

/// The custom fields of an org.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Every custom field.
    #[serde(default)]
    pub fields: Vec<CustomField>,
}

impl Default for Schema {
    /// The shipped mappings' set-up (`schema/default.json`).
    fn default() -> Self {
        Self::from_json(DEFAULT_SCHEMA_JSON).expect("schema/default.json is valid")
    }
}

/// A schema file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The file could not be read.
    #[error("cannot read Salesforce schema file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid JSON in the documented format.
    #[error("Salesforce schema {origin} is not valid: {message} (see `crosswalk sim --help` for the format)")]
    Invalid {
        /// File name or "input".
        origin: String,
        /// What is wrong.
        message: String,
    },
}

impl Schema {
    /// No custom fields.
    pub fn empty() -> Self {
        Self { fields: Vec::new() }
    }

    /// Parses and checks a schema document.
    pub fn from_json(text: &str) -> Result<Self, SchemaError> {
        Self::parse(text, "input")
    }

    /// Reads and checks a schema file.
    pub fn load(path: &Path) -> Result<Self, SchemaError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| SchemaError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    fn parse(text: &str, origin: &str) -> Result<Self, SchemaError> {
        let invalid = |message: String| SchemaError::Invalid { origin: origin.to_string(), message };
        let schema: Schema = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        schema.check().map_err(invalid)?;
        Ok(schema)
    }

    /// Names end in `__c`, do not repeat per object or reuse a standard field, picklists have values.
    pub fn check(&self) -> Result<(), String> {
        for (i, f) in self.fields.iter().enumerate() {
            let at = format!("{}.{}", f.object.name(), f.name);
            if !f.name.ends_with("__c") || f.name.len() <= 3 {
                return Err(format!("{at}: custom field names end in __c"));
            }
            if f.object.field(&f.name, &[]).is_some() {
                return Err(format!("{at}: a standard field has this name"));
            }
            let again =
                self.fields[..i].iter().any(|g| g.object == f.object && g.name.eq_ignore_ascii_case(&f.name));
            if again {
                return Err(format!("{at}: listed twice"));
            }
            if f.kind == SfType::Picklist && f.picklist_values.is_empty() {
                return Err(format!("{at}: a picklist needs picklistValues"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schema_has_the_external_id_and_the_status_picklist() {
        let s = Schema::default();
        let id = s.fields.iter().find(|f| f.name == "WLCRO_Id__c").unwrap();
        assert!(id.external_id && id.unique && id.object == ObjectKind::Contact);
        let status = s.fields.iter().find(|f| f.name == "WLCRO_Status__c").unwrap();
        assert_eq!(status.kind, SfType::Picklist);
        assert!(status.picklist_values.iter().any(|v| v == "Active Client"));
        let bad = r#"{"fields":[{"object":"Contact","name":"Email","type":"email"}]}"#;
        assert!(Schema::from_json(bad).unwrap_err().to_string().contains("__c"));
        let std = r#"{"fields":[{"object":"Contact","name":"X__c","type":"picklist"}]}"#;
        assert!(Schema::from_json(std).unwrap_err().to_string().contains("picklistValues"));
    }
}
