//! Metadata reads: `GET /sobjects` (describeGlobal), `GET /sobjects/{Object}` (basic info),
//! `GET /sobjects/{Object}/describe` (fields with type, length, externalId, unique, updateable,
//! filterable, nillable, picklistValues, …), and the identity URL the token endpoint returns
//! (`GET /id/{orgId}/{userId}`).
//!
//! The spec names describe's `filterable` (§4) but not the shapes; they follow the REST API's
//! DescribeGlobal / DescribeSObjectResult / Field (as typed by jsforce's `describe-result.d.ts`)
//! and the identity service's response (`id`, `user_id`, `organization_id`, `urls.rest`, …).

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::object;
use crate::auth::{ORG_ID, USER_ID, session_valid};
use crate::error::ApiResult;
use crate::gate::ApiVersion;
use crate::schema::{Field, ObjectKind, SfType};
use crate::state::SimState;

fn urls(object: ObjectKind, version: &str) -> Value {
    let base = format!("/services/data/{version}/sobjects/{}", object.name());
    json!({
        "sobject": base, "describe": format!("{base}/describe"),
        "rowTemplate": format!("{base}/{{ID}}"),
    })
}

/// The object-level part shared by describeGlobal, basic info and describe.
fn summary(object: ObjectKind, version: &str) -> Value {
    json!({
        "name": object.name(), "label": object.name(), "labelPlural": object.label_plural(),
        "keyPrefix": object.prefix(), "custom": false, "customSetting": false,
        "createable": true, "updateable": true, "deletable": true, "undeletable": true,
        "queryable": true, "retrieveable": true, "replicateable": true, "searchable": true,
        "mergeable": true, "triggerable": true, "layoutable": true, "activateable": false,
        "feedEnabled": false, "mruEnabled": true, "deprecatedAndHidden": false,
        "urls": urls(object, version),
    })
}

fn reference_to(object: ObjectKind, f: &Field) -> Vec<&'static str> {
    match f.name.as_str() {
        "AccountId" | "ConvertedAccountId" => vec!["Account"],
        "ConvertedContactId" => vec!["Contact"],
        "ConvertedOpportunityId" => vec!["Opportunity"],
        "OwnerId" => vec!["User"],
        "MasterRecordId" => vec![object.name()],
        _ => Vec::new(),
    }
}

/// One field as `describe` lists it.
pub fn field_json(object: ObjectKind, f: &Field) -> Value {
    let picklist: Vec<Value> = f
        .picklist
        .iter()
        .map(|v| json!({"active": true, "defaultValue": false, "label": v, "validFor": null, "value": v}))
        .collect();
    json!({
        "name": f.name, "label": f.label, "type": f.kind, "soapType": f.kind.soap_type(),
        "length": f.length, "byteLength": f.length * 3, "digits": 0, "precision": 0, "scale": 0,
        "custom": f.custom, "externalId": f.external_id, "unique": f.unique,
        "idLookup": f.name == "Id" || f.external_id, "caseSensitive": false,
        "createable": f.writable, "updateable": f.writable, "nillable": f.nillable,
        "filterable": f.filterable, "sortable": f.kind != SfType::Textarea,
        "groupable": f.kind != SfType::Textarea, "aggregatable": true, "calculated": false,
        "autoNumber": false, "defaultedOnCreate": f.name == "OwnerId", "defaultValue": null,
        "dependentPicklist": false, "nameField": f.name == "Name", "picklistValues": picklist,
        "restrictedPicklist": f.restricted, "referenceTo": reference_to(object, f),
        "relationshipName": null, "htmlFormatted": false, "permissionable": f.custom,
    })
}

/// `GET /sobjects`.
pub async fn global(Extension(v): Extension<ApiVersion>) -> Response {
    let sobjects: Vec<Value> = ObjectKind::ALL.iter().map(|o| summary(*o, &v.raw)).collect();
    Json(json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects})).into_response()
}

/// `GET /sobjects/{Object}`.
pub async fn basic_info(
    Extension(v): Extension<ApiVersion>,
    Path((_v, obj)): Path<(String, String)>,
) -> ApiResult<Response> {
    let object = object(&obj)?;
    Ok(Json(json!({"objectDescribe": summary(object, &v.raw), "recentItems": []})).into_response())
}

/// `GET /sobjects/{Object}/describe`.
pub async fn describe(
    State(state): State<SimState>,
    Extension(v): Extension<ApiVersion>,
    Path((_v, obj)): Path<(String, String)>,
) -> ApiResult<Response> {
    let object = object(&obj)?;
    let mut fields = object.fields(&state.custom_fields());
    for f in &mut fields {
        f.filterable = f.filterable && state.filterable(object, &f.name);
    }
    let fields: Vec<Value> = fields.iter().map(|f| field_json(object, f)).collect();
    let mut body = summary(object, &v.raw);
    body["fields"] = json!(fields);
    body["childRelationships"] = json!([]);
    body["recordTypeInfos"] = json!([]);
    body["supportedScopes"] = json!([{"label": "All", "name": "everything"}]);
    body["namedLayoutInfos"] = json!([]);
    Ok(Json(body).into_response())
}

/// Scopes that open the identity URL (`api` includes `id`).
const IDENTITY_SCOPES: &[&str] = &["api", "id", "openid", "profile", "email", "full"];

/// `GET /id/{orgId}/{userId}` with the access token: who the integration user is and the
/// org's REST URLs. A bad token or a foreign id answers 403 `Bad_OAuth_Token` as plain text.
pub async fn identity(
    State(state): State<SimState>,
    headers: HeaderMap,
    Path((org, user)): Path<(String, String)>,
) -> Response {
    let scoped = state.scopes().iter().any(|s| IDENTITY_SCOPES.contains(&s.as_str()));
    if !session_valid(&state, &headers, state.clock.now()) || !scoped || org != ORG_ID || user != USER_ID {
        return (StatusCode::FORBIDDEN, "Bad_OAuth_Token").into_response();
    }
    let instance = state.lock().instance_url.clone().unwrap_or_default();
    let data = format!("{instance}/services/data/v{{version}}");
    Json(json!({
        "id": format!("{instance}/id/{ORG_ID}/{USER_ID}"), "asserted_user": true,
        "user_id": USER_ID, "organization_id": ORG_ID, "username": "integration@crosswalk-sim.example",
        "nick_name": "integration", "display_name": "Integration User",
        "email": "integration@crosswalk-sim.example", "email_verified": true,
        "first_name": "Integration", "last_name": "User", "timezone": "GMT", "active": true,
        "user_type": "STANDARD", "language": "en_US", "locale": "en_US", "utcOffset": 0,
        "is_app_installed": true, "is_lightning_login_user": false,
        "last_modified_date": "2026-01-01T00:00:00.000+0000",
        "urls": {
            "rest": format!("{data}/"), "sobjects": format!("{data}/sobjects/"),
            "query": format!("{data}/query/"), "search": format!("{data}/search/"),
            "recent": format!("{data}/recent/"), "limits": format!("{data}/limits/"),
            "profile": format!("{instance}/{USER_ID}"), "custom_domain": instance,
        },
    }))
    .into_response()
}
