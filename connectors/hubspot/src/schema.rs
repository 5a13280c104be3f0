//! What the account says about itself: the Properties API (`GET /crm/v3/properties/{object}`:
//! `type`, `fieldType`, `hasUniqueValue`, `modificationMetadata.readOnlyValue`, `options`) as an
//! [`ObjectSchema`], and the token's scopes, read from the private-app token-info endpoint or,
//! when that cannot answer, from the `MISSING_SCOPES` 403s of read-only probes.

use std::collections::BTreeSet;

use connector_api::http::RequestSpec;
use connector_api::{AccessNeed, ConnectorError, FieldSchema, FieldType, MissingScope, ObjectSchema};
use http::StatusCode;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::Value;

use crate::client::Api;
use crate::{HubspotConnector, Object};

/// One property as the Properties API describes it (every part optional).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Property {
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    field_type: String,
    #[serde(default)]
    has_unique_value: bool,
    #[serde(default)]
    calculated: bool,
    #[serde(default)]
    modification_metadata: Option<Modification>,
    #[serde(default)]
    options: Vec<PropertyOption>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Modification {
    #[serde(default)]
    read_only_value: bool,
}

#[derive(Debug, Deserialize)]
struct PropertyOption {
    value: String,
}

#[derive(Debug, Deserialize)]
struct Properties {
    results: Vec<Property>,
}

impl Property {
    fn field_type(&self) -> FieldType {
        match (self.kind.as_str(), self.field_type.as_str()) {
            ("enumeration", "checkbox") => FieldType::MultiEnumeration,
            ("enumeration", _) => FieldType::Enumeration,
            ("number", _) => FieldType::Number,
            ("bool", _) => FieldType::Bool,
            ("date", _) => FieldType::Date,
            ("datetime", _) => FieldType::DateTime,
            ("phone_number", _) | ("string", "phonenumber") => FieldType::Phone,
            ("string", _) => FieldType::Text,
            _ => FieldType::Other,
        }
    }

    fn into_field(self) -> FieldSchema {
        let field_type = self.field_type();
        let writable = !self.calculated && !self.modification_metadata.is_some_and(|m| m.read_only_value);
        let mut f = FieldSchema::new(&self.name, field_type, &self.kind);
        f.updatable = writable;
        f.creatable = writable;
        f.unique = self.has_unique_value;
        f.external_id = self.has_unique_value || self.name == "email" || self.name == "hs_object_id";
        f.restricted = matches!(field_type, FieldType::Enumeration | FieldType::MultiEnumeration);
        f.options = self.options.into_iter().map(|o| o.value).collect();
        f
    }
}

/// Reads `object`'s properties.
pub(crate) async fn schema(c: &HubspotConnector, object: Object) -> Result<ObjectSchema, ConnectorError> {
    let url = format!("{}/crm/v3/properties/{}", c.api.base, object.name());
    let props: Properties = c.api.get_json(url, None).await?;
    let mut schema = ObjectSchema::new(object.name(), props.results.into_iter().map(Property::into_field));
    schema.cursor = Some(object.modified_property().to_string());
    schema.upsert_key = Some(c.config.unique_property.clone());
    Ok(schema)
}

/// The scopes `needs` call for: read the objects and their properties, write where needed.
fn wanted(needs: &[AccessNeed]) -> Vec<MissingScope> {
    let mut out = Vec::new();
    for n in needs {
        let o = &n.object;
        out.push(MissingScope { scope: format!("crm.objects.{o}.read"), needed_for: format!("reading {o}") });
        out.push(MissingScope {
            scope: format!("crm.schemas.{o}.read"),
            needed_for: format!("reading the {o} properties, for checks and schema drift"),
        });
        if n.write {
            out.push(MissingScope {
                scope: format!("crm.objects.{o}.write"),
                needed_for: format!("writing {o}"),
            });
        }
    }
    out
}

