//! The three supported sObjects (spec §11): key prefixes, standard fields with their types,
//! lengths, picklists and writability, and required fields. The org's custom fields (`…__c`,
//! `custom.rs`) follow the standard ones.

use serde::{Deserialize, Serialize};

use crate::custom::CustomField;

/// A field's type, as far as SOQL filtering and rendering care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A record id (compared in 18-char form).
    Id,
    /// Text, picklist, email, phone.
    Text,
    /// A dateTime (unquoted dateTime literals only).
    DateTime,
    /// A date (unquoted date literals only).
    Date,
    /// A checkbox.
    Bool,
}

/// The supported objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ObjectKind {
    /// `003`
    Contact,
    /// `00Q`
    Lead,
    /// `001`
    Account,
}

/// A field's data type as `describe` reports it (`type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SfType {
    /// The record id.
    Id,
    /// A lookup to another record.
    Reference,
    /// Text up to `length`.
    String,
    /// Long text.
    Textarea,
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// A URL.
    Url,
    /// One of the picklist values.
    Picklist,
    /// A checkbox.
    Boolean,
    /// A date.
    Date,
    /// A dateTime.
    Datetime,
    /// A number.
    Double,
}

impl SfType {
    /// How SOQL compares it.
    pub fn soql(self) -> FieldType {
        match self {
            SfType::Id | SfType::Reference => FieldType::Id,
            SfType::Boolean => FieldType::Bool,
            SfType::Date => FieldType::Date,
            SfType::Datetime => FieldType::DateTime,
            _ => FieldType::Text,
        }
    }

    /// `describe`'s `soapType`.
    pub fn soap_type(self) -> &'static str {
        match self {
            SfType::Id | SfType::Reference => "tns:ID",
            SfType::Boolean => "xsd:boolean",
            SfType::Date => "xsd:date",
            SfType::Datetime => "xsd:dateTime",
            SfType::Double => "xsd:double",
            _ => "xsd:string",
        }
    }

    /// Whether values are text with a maximum length.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            SfType::String
                | SfType::Textarea
                | SfType::Email
                | SfType::Phone
                | SfType::Url
                | SfType::Picklist
        )
    }
}

/// (name, type, length); length 0 for non-text types.
type Std = (&'static str, SfType, u32);

/// Fields every object has, all read-only, computed from the record's system state.
const SYSTEM: &[Std] = &[
    ("Id", SfType::Id, 18),
    ("IsDeleted", SfType::Boolean, 0),
    ("MasterRecordId", SfType::Reference, 18),
    ("CreatedDate", SfType::Datetime, 0),
    ("LastModifiedDate", SfType::Datetime, 0),
    ("SystemModstamp", SfType::Datetime, 0),
];

const CONTACT: &[Std] = &[
    ("FirstName", SfType::String, 40),
    ("LastName", SfType::String, 80),
    ("Email", SfType::Email, 80),
    ("Phone", SfType::Phone, 40),
    ("MobilePhone", SfType::Phone, 40),
    ("AccountId", SfType::Reference, 18),
    ("LeadSource", SfType::Picklist, 255),
    ("Title", SfType::String, 128),
    ("MailingStreet", SfType::Textarea, 255),
    ("MailingCity", SfType::String, 40),
    ("MailingState", SfType::String, 80),
    ("MailingPostalCode", SfType::String, 20),
    ("MailingCountry", SfType::String, 80),
    ("OwnerId", SfType::Reference, 18),
];

const LEAD: &[Std] = &[
    ("FirstName", SfType::String, 40),
    ("LastName", SfType::String, 80),
    ("Company", SfType::String, 255),
    ("Email", SfType::Email, 80),
    ("Phone", SfType::Phone, 40),
    ("Status", SfType::Picklist, 255),
    ("LeadSource", SfType::Picklist, 255),
    ("OwnerId", SfType::Reference, 18),
];

/// Lead conversion fields: readable, set only by conversion (control API).
const LEAD_CONVERSION: &[Std] = &[
    ("IsConverted", SfType::Boolean, 0),
    ("ConvertedContactId", SfType::Reference, 18),
    ("ConvertedAccountId", SfType::Reference, 18),
    ("ConvertedOpportunityId", SfType::Reference, 18),
    ("ConvertedDate", SfType::Date, 0),
];

const ACCOUNT: &[Std] = &[
    ("Name", SfType::String, 255),
    ("Phone", SfType::Phone, 40),
    ("Website", SfType::Url, 255),
    ("Industry", SfType::Picklist, 255),
    ("Type", SfType::Picklist, 255),
    ("BillingStreet", SfType::Textarea, 255),
    ("BillingCity", SfType::String, 40),
    ("BillingState", SfType::String, 80),
    ("BillingPostalCode", SfType::String, 20),
    ("BillingCountry", SfType::String, 80),
    ("ShippingStreet", SfType::Textarea, 255),
    ("ShippingCity", SfType::String, 40),
    ("ShippingState", SfType::String, 80),
    ("ShippingPostalCode", SfType::String, 20),
    ("ShippingCountry", SfType::String, 80),
    ("OwnerId", SfType::Reference, 18),
];

/// Standard picklists' values. Standard picklists are not restricted (any value is stored).
fn standard_picklist(object: ObjectKind, name: &str) -> &'static [&'static str] {
    match (object, name) {
        (_, "LeadSource") => &["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"],
        (ObjectKind::Lead, "Status") => {
            &["Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"]
        }
        (ObjectKind::Account, "Industry") => &["Agriculture", "Banking", "Finance", "Healthcare", "Other"],
        (ObjectKind::Account, "Type") => &["Prospect", "Customer - Direct", "Partner", "Other"],
        _ => &[],
    }
}

