//! The account's property definitions (what the Properties API describes and every write is
//! checked against): HubSpot's built-in contact and company properties, plus custom properties
//! given by a schema file (`crosswalk sim hubspot --schema FILE`), the control API, or by default
//! the set-up the shipped mappings need (`schema/default.json`).
//!
//! Schema file format (JSON): `{"properties": [{"object": "contacts", "name": "wlcro_client_id",
//! "label": "…", "type": "string", "fieldType": "text", "hasUniqueValue": true,
//! "readOnlyValue": false, "options": [{"label": "…", "value": "…"}]}]}`; `type` is one of
//! `string`, `number`, `date`, `datetime`, `enumeration`, `bool`, `phone_number`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::model::ObjectType;
use crate::props::LIFECYCLE;

/// The default custom properties: what an admin creates in HubSpot for the shipped mappings.
pub const DEFAULT_SCHEMA_JSON: &str = include_str!("../schema/default.json");

/// A property's data type (`type` in the Properties API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertyType {
    /// Free text.
    String,
    /// A number, stored as its decimal text.
    Number,
    /// A date: midnight UTC (epoch ms) or `YYYY-MM-DD`.
    Date,
    /// A datetime.
    Datetime,
    /// One (or, for `checkbox`, several `;`-separated) of the options' values.
    Enumeration,
    /// `true` / `false`.
    Bool,
    /// A phone number (free text).
    PhoneNumber,
}

/// One enumeration option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PropertyOption {
    /// Shown in the UI.
    pub label: String,
    /// The internal value written through the API.
    pub value: String,
    /// Hidden options stay valid but are not offered in forms.
    #[serde(default)]
    pub hidden: bool,
}

/// One property definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PropertyDef {
    /// `contacts` or `companies`.
    pub object: ObjectType,
    /// Internal name (written through the API).
    pub name: String,
    /// Label (defaults to the name).
    #[serde(default)]
    pub label: String,
    /// Data type.
    #[serde(rename = "type")]
    pub kind: PropertyType,
    /// UI field type (`text`, `select`, `radio`, `checkbox`, `number`, `date`, …).
    pub field_type: String,
    /// Values unique among the object's records; usable as `idProperty`.
    #[serde(default)]
    pub has_unique_value: bool,
    /// `modificationMetadata.readOnlyValue`: the API refuses writes.
    #[serde(default)]
    pub read_only_value: bool,
    /// Enumeration options.
    #[serde(default)]
    pub options: Vec<PropertyOption>,
    /// Built in by HubSpot (`hubspotDefined`); custom properties are not.
    #[serde(skip)]
    pub hubspot_defined: bool,
}

impl PropertyDef {
    /// Whether `value` is one of the options (the whole value; `checkbox` takes `a;b`).
    pub fn allows_option(&self, value: &str) -> bool {
        let has = |v: &str| self.options.iter().any(|o| o.value == v);
        if self.field_type == "checkbox" { value.split(';').all(has) } else { has(value) }
    }
}

/// Which properties exist beyond the built-in ones.
/// (Field-level defaults: a missing list is empty, never the default schema's.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Custom properties with their full definitions.
    #[serde(default)]
    pub properties: Vec<PropertyDef>,
    /// Shorthand (both objects): extra custom text properties.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_properties: Vec<String>,
    /// Shorthand (both objects): custom text properties with `hasUniqueValue`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unique_properties: Vec<String>,
    /// Shorthand (both objects): date-only properties.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub date_properties: Vec<String>,
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
    #[error("cannot read HubSpot schema file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid JSON in the documented format.
    #[error("HubSpot schema {origin} is not valid: {message} (see `crosswalk sim --help` for the format)")]
    Invalid {
        /// File name or "input".
        origin: String,
        /// serde's message, with line and column.
        message: String,
    },
    /// A custom property reuses a built-in name or is listed twice.
    #[error("HubSpot schema {origin}: property {object:?}.{name} is {why}")]
    Clash {
        /// File name or "input".
        origin: String,
        /// The object.
        object: ObjectType,
        /// The property.
        name: String,
        /// "a built-in property" or "listed twice".
        why: &'static str,
    },
}

