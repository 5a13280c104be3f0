//! What a remote says about its own schema and credentials: the fields of an object (type,
//! writability, uniqueness, allowed values, length) and the scopes a token lacks. Read by
//! `crosswalk check --remote` and by schema-drift detection; a system that cannot say answers
//! `None` (see [`crate::Connector::schema`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The kind of value a remote field holds, as far as a transform cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Free text (string, textarea, url).
    Text,
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// A number (integer, decimal, currency, percent).
    Number,
    /// True / false.
    Bool,
    /// A calendar date.
    Date,
    /// A point in time.
    DateTime,
    /// One value out of a list (HubSpot enumeration, Salesforce picklist).
    Enumeration,
    /// Several values out of a list (Salesforce multi-select picklist, HubSpot checkboxes).
    MultiEnumeration,
    /// A record id or a reference to another record.
    Id,
    /// Anything else (address, location, JSON, …).
    Other,
}

impl FieldType {
    /// True when a transform that produces text can write this type.
    pub fn takes_text(self) -> bool {
        matches!(self, Self::Text | Self::Email | Self::Phone | Self::Enumeration | Self::Other)
    }
}

/// One field of a remote object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSchema {
    /// The field's name as the API spells it.
    pub name: String,
    /// What kind of value it holds.
    pub field_type: FieldType,
    /// The remote's own type name (`enumeration`, `picklist`, `string`), for messages.
    pub remote_type: String,
    /// Whether an update may set it (HubSpot: not `readOnlyValue`; Salesforce: `updateable`).
    pub updatable: bool,
    /// Whether a create may set it (Salesforce: `createable`).
    pub creatable: bool,
    /// Whether its values are unique across the object (HubSpot `hasUniqueValue`, Salesforce
    /// `unique`).
    pub unique: bool,
    /// Whether upserts can key on it (HubSpot: unique-value properties; Salesforce `externalId`).
    pub external_id: bool,
    /// Whether queries can filter on it (Salesforce `filterable`; HubSpot search: always).
    pub filterable: bool,
    /// Allowed values (internal names / picklist API values) for enumerations; empty otherwise.
    pub options: Vec<String>,
    /// True when only `options` are accepted (HubSpot enumerations, restricted picklists).
    pub restricted: bool,
    /// The longest text it holds, when the remote says.
    pub length: Option<u32>,
}

impl FieldSchema {
    /// A writable, filterable, non-unique field of `field_type` with no options or length.
    pub fn new(name: impl Into<String>, field_type: FieldType, remote_type: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            field_type,
            remote_type: remote_type.into(),
            updatable: true,
            creatable: true,
            unique: false,
            external_id: false,
            filterable: true,
            options: Vec::new(),
            restricted: false,
            length: None,
        }
    }
}

/// The fields of one object, as the remote describes them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ObjectSchema {
    /// The object's name in the system.
    pub object: String,
    /// Fields by name.
    pub fields: BTreeMap<String, FieldSchema>,
    /// The field the connector's pulls filter on (Salesforce `SystemModstamp`), which must exist
    /// and be filterable; `None` when pulls need no field filter.
    pub cursor: Option<String>,
    /// The field the connector's creates upsert on (HubSpot's unique property, Salesforce's
    /// external-id field), which must exist and be unique / an external id.
    pub upsert_key: Option<String>,
}

impl ObjectSchema {
    /// A schema of `object` holding `fields`.
    pub fn new(object: impl Into<String>, fields: impl IntoIterator<Item = FieldSchema>) -> Self {
        let fields = fields.into_iter().map(|f| (f.name.clone(), f)).collect();
        Self { object: object.into(), fields, cursor: None, upsert_key: None }
    }

    /// A field by name; exact first, then ignoring ASCII case (Salesforce names are
    /// case-insensitive).
    pub fn field(&self, name: &str) -> Option<&FieldSchema> {
        self.fields.get(name).or_else(|| self.fields.values().find(|f| f.name.eq_ignore_ascii_case(name)))
    }
}

/// What a configuration needs to do with one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessNeed {
    /// The object.
    pub object: String,
    /// True when some pair writes to it (creates, updates or back-links).
    pub write: bool,
}

/// A scope the credentials lack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingScope {
    /// The scope's name as the remote spells it (`crm.objects.contacts.write`, `events:read`).
    pub scope: String,
    /// What it is needed for (`reading contacts`), for the message.
    pub needed_for: String,
}
