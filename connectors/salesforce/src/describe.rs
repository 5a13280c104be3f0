//! What the org says about an object: `GET /sobjects/{Object}/describe` (fields with `type`,
//! `updateable`, `createable`, `unique`, `externalId`, `filterable`, `length`, `picklistValues`,
//! `restrictedPicklist`) as an [`ObjectSchema`], and the scopes of the token response.

use connector_api::http::RequestSpec;
use connector_api::{AccessNeed, ConnectorError, FieldSchema, FieldType, MissingScope, ObjectSchema};
use serde::Deserialize;

use crate::api::{Api, Target};

/// One field of a describe answer (every part but the name optional).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Field {
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    updateable: bool,
    #[serde(default)]
    createable: bool,
    #[serde(default)]
    unique: bool,
    #[serde(default)]
    external_id: bool,
    #[serde(default)]
    filterable: bool,
    #[serde(default)]
    length: u32,
    #[serde(default)]
    picklist_values: Vec<Picklist>,
    #[serde(default)]
    restricted_picklist: bool,
}

#[derive(Debug, Deserialize)]
struct Picklist {
    value: String,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
struct Describe {
    fields: Vec<Field>,
}

impl Field {
    fn field_type(&self) -> FieldType {
        match self.kind.as_str() {
            "string" | "textarea" | "url" | "encryptedstring" | "combobox" => FieldType::Text,
            "email" => FieldType::Email,
            "phone" => FieldType::Phone,
            "picklist" => FieldType::Enumeration,
            "multipicklist" => FieldType::MultiEnumeration,
            "double" | "int" | "long" | "currency" | "percent" => FieldType::Number,
            "boolean" => FieldType::Bool,
            "date" => FieldType::Date,
            "datetime" => FieldType::DateTime,
            "id" | "reference" => FieldType::Id,
            _ => FieldType::Other,
        }
    }

    fn into_field(self) -> FieldSchema {
        let mut f = FieldSchema::new(&self.name, self.field_type(), &self.kind);
        f.updatable = self.updateable;
        f.creatable = self.createable;
        f.unique = self.unique || self.kind == "id";
        f.external_id = self.external_id;
        f.filterable = self.filterable;
        f.length = (self.length > 0).then_some(self.length);
        f.restricted = self.restricted_picklist;
        f.options = self.picklist_values.into_iter().filter(|p| p.active).map(|p| p.value).collect();
        f
    }
}

/// Reads `object`'s describe; pulls filter on `SystemModstamp`, creates upsert on `external_id`.
pub(crate) async fn describe(
    api: &Api,
    object: &str,
    external_id: &str,
) -> Result<ObjectSchema, ConnectorError> {
    let path = format!("/sobjects/{object}/describe");
    let label = format!("GET /sobjects/{object}/describe");
    let d: Describe =
        api.send_json(Target::Data(&path), |u| RequestSpec::get(u).log_as(label.clone())).await?;
    let mut schema = ObjectSchema::new(object, d.fields.into_iter().map(Field::into_field));
    schema.cursor = Some("SystemModstamp".into());
    schema.upsert_key = Some(external_id.to_string());
    Ok(schema)
}

/// The scopes the token lacks: REST calls need `api` (or `full`, which includes it). Logs in,
/// then reads `/limits` to prove the session works. Nothing is said when the token response
/// names no scopes.
pub(crate) async fn missing_scopes(
    api: &Api,
    needs: &[AccessNeed],
) -> Result<Vec<MissingScope>, ConnectorError> {
    let granted = api.granted_scopes().await?;
    let has = |s: &str| granted.as_ref().is_none_or(|g| g.iter().any(|x| x == s));
    if !has("api") && !has("full") {
        let objects: Vec<&str> = needs.iter().map(|n| n.object.as_str()).collect();
        let needed_for = format!("REST access to {}", objects.join(", "));
        return Ok(vec![MissingScope { scope: "api".into(), needed_for }]);
    }
    api.send(Target::Data("/limits"), |u| RequestSpec::get(u).log_as("GET limits")).await?;
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn describe_fields_carry_writability_external_ids_picklists_and_lengths() {
        let body = json!({"name": "Contact", "fields": [
            {"name": "Id", "type": "id", "updateable": false, "createable": false, "filterable": true, "length": 18},
            {"name": "LastName", "type": "string", "updateable": true, "createable": true, "length": 80},
            {"name": "WLCRO_Id__c", "type": "string", "externalId": true, "unique": true, "updateable": true,
             "createable": true, "filterable": true, "length": 40},
            {"name": "LeadSource", "type": "picklist", "updateable": true, "restrictedPicklist": true,
             "picklistValues": [{"value": "Web", "active": true}, {"value": "Old", "active": false}]},
        ]});
        let d: Describe = serde_json::from_value(body).unwrap();
        let s = ObjectSchema::new("Contact", d.fields.into_iter().map(Field::into_field));
        assert!(!s.field("Id").unwrap().updatable && s.field("Id").unwrap().unique);
        assert_eq!(s.field("lastname").unwrap().length, Some(80));
        let ext = s.field("WLCRO_Id__c").unwrap();
        assert!(ext.external_id && ext.unique && ext.filterable);
        let src = s.field("LeadSource").unwrap();
        assert_eq!(
            (src.field_type, src.options.clone(), src.restricted),
            (FieldType::Enumeration, vec!["Web".into()], true)
        );
    }
}