impl Schema {
    /// No custom properties at all (a bare portal).
    pub fn empty() -> Self {
        Self {
            properties: Vec::new(),
            extra_properties: Vec::new(),
            unique_properties: Vec::new(),
            date_properties: Vec::new(),
        }
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
        let schema: Schema = serde_json::from_str(text)
            .map_err(|e| SchemaError::Invalid { origin: origin.to_string(), message: e.to_string() })?;
        schema.catalog().map_err(|(object, name, why)| SchemaError::Clash {
            origin: origin.to_string(),
            object,
            name,
            why,
        })?;
        Ok(schema)
    }

    /// Every property per object, built-in first, then custom; a custom property that reuses a
    /// built-in name or is listed twice is an error.
    pub fn catalog(&self) -> Result<Catalog, (ObjectType, String, &'static str)> {
        self.build(true)
    }

    /// Like [`Schema::catalog`], but a clashing custom property is skipped (the first one wins).
    pub fn catalog_lenient(&self) -> Catalog {
        self.build(false).unwrap_or_else(|_| Catalog { by_object: BTreeMap::new() })
    }

    fn build(&self, strict: bool) -> Result<Catalog, (ObjectType, String, &'static str)> {
        let mut by_object: BTreeMap<ObjectType, Vec<PropertyDef>> = BTreeMap::new();
        for object in [ObjectType::Contacts, ObjectType::Companies] {
            by_object.insert(object, builtins(object));
        }
        for def in self.properties.iter().cloned().chain(self.shorthand()) {
            let list = by_object.entry(def.object).or_default();
            if let Some(old) = list.iter().find(|p| p.name == def.name) {
                if !strict {
                    continue;
                }
                let why = if old.hubspot_defined { "a built-in property" } else { "listed twice" };
                return Err((def.object, def.name, why));
            }
            let label = if def.label.is_empty() { def.name.clone() } else { def.label.clone() };
            list.push(PropertyDef { label, hubspot_defined: false, ..def });
        }
        Ok(Catalog { by_object })
    }

    fn shorthand(&self) -> Vec<PropertyDef> {
        let text = |name: &String, object, unique| PropertyDef {
            object,
            name: name.clone(),
            label: String::new(),
            kind: PropertyType::String,
            field_type: "text".into(),
            has_unique_value: unique,
            read_only_value: false,
            options: Vec::new(),
            hubspot_defined: false,
        };
        let mut out = Vec::new();
        for object in [ObjectType::Contacts, ObjectType::Companies] {
            out.extend(self.extra_properties.iter().map(|n| text(n, object, false)));
            out.extend(self.unique_properties.iter().map(|n| text(n, object, true)));
            out.extend(self.date_properties.iter().map(|n| PropertyDef {
                kind: PropertyType::Date,
                field_type: "date".into(),
                ..text(n, object, false)
            }));
        }
        out
    }
}

/// The resolved property definitions of both objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    by_object: BTreeMap<ObjectType, Vec<PropertyDef>>,
}

impl Catalog {
    /// All definitions of an object, built-in first.
    pub fn all(&self, object: ObjectType) -> &[PropertyDef] {
        self.by_object.get(&object).map_or(&[], Vec::as_slice)
    }

    /// One definition.
    pub fn get(&self, object: ObjectType, name: &str) -> Option<&PropertyDef> {
        self.all(object).iter().find(|p| p.name == name)
    }

    /// Whether `name` is a unique-value property of `object`.
    pub fn is_unique(&self, object: ObjectType, name: &str) -> bool {
        self.get(object, name).is_some_and(|p| p.has_unique_value)
    }

    /// The custom properties, as a schema document.
    pub fn custom(&self) -> Schema {
        let properties = self.by_object.values().flatten().filter(|p| !p.hubspot_defined).cloned().collect();
        Schema { properties, ..Schema::empty() }
    }

    /// Adds or replaces a custom property (built-in ones cannot be replaced).
    pub fn put(&mut self, def: PropertyDef) -> Result<(), &'static str> {
        let list = self.by_object.entry(def.object).or_default();
        match list.iter_mut().find(|p| p.name == def.name) {
            Some(old) if old.hubspot_defined => return Err("a built-in property"),
            Some(old) => *old = PropertyDef { hubspot_defined: false, ..def },
            None => list.push(PropertyDef { hubspot_defined: false, ..def }),
        }
        Ok(())
    }

    /// Deletes a custom property; `false` when there is none by that name.
    pub fn remove(&mut self, object: ObjectType, name: &str) -> bool {
        let list = self.by_object.entry(object).or_default();
        let before = list.len();
        list.retain(|p| p.hubspot_defined || p.name != name);
        list.len() != before
    }
}

