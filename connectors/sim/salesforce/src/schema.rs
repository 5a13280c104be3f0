//! The three supported sObjects (spec §11): key prefixes, fields with their types and
//! writability, and required fields. Configured external-id fields (`…__c`) are added per sim.

use serde::{Deserialize, Serialize};

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

/// Fields every object has, all read-only, computed from the record's system state.
const SYSTEM: &[(&str, FieldType)] = &[
    ("Id", FieldType::Id),
    ("IsDeleted", FieldType::Bool),
    ("MasterRecordId", FieldType::Id),
    ("CreatedDate", FieldType::DateTime),
    ("LastModifiedDate", FieldType::DateTime),
    ("SystemModstamp", FieldType::DateTime),
];

const CONTACT: &[(&str, FieldType)] = &[
    ("FirstName", FieldType::Text),
    ("LastName", FieldType::Text),
    ("Email", FieldType::Text),
    ("Phone", FieldType::Text),
    ("MobilePhone", FieldType::Text),
    ("AccountId", FieldType::Id),
    ("LeadSource", FieldType::Text),
    ("Title", FieldType::Text),
    ("MailingStreet", FieldType::Text),
    ("MailingCity", FieldType::Text),
    ("MailingState", FieldType::Text),
    ("MailingPostalCode", FieldType::Text),
    ("MailingCountry", FieldType::Text),
    ("OwnerId", FieldType::Id),
];

const LEAD: &[(&str, FieldType)] = &[
    ("FirstName", FieldType::Text),
    ("LastName", FieldType::Text),
    ("Company", FieldType::Text),
    ("Email", FieldType::Text),
    ("Phone", FieldType::Text),
    ("Status", FieldType::Text),
    ("LeadSource", FieldType::Text),
    ("OwnerId", FieldType::Id),
];

/// Lead conversion fields: readable, set only by conversion (control API).
const LEAD_CONVERSION: &[(&str, FieldType)] = &[
    ("IsConverted", FieldType::Bool),
    ("ConvertedContactId", FieldType::Id),
    ("ConvertedAccountId", FieldType::Id),
    ("ConvertedOpportunityId", FieldType::Id),
    ("ConvertedDate", FieldType::Date),
];

const ACCOUNT: &[(&str, FieldType)] = &[
    ("Name", FieldType::Text),
    ("Phone", FieldType::Text),
    ("Website", FieldType::Text),
    ("Industry", FieldType::Text),
    ("Type", FieldType::Text),
    ("BillingStreet", FieldType::Text),
    ("BillingCity", FieldType::Text),
    ("BillingState", FieldType::Text),
    ("BillingPostalCode", FieldType::Text),
    ("BillingCountry", FieldType::Text),
    ("ShippingStreet", FieldType::Text),
    ("ShippingCity", FieldType::Text),
    ("ShippingState", FieldType::Text),
    ("ShippingPostalCode", FieldType::Text),
    ("ShippingCountry", FieldType::Text),
    ("OwnerId", FieldType::Id),
];

/// A resolved field: its canonical name, type and whether API writes may set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Canonical spelling (SOQL and JSON keys are matched case-insensitively).
    pub name: String,
    /// Its type.
    pub ty: FieldType,
    /// Settable through create/update/upsert.
    pub writable: bool,
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

    fn user_fields(self) -> &'static [(&'static str, FieldType)] {
        match self {
            ObjectKind::Contact => CONTACT,
            ObjectKind::Lead => LEAD,
            ObjectKind::Account => ACCOUNT,
        }
    }

    /// Every field in the order `describe` would list them: system, standard, custom.
    pub fn fields(self, custom: &[String]) -> Vec<Field> {
        let mk = |(n, ty): &(&str, FieldType), writable| Field { name: n.to_string(), ty: *ty, writable };
        let mut out: Vec<Field> = SYSTEM.iter().map(|f| mk(f, false)).collect();
        out.extend(self.user_fields().iter().map(|f| mk(f, true)));
        if self == ObjectKind::Lead {
            out.extend(LEAD_CONVERSION.iter().map(|f| mk(f, false)));
        }
        out.extend(custom.iter().map(|c| Field { name: c.clone(), ty: FieldType::Text, writable: true }));
        out
    }

    /// Resolves a field name case-insensitively.
    pub fn field(self, name: &str, custom: &[String]) -> Option<Field> {
        self.fields(custom).into_iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_resolve_case_insensitively_and_system_fields_are_read_only() {
        let custom = vec!["Crosswalk_Id__c".to_string()];
        let f = ObjectKind::Contact.field("systemmodstamp", &custom).unwrap();
        assert_eq!((f.name.as_str(), f.ty, f.writable), ("SystemModstamp", FieldType::DateTime, false));
        assert!(ObjectKind::Contact.field("crosswalk_id__c", &custom).unwrap().writable);
        assert!(ObjectKind::Contact.field("Company", &custom).is_none());
        assert!(ObjectKind::Lead.field("Company", &custom).is_some());
        assert_eq!(ObjectKind::of_id("00Q5g0000000001"), Some(ObjectKind::Lead));
    }
}
