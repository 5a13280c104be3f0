//! The field comparison on hand-made schemas: what the simulators cannot easily be made to say
//! (a cursor that is not filterable, lengths, types, create-only fields).

use std::collections::BTreeMap;
use std::path::Path;

use connector_api::{FieldSchema, FieldType, ObjectSchema};

use super::{Problem, fields, needs_by_system};
use crate::mapping::load_str;

const PAIR: &str = r#"
version = 1
name = "crm__erp"
left = { system = "crm", object = "people" }
right = { system = "erp", object = "Contact" }

[identity]
right_external_id = { field = "Crm_Id__c" }

[creation]
left_to_right = "create"
right_to_left = "link_only"

[fields.code]
rule = "left"
left = "code"
right = "Code__c"

[fields.amount]
rule = "left"
left = "amount_cents"
right = "Amount__c"
transform = { kind = "cents_to_decimal" }

[fields.tier]
rule = "left"
left = "tier"
right = "Tier__c"
transform = { kind = "value_map", map = { "g" = "Gold", "p" = "Platinum-Plus-Extra" } }
"#;

fn text(name: &str, length: Option<u32>) -> FieldSchema {
    let mut f = FieldSchema::new(name, FieldType::Text, "string");
    f.length = length;
    f
}

/// Problems of the pair's right side against `erp` fields, with `crm` fields as sources.
fn problems(erp: Vec<FieldSchema>, crm: Vec<FieldSchema>, cursor_filterable: bool) -> Vec<Problem> {
    let pair = load_str(PAIR, Path::new("crm__erp.toml")).expect("valid mapping");
    let mut stamp = FieldSchema::new("SystemModstamp", FieldType::DateTime, "datetime");
    stamp.filterable = cursor_filterable;
    let mut schema = ObjectSchema::new("Contact", erp.into_iter().chain([stamp]));
    schema.cursor = Some("SystemModstamp".into());
    let mut all = BTreeMap::new();
    all.insert(("crm".to_string(), "people".to_string()), ObjectSchema::new("people", crm));
    all.insert(("erp".to_string(), "Contact".to_string()), schema.clone());
    let needs = needs_by_system(std::slice::from_ref(&pair));
    let mut out = Vec::new();
    fields::check("erp", &needs["erp"]["Contact"], &schema, &all, &mut out);
    out
}

fn good_erp() -> Vec<FieldSchema> {
    let mut ext = text("Crm_Id__c", Some(40));
    ext.external_id = true;
    let mut tier = FieldSchema::new("Tier__c", FieldType::Enumeration, "picklist");
    tier.options = vec!["Gold".into(), "Platinum-Plus-Extra".into()];
    vec![ext, text("Code__c", Some(20)), FieldSchema::new("Amount__c", FieldType::Number, "currency"), tier]
}

fn crm() -> Vec<FieldSchema> {
    vec![text("code", Some(10)), FieldSchema::new("amount_cents", FieldType::Number, "documented")]
}

#[test]
fn a_fitting_schema_has_no_problems() {
    assert_eq!(problems(good_erp(), crm(), true), []);
}

#[test]
fn a_cursor_that_cannot_be_filtered_is_named() {
    let got = problems(good_erp(), crm(), false);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].field.as_deref(), Some("SystemModstamp"));
    assert!(got[0].message.contains("is not filterable"), "{}", got[0]);
}

#[test]
fn lengths_too_short_for_the_source_or_a_mapped_value_are_named() {
    let mut erp = good_erp();
    erp[1].length = Some(5);
    erp[3].length = Some(10);
    let got: Vec<String> = problems(erp, crm(), true).iter().map(ToString::to_string).collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].starts_with("erp Contact.Code__c: holds 5 characters but its source `code` holds 10"),
        "{got:?}"
    );
    assert!(
        got[1].starts_with("erp Contact.Tier__c: pair `crm__erp` writes \"Platinum-Plus-Extra\", longer"),
        "{got:?}"
    );
}

#[test]
fn a_transform_that_cannot_produce_the_field_type_is_named() {
    let mut erp = good_erp();
    erp[2] = FieldSchema::new("Amount__c", FieldType::Bool, "boolean");
    erp[1] = FieldSchema::new("Code__c", FieldType::Date, "date");
    let got: Vec<String> = problems(erp, crm(), true).iter().map(ToString::to_string).collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].contains("Amount__c: is a boolean field, which the `cents_to_decimal` transform"),
        "{got:?}"
    );
    assert!(got[1].contains("Code__c: is a date field, which the `rename` transform"), "{got:?}");
}

#[test]
fn read_only_fields_are_named_for_updates_and_for_creates() {
    let mut erp = good_erp();
    erp[0].creatable = false;
    erp[1].updatable = false;
    let got: Vec<String> = problems(erp, crm(), true).iter().map(ToString::to_string).collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got.iter().any(|l| l.starts_with("erp Contact.Code__c: is read-only") && l.contains("updates it"))
    );
    // The back-link is written after every link, so a non-updatable one is named for updates;
    // here it is updatable but a create cannot set it.
    assert!(
        got.iter().any(|l| l.starts_with("erp Contact.Crm_Id__c: is read-only") && l.contains("creates it"))
    );
}