/// (name, label, type, fieldType, read-only)
type Builtin = (&'static str, &'static str, PropertyType, &'static str, bool);

const COMMON: &[Builtin] = &[
    ("phone", "Phone Number", PropertyType::String, "phonenumber", false),
    ("address", "Street Address", PropertyType::String, "text", false),
    ("city", "City", PropertyType::String, "text", false),
    ("state", "State/Region", PropertyType::String, "text", false),
    ("zip", "Postal Code", PropertyType::String, "text", false),
    ("country", "Country/Region", PropertyType::String, "text", false),
    ("website", "Website URL", PropertyType::String, "text", false),
    ("lifecyclestage", "Lifecycle Stage", PropertyType::Enumeration, "radio", false),
    ("hs_object_id", "Record ID", PropertyType::Number, "number", true),
    ("createdate", "Create Date", PropertyType::Datetime, "date", true),
    ("hs_lastmodifieddate", "Object last modified date/time", PropertyType::Datetime, "date", true),
    ("hs_merged_object_ids", "Merged record IDs", PropertyType::Enumeration, "checkbox", true),
];

const CONTACT: &[Builtin] = &[
    ("email", "Email", PropertyType::String, "text", false),
    ("firstname", "First Name", PropertyType::String, "text", false),
    ("lastname", "Last Name", PropertyType::String, "text", false),
    ("mobilephone", "Mobile Phone Number", PropertyType::String, "phonenumber", false),
    ("company", "Company Name", PropertyType::String, "text", false),
    ("jobtitle", "Job Title", PropertyType::String, "text", false),
    ("lastmodifieddate", "Last Modified Date", PropertyType::Datetime, "date", true),
    ("hs_additional_emails", "Additional email addresses", PropertyType::Enumeration, "checkbox", true),
];

const COMPANY: &[Builtin] = &[
    ("name", "Company name", PropertyType::String, "text", false),
    ("domain", "Company Domain Name", PropertyType::String, "text", false),
    ("industry", "Industry", PropertyType::String, "text", false),
];

fn lifecycle_options() -> Vec<PropertyOption> {
    let label = |v: &str| match v {
        "marketingqualifiedlead" => "Marketing Qualified Lead".to_string(),
        "salesqualifiedlead" => "Sales Qualified Lead".to_string(),
        other => {
            let mut c = other.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
        }
    };
    LIFECYCLE
        .iter()
        .map(|v| PropertyOption { label: label(v), value: (*v).to_string(), hidden: false })
        .collect()
}

fn builtins(object: ObjectType) -> Vec<PropertyDef> {
    let own = match object {
        ObjectType::Contacts => CONTACT,
        ObjectType::Companies => COMPANY,
    };
    own.iter()
        .chain(COMMON)
        .map(|(name, label, kind, field_type, read_only)| PropertyDef {
            object,
            name: (*name).to_string(),
            label: (*label).to_string(),
            kind: *kind,
            field_type: (*field_type).to_string(),
            has_unique_value: false,
            read_only_value: *read_only,
            options: if *name == "lifecyclestage" { lifecycle_options() } else { Vec::new() },
            hubspot_defined: true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schema_has_the_unique_client_id_and_refuses_clashes() {
        let c = Schema::default().catalog().unwrap();
        assert!(c.is_unique(ObjectType::Contacts, "wlcro_client_id"));
        assert!(!c.is_unique(ObjectType::Companies, "wlcro_client_id"));
        assert!(c.get(ObjectType::Contacts, "lifecyclestage").unwrap().allows_option("customer"));
        assert!(c.get(ObjectType::Contacts, "createdate").unwrap().read_only_value);
        let clash =
            r#"{"properties":[{"object":"contacts","name":"email","type":"string","fieldType":"text"}]}"#;
        assert!(matches!(
            Schema::from_json(clash),
            Err(SchemaError::Clash { why: "a built-in property", .. })
        ));
        let bad = r#"{"properties":[{"object":"contacts","name":"x","type":"text","fieldType":"text"}]}"#;
        let e = Schema::from_json(bad).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