/// The scopes the token lacks for `needs`.
pub(crate) async fn missing_scopes(
    c: &HubspotConnector,
    needs: &[AccessNeed],
) -> Result<Vec<MissingScope>, ConnectorError> {
    let wanted = wanted(needs);
    if let Some(granted) = token_scopes(c).await? {
        return Ok(wanted.into_iter().filter(|w| !granted.contains(&w.scope)).collect());
    }
    // No token info (not a private-app token): a read answers 403 MISSING_SCOPES when a read
    // scope is missing; write scopes cannot be seen without writing.
    let mut missing = Vec::new();
    for n in needs {
        for (url, fallback) in [
            (c.api.url(&n.object, "?limit=1"), format!("crm.objects.{}.read", n.object)),
            (
                format!("{}/crm/v3/properties/{}", c.api.base, n.object),
                format!("crm.schemas.{}.read", n.object),
            ),
        ] {
            let spec = RequestSpec::get(url).accept(StatusCode::FORBIDDEN);
            let resp = c.api.send(spec, false).await?;
            if resp.status() == StatusCode::FORBIDDEN {
                let named = required_scopes(resp.body());
                let names = if named.is_empty() { vec![fallback] } else { named };
                let of = wanted.iter().find(|w| names.contains(&w.scope));
                let needed_for = of.map_or_else(|| format!("reading {}", n.object), |w| w.needed_for.clone());
                missing.extend(
                    names.into_iter().map(|scope| MissingScope { scope, needed_for: needed_for.clone() }),
                );
            }
        }
    }
    missing.dedup();
    Ok(missing)
}

/// `POST /oauth/v2/private-apps/get/access-token-info`: the private app's scopes, or `None` when
/// the endpoint does not know the token (an OAuth token, or an API without the endpoint). The
/// token goes only to the configured HubSpot host, in the body, and is never logged.
async fn token_scopes(c: &HubspotConnector) -> Result<Option<BTreeSet<String>>, ConnectorError> {
    let url = format!("{}/oauth/v2/private-apps/get/access-token-info", c.api.base);
    let body = serde_json::json!({ "tokenKey": c.config.token.expose_secret() });
    let spec = RequestSpec::post(url)
        .json(&body)?
        .idempotent(true)
        .accept(StatusCode::NOT_FOUND)
        .accept(StatusCode::BAD_REQUEST)
        .log_as("POST /oauth/v2/private-apps/get/access-token-info");
    let resp = c.api.send(spec, false).await?;
    if !resp.status().is_success() {
        return Ok(None);
    }
    let v: Value = Api::decode("token info", resp.body())?;
    let Some(scopes) = v.get("scopes").and_then(Value::as_array) else { return Ok(None) };
    Ok(Some(scopes.iter().filter_map(Value::as_str).map(str::to_string).collect()))
}

/// The scopes a `MISSING_SCOPES` body names (`errors[].context.requiredGranularScopes` or
/// `requiredScopes`).
fn required_scopes(body: &[u8]) -> Vec<String> {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    let errors = v.get("errors").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut out: Vec<String> = errors
        .iter()
        .filter_map(|e| e.get("context"))
        .flat_map(|ctx| {
            ["requiredGranularScopes", "requiredScopes"]
                .into_iter()
                .filter_map(|k| ctx.get(k).and_then(Value::as_array).cloned())
                .flatten()
        })
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn properties_become_fields_with_writability_uniqueness_and_options() {
        let body = json!({"results": [
            {"name": "lifecyclestage", "type": "enumeration", "fieldType": "select",
             "options": [{"label": "Lead", "value": "lead"}, {"label": "Customer", "value": "customer"}],
             "modificationMetadata": {"readOnlyValue": false}},
            {"name": "wlcro_client_id", "type": "string", "fieldType": "text", "hasUniqueValue": true},
            {"name": "hs_object_id", "type": "number", "modificationMetadata": {"readOnlyValue": true}},
        ]});
        let props: Properties = serde_json::from_value(body).unwrap();
        let s = ObjectSchema::new("contacts", props.results.into_iter().map(Property::into_field));
        let stage = s.field("lifecyclestage").unwrap();
        assert_eq!(stage.field_type, FieldType::Enumeration);
        assert_eq!(stage.options, ["lead", "customer"]);
        assert!(stage.restricted && stage.updatable && !stage.unique);
        let id = s.field("wlcro_client_id").unwrap();
        assert!(id.unique && id.external_id && id.updatable);
        assert!(!s.field("hs_object_id").unwrap().updatable);
    }

    #[test]
    fn missing_scope_bodies_name_granular_scopes_first() {
        let body = json!({"category": "MISSING_SCOPES", "errors": [{"message": "m", "context": {
            "requiredGranularScopes": ["crm.objects.contacts.write"], "requiredScopes": ["contacts"]}}]});
        let got = required_scopes(body.to_string().as_bytes());
        assert_eq!(got, ["contacts", "crm.objects.contacts.write"]);
        assert!(required_scopes(b"not json").is_empty());
    }
}
