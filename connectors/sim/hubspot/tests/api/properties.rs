//! The Properties API, the schema behind writes (custom, unique, enumeration, read-only, typed
//! values), the control API's schema routes, scopes, and HubSpot-shaped errors for unknown routes.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sim_hubspot::SimConfig;

use crate::common::*;

#[tokio::test]
async fn properties_api_lists_and_gets_definitions_of_the_default_schema() {
    let s = sim().await;
    let all = s.get("/crm/v3/properties/contacts").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let results = all.body["results"].as_array().unwrap();
    let id = results.iter().find(|p| p["name"] == "wlcro_client_id").expect("default custom property");
    assert_eq!(id["hasUniqueValue"], true);
    assert_eq!(id["type"], "string");
    assert_eq!(id["fieldType"], "text");
    assert_eq!(id["modificationMetadata"]["readOnlyValue"], false);
    assert!(id.get("hubspotDefined").is_none());
    let stage = s.get("/crm/properties/2026-03/contacts/lifecyclestage").await;
    assert_eq!(stage.body["type"], "enumeration");
    let values: Vec<&str> =
        stage.body["options"].as_array().unwrap().iter().map(|o| o["value"].as_str().unwrap()).collect();
    assert!(values.contains(&"salesqualifiedlead") && values.contains(&"other"), "{values:?}");
    let created = s.get("/crm/v3/properties/contacts/createdate").await;
    assert_eq!(created.body["modificationMetadata"]["readOnlyValue"], true);
    assert_error(&s.get("/crm/v3/properties/contacts/nope").await, 404, "OBJECT_NOT_FOUND");
    let companies = s.get("/crm/v3/properties/companies").await;
    assert!(companies.body["results"].as_array().unwrap().iter().all(|p| p["name"] != "wlcro_client_id"));
}

#[tokio::test]
async fn writes_follow_the_schema_and_a_deleted_property_stops_reading_back() {
    let s = sim().await;
    let enum_prop = json!({"object": "contacts", "name": "tier", "type": "enumeration", "fieldType": "select",
        "options": [{"label": "Gold", "value": "gold"}]});
    let put = s.client.post(s.url("/_sim/schema/properties")).json(&enum_prop).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let num = json!({"object": "contacts", "name": "score", "type": "number", "fieldType": "number"});
    s.client.post(s.url("/_sim/schema/properties")).json(&num).send().await.unwrap();
    let id = s
        .create_contact(json!({"email": "a@x.io", "tier": "gold", "score": 7, "wlcro_client_id": "1"}))
        .await;
    let bad =
        s.patch(&format!("/crm/v3/objects/contacts/{id}"), json!({"properties": {"tier": "silver"}})).await;
    assert_error(&bad, 400, "VALIDATION_ERROR");
    assert!(bad.body["message"].as_str().unwrap().contains("INVALID_OPTION"), "{}", bad.body);
    let nan =
        s.patch(&format!("/crm/v3/objects/contacts/{id}"), json!({"properties": {"score": "many"}})).await;
    assert_error(&nan, 400, "VALIDATION_ERROR");
    let got = s.get(&format!("/crm/v3/objects/contacts/{id}?properties=score,tier,nope")).await;
    assert_eq!(got.body["properties"]["score"], "7", "a JSON number is stored as its text");
    assert!(got.body["properties"].get("nope").is_none(), "unknown properties are left out: {}", got.body);
    let dup = s
        .post("/crm/v3/objects/contacts", json!({"properties": {"email": "b@x.io", "wlcro_client_id": "1"}}))
        .await;
    assert_error(&dup, 409, "CONFLICT");
    let del = s.client.delete(s.url("/_sim/schema/properties/contacts/tier")).send().await.unwrap();
    assert_eq!(del.status(), StatusCode::OK);
    let got = s.get(&format!("/crm/v3/objects/contacts/{id}?properties=tier,email")).await;
    assert!(got.body["properties"].get("tier").is_none(), "{}", got.body);
    assert_error(&s.get("/crm/v3/properties/contacts/tier").await, 404, "OBJECT_NOT_FOUND");
    let write =
        s.patch(&format!("/crm/v3/objects/contacts/{id}"), json!({"properties": {"tier": "gold"}})).await;
    assert!(write.body["message"].as_str().unwrap().contains("PROPERTY_DOESNT_EXIST"), "{}", write.body);
    let schema: serde_json::Value =
        s.client.get(s.url("/_sim/schema")).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> =
        schema["properties"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["wlcro_client_id", "score"]);
}

#[tokio::test]
async fn scopes_are_enforced_and_reported_by_token_info() {
    let cfg = SimConfig {
        token_scopes: [(TOKEN.to_string(), vec!["crm.objects.contacts.read".to_string()])].into(),
        ..SimConfig::default()
    };
    let s = sim_with(cfg).await;
    assert_eq!(s.get("/crm/v3/objects/contacts").await.status, StatusCode::OK);
    let write = s.post("/crm/v3/objects/contacts", json!({"properties": {"email": "a@x.io"}})).await;
    assert_error(&write, 403, "MISSING_SCOPES");
    assert_eq!(write.body["errors"][0]["context"]["requiredGranularScopes"][0], "crm.objects.contacts.write");
    assert_eq!(
        s.get("/crm/v3/properties/contacts").await.status,
        StatusCode::OK,
        "objects read covers properties"
    );
    assert_error(&s.get("/crm/v3/objects/companies").await, 403, "MISSING_SCOPES");
    let info = s
        .call_as(
            None,
            Method::POST,
            "/oauth/v2/private-apps/get/access-token-info",
            Some(json!({"tokenKey": TOKEN})),
        )
        .await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.body);
    assert_eq!(info.body["scopes"], json!(["crm.objects.contacts.read"]));
    let bad = s
        .call_as(
            None,
            Method::POST,
            "/oauth/v2/private-apps/get/access-token-info",
            Some(json!({"tokenKey": "x"})),
        )
        .await;
    assert_error(&bad, 401, "INVALID_AUTHENTICATION");
    let grant = json!({"token": TOKEN, "scopes": ["crm.objects.companies.read"]});
    s.client.post(s.url("/_sim/scopes")).json(&grant).send().await.unwrap();
    assert_eq!(s.get("/crm/v3/objects/companies").await.status, StatusCode::OK);
    assert_error(&s.get("/crm/v3/objects/contacts").await, 403, "MISSING_SCOPES");
}

#[tokio::test]
async fn unknown_routes_methods_and_association_types_answer_hubspot_errors() {
    let s = sim().await;
    assert_error(&s.get("/crm/v3/nothing/here").await, 404, "OBJECT_NOT_FOUND");
    assert_error(
        &s.call_as(Some(TOKEN), Method::PUT, "/crm/v3/objects/contacts", None).await,
        405,
        "VALIDATION_ERROR",
    );
    assert_eq!(s.get("/crm/v3/objects/contacts?associations=companies").await.status, StatusCode::OK);
    assert_error(&s.get("/crm/v3/objects/contacts?associations=planets").await, 400, "VALIDATION_ERROR");
    let usage = s.get("/account-info/v3/api-usage/daily/private-apps").await;
    assert_eq!(usage.body["results"][0]["resetsAt"], "2026-03-03T00:00:00.000Z");
}