/// A resolved field: its canonical name, type, writability and what `describe` says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Canonical spelling (SOQL and JSON keys are matched case-insensitively).
    pub name: String,
    /// How SOQL compares it.
    pub ty: FieldType,
    /// Settable through create/update/upsert.
    pub writable: bool,
    /// `describe` type.
    pub kind: SfType,
    /// Maximum length of text values (0: not text).
    pub length: u32,
    /// Label.
    pub label: String,
    /// A custom field (`__c`).
    pub custom: bool,
    /// Flagged External ID.
    pub external_id: bool,
    /// Unique values.
    pub unique: bool,
    /// May be empty.
    pub nillable: bool,
    /// Usable in `WHERE`.
    pub filterable: bool,
    /// Picklist values.
    pub picklist: Vec<String>,
    /// Values outside the picklist are refused.
    pub restricted: bool,
}

impl Field {
    fn standard(object: ObjectKind, (name, kind, length): &Std, writable: bool) -> Self {
        Field {
            name: (*name).to_string(),
            ty: kind.soql(),
            writable,
            kind: *kind,
            length: *length,
            label: label_of(name),
            custom: false,
            external_id: false,
            unique: false,
            nillable: !object.required().contains(name)
                && !matches!(
                    *name,
                    "Id" | "IsDeleted" | "CreatedDate" | "LastModifiedDate" | "SystemModstamp"
                ),
            filterable: true,
            picklist: standard_picklist(object, name).iter().map(|v| (*v).to_string()).collect(),
            restricted: false,
        }
    }

    fn from_custom(c: &CustomField) -> Self {
        Field {
            name: c.name.clone(),
            ty: c.kind.soql(),
            writable: c.updateable,
            kind: c.kind,
            length: if c.kind.is_text() { c.length.unwrap_or(255) } else { 0 },
            label: c.label(),
            custom: true,
            external_id: c.external_id,
            unique: c.unique,
            nillable: c.nillable,
            filterable: c.filterable,
            picklist: c.picklist_values.clone(),
            restricted: c.kind == SfType::Picklist && c.restricted_picklist,
        }
    }
}

/// `FirstName` → `First Name`.
fn label_of(name: &str) -> String {
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if i > 0 && ch.is_uppercase() {
            out.push(' ');
        }
        out.push(ch);
    }
    out
}

