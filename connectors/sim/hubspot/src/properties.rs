//! The read side of HubSpot's Properties API (`GET /crm/v3/properties/{objectType}` and
//! `…/{propertyName}`, also under `/crm/properties/2026-03`), the private-app token-info call
//! (`POST /oauth/v2/private-apps/get/access-token-info`) and per-token scopes: the 403
//! `MISSING_SCOPES` answer for a call the token's scopes do not cover.
//!
//! The spec is silent on these; shapes follow HubSpot's reference pages
//! (developers.hubspot.com/docs/api-reference/legacy/crm/properties/get-properties: `results[]` of
//! `name, label, type, fieldType, groupName, options[], hasUniqueValue, modificationMetadata{…}`)
//! and the private-apps guide (`POST /oauth/v2/private-apps/get/access-token-info`).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::SimState;
use crate::error::{ApiError, ApiResult};
use crate::model::ObjectType;
use crate::objects::{object_type, parse_body};
use crate::schema::PropertyDef;

/// `createdAt`/`updatedAt` shown on every definition (the simulator keeps no schema history).
const DEFINED_AT: &str = "2026-01-01T00:00:00.000Z";
/// The simulated account and app.
const HUB_ID: u64 = 4_242_424;
const APP_ID: u64 = 77_777;
const USER_ID: u64 = 1_010_101;

/// A definition as the Properties API renders it.
pub fn render(def: &PropertyDef) -> Value {
    let options: Vec<Value> = def
        .options
        .iter()
        .enumerate()
        .map(|(i, o)| {
            json!({"label": o.label, "value": o.value, "description": "", "displayOrder": i, "hidden": o.hidden})
        })
        .collect();
    let group = match def.object {
        ObjectType::Contacts => "contactinformation",
        ObjectType::Companies => "companyinformation",
    };
    let mut v = json!({
        "name": def.name, "label": def.label, "type": def.kind, "fieldType": def.field_type,
        "description": "", "groupName": group, "options": options, "displayOrder": -1,
        "calculated": false, "externalOptions": false, "hasUniqueValue": def.has_unique_value,
        "hidden": false, "formField": !def.read_only_value, "archived": false,
        "createdAt": DEFINED_AT, "updatedAt": DEFINED_AT,
        "modificationMetadata": {
            "archivable": !def.hubspot_defined, "readOnlyDefinition": def.hubspot_defined,
            "readOnlyOptions": def.hubspot_defined, "readOnlyValue": def.read_only_value,
        },
    });
    if def.hubspot_defined {
        v["hubspotDefined"] = json!(true);
    }
    v
}

/// `GET /crm/v3/properties/{objectType}`: every definition (`archived=true` lists archived
/// ones, of which the simulator keeps none).
pub async fn list(
    State(state): State<SimState>,
    Path(object): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let object = object_type(&object)?;
    if q.get("archived").is_some_and(|v| v == "true") {
        return Ok(Json(json!({ "results": [] })));
    }
    let inner = state.lock();
    let results: Vec<Value> = inner.store.catalog.all(object).iter().map(render).collect();
    Ok(Json(json!({ "results": results })))
}

/// `GET /crm/v3/properties/{objectType}/{propertyName}` → the definition or 404.
pub async fn get_one(
    State(state): State<SimState>,
    Path((object, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let object = object_type(&object)?;
    let inner = state.lock();
    let def = inner.store.catalog.get(object, &name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            format!("Unable to find property {name} for object type {}", object.singular()),
        )
    })?;
    Ok(Json(render(def)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenInfoBody {
    token_key: String,
}

/// Every scope the simulator knows; a token without a configured list has all of them.
pub const ALL_SCOPES: &[&str] = &[
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.companies.read",
    "crm.objects.companies.write",
    "crm.schemas.contacts.read",
    "crm.schemas.companies.read",
];

impl SimState {
    /// The scopes granted to `token`.
    pub fn scopes_of(&self, token: &str) -> Vec<String> {
        match self.lock().token_scopes.get(token) {
            Some(list) => list.clone(),
            None => ALL_SCOPES.iter().map(|s| (*s).to_string()).collect(),
        }
    }
}

impl SimState {
    /// Grants `token` exactly `scopes` (an admin editing the private app's scopes).
    pub fn set_scopes(&self, token: &str, scopes: Vec<String>) {
        self.lock().token_scopes.insert(token.to_string(), scopes);
    }
}

/// `POST /oauth/v2/private-apps/get/access-token-info` `{"tokenKey": …}` → the token's
/// `userId`, `hubId`, `appId` and `scopes`; an unknown token answers 401.
pub async fn token_info(State(state): State<SimState>, body: Bytes) -> ApiResult<Json<Value>> {
    let b: TokenInfoBody = parse_body(&body)?;
    if !state.config.tokens.contains(&b.token_key) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "The access token is not valid for any private app",
        ));
    }
    let scopes = state.scopes_of(&b.token_key);
    Ok(Json(json!({ "userId": USER_ID, "hubId": HUB_ID, "appId": APP_ID, "scopes": scopes })))
}

/// The scopes of which a call needs one: objects read/write, properties read (schemas or
/// objects read). `None` for calls that need no CRM scope.
pub fn required_scopes(method: &Method, path: &str) -> Option<Vec<String>> {
    let (rest, schema) = if let Some(r) =
        path.strip_prefix("/crm/v3/objects/").or_else(|| path.strip_prefix("/crm/objects/2026-03/"))
    {
        (r, false)
    } else if let Some(r) =
        path.strip_prefix("/crm/v3/properties/").or_else(|| path.strip_prefix("/crm/properties/2026-03/"))
    {
        (r, true)
    } else {
        return None;
    };
    let mut segments = rest.split('/');
    let object = ObjectType::parse(segments.next()?)?;
    let name = match object {
        ObjectType::Contacts => "contacts",
        ObjectType::Companies => "companies",
    };
    if schema {
        return Some(vec![format!("crm.schemas.{name}.read"), format!("crm.objects.{name}.read")]);
    }
    let tail: Vec<&str> = segments.collect();
    let reads = *method == Method::GET || matches!(tail.as_slice(), ["search"] | ["batch", "read"]);
    Some(vec![format!("crm.objects.{name}.{}", if reads { "read" } else { "write" })])
}

/// The 403 a call without a needed scope gets.
pub fn missing_scopes(required: &[String]) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::FORBIDDEN,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. Read more about required \
         scopes here: https://developers.hubspot.com/scopes.",
    );
    e.errors = vec![json!({
        "message": "One or more of the following scopes are required.",
        "context": { "requiredGranularScopes": required },
    })];
    e.context = None;
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_object_and_verb() {
        let s = |m: Method, p: &str| required_scopes(&m, p).unwrap_or_default();
        assert_eq!(s(Method::GET, "/crm/v3/objects/contacts/1"), ["crm.objects.contacts.read"]);
        assert_eq!(s(Method::POST, "/crm/v3/objects/contacts/search"), ["crm.objects.contacts.read"]);
        assert_eq!(
            s(Method::POST, "/crm/v3/objects/companies/batch/upsert"),
            ["crm.objects.companies.write"]
        );
        assert_eq!(s(Method::GET, "/crm/v3/properties/contacts")[0], "crm.schemas.contacts.read");
        assert!(required_scopes(&Method::GET, "/account-info/v3/api-usage/daily/private-apps").is_none());
    }
}