impl ObjectKind {
    /// All supported objects.
    pub const ALL: [ObjectKind; 3] = [ObjectKind::Contact, ObjectKind::Lead, ObjectKind::Account];

    /// The API name.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Contact => "Contact",
            ObjectKind::Lead => "Lead",
            ObjectKind::Account => "Account",
        }
    }

    /// The 3-char key prefix of its ids.
    pub fn prefix(self) -> &'static str {
        match self {
            ObjectKind::Contact => "003",
            ObjectKind::Lead => "00Q",
            ObjectKind::Account => "001",
        }
    }

    /// Resolves an object name (case-insensitive, as in SOQL and URLs).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name().eq_ignore_ascii_case(name))
    }

    /// The object an id belongs to, by key prefix.
    pub fn of_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| id.starts_with(o.prefix()))
    }

    /// Fields that must be non-empty after a write (spec §11).
    pub fn required(self) -> &'static [&'static str] {
        match self {
            ObjectKind::Contact => &["LastName"],
            ObjectKind::Lead => &["LastName", "Company"],
            ObjectKind::Account => &["Name"],
        }
    }

    fn user_fields(self) -> &'static [Std] {
        match self {
            ObjectKind::Contact => CONTACT,
            ObjectKind::Lead => LEAD,
            ObjectKind::Account => ACCOUNT,
        }
    }

    /// Every field in the order `describe` lists them: system, standard, then this object's
    /// custom fields.
    pub fn fields(self, custom: &[CustomField]) -> Vec<Field> {
        let mut out: Vec<Field> = SYSTEM.iter().map(|f| Field::standard(self, f, false)).collect();
        out.extend(self.user_fields().iter().map(|f| Field::standard(self, f, true)));
        if self == ObjectKind::Lead {
            out.extend(LEAD_CONVERSION.iter().map(|f| Field::standard(self, f, false)));
        }
        out.extend(custom.iter().filter(|c| c.object == self).map(Field::from_custom));
        out
    }

    /// Resolves a field name case-insensitively (building only the match: writes resolve every
    /// key of every row through this).
    pub fn field(self, name: &str, custom: &[CustomField]) -> Option<Field> {
        let hit = |t: &[Std]| t.iter().find(|(n, ..)| n.eq_ignore_ascii_case(name)).copied();
        let conversion = if self == ObjectKind::Lead { LEAD_CONVERSION } else { &[] };
        if let Some(f) = hit(SYSTEM).or_else(|| hit(conversion)) {
            return Some(Field::standard(self, &f, false));
        }
        if let Some(f) = hit(self.user_fields()) {
            return Some(Field::standard(self, &f, true));
        }
        custom.iter().find(|c| c.object == self && c.name.eq_ignore_ascii_case(name)).map(Field::from_custom)
    }

    /// The object's label.
    pub fn label_plural(self) -> &'static str {
        match self {
            ObjectKind::Contact => "Contacts",
            ObjectKind::Lead => "Leads",
            ObjectKind::Account => "Accounts",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_resolve_case_insensitively_and_system_fields_are_read_only() {
        let custom = vec![CustomField::external_id_text(ObjectKind::Contact, "Crosswalk_Id__c")];
        let f = ObjectKind::Contact.field("systemmodstamp", &custom).unwrap();
        assert_eq!((f.name.as_str(), f.ty, f.writable), ("SystemModstamp", FieldType::DateTime, false));
        assert!(ObjectKind::Contact.field("crosswalk_id__c", &custom).unwrap().writable);
        assert!(ObjectKind::Contact.field("Company", &custom).is_none());
        assert!(ObjectKind::Lead.field("Company", &custom).is_some());
        assert!(ObjectKind::Lead.field("Crosswalk_Id__c", &custom).is_none(), "custom fields are per object");
        let email = ObjectKind::Contact.field("Email", &custom).unwrap();
        assert_eq!((email.kind, email.length, email.nillable), (SfType::Email, 80, true));
        assert!(!ObjectKind::Contact.field("LastName", &custom).unwrap().nillable);
        assert_eq!(ObjectKind::of_id("00Q5g0000000001"), Some(ObjectKind::Lead));
    }
}
