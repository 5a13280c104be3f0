//! Metadata reads (describeGlobal, basic info, describe, identity URL), the default custom fields
//! and their checks (restricted picklist, length, unique), get by external id, trailing-slash
//! routes, the schema control routes and the API's own error shapes for unknown routes/methods.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sim_salesforce::SimConfig;

use crate::{answer, config, sim, sim_with};

fn field<'a>(describe: &'a Value, name: &str) -> &'a Value {
    describe["fields"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap_or(&Value::Null)
}

#[tokio::test]
async fn describe_lists_standard_and_default_custom_fields_with_their_metadata() {
    let s = sim().await;
    let global = s.get("/sobjects/").await;
    assert_eq!(global.status, StatusCode::OK, "{}", global.body);
    let names: Vec<&str> =
        global.body["sobjects"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Contact", "Lead", "Account"]);
    let d = s.get("/sobjects/Contact/describe").await;
    assert_eq!(d.body["keyPrefix"], "003");
    let id = field(&d.body, "WLCRO_Id__c");
    assert_eq!(
        (id["externalId"].clone(), id["unique"].clone(), id["custom"].clone()),
        (json!(true), json!(true), json!(true))
    );
    assert_eq!(id["type"], "string");
    assert_eq!(id["length"], 40);
    let status = field(&d.body, "WLCRO_Status__c");
    assert_eq!(status["type"], "picklist");
    assert_eq!(status["restrictedPicklist"], true);
    let values: Vec<&str> =
        status["picklistValues"].as_array().unwrap().iter().map(|p| p["value"].as_str().unwrap()).collect();
    assert!(values.contains(&"Lead - Qualified") && values.contains(&"Cancelled"), "{values:?}");
    let last = field(&d.body, "LastName");
    assert_eq!(
        (last["nillable"].clone(), last["length"].clone(), last["updateable"].clone()),
        (json!(false), json!(80), json!(true))
    );
    let stamp = field(&d.body, "SystemModstamp");
    assert_eq!((stamp["filterable"].clone(), stamp["updateable"].clone()), (json!(true), json!(false)));
    assert_eq!(field(&d.body, "Email")["type"], "email");
    let lead = s.get("/sobjects/Lead/describe/").await;
    assert!(field(&lead.body, "WLCRO_Id__c").is_null(), "the default custom fields are on Contact only");
    let basic = s.get("/sobjects/Contact/").await;
    assert_eq!(basic.body["objectDescribe"]["name"], "Contact");
}

#[tokio::test]
async fn custom_fields_are_checked_and_found_by_external_id() {
    let s = sim().await;
    let created = s
        .call(
            Method::POST,
            "/sobjects/Contact/",
            Some(json!({"LastName": "A", "WLCRO_Id__c": "901", "WLCRO_Status__c": "Active Client"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let got = s.get("/sobjects/Contact/WLCRO_Id__c/901?fields=Id,WLCRO_Status__c").await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    assert_eq!(got.body["Id"], created.body["id"]);
    assert_eq!(got.body["WLCRO_Status__c"], "Active Client");
    assert_eq!(s.get("/sobjects/Contact/WLCRO_Id__c/902").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        s.get("/sobjects/Contact/LastName/A").await.status,
        StatusCode::NOT_FOUND,
        "not an external id"
    );
    let bad = s
        .call(Method::POST, "/sobjects/Contact", Some(json!({"LastName": "B", "WLCRO_Status__c": "Gone"})))
        .await;
    assert_eq!(bad.body[0]["errorCode"], "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "{}", bad.body);
    assert_eq!(bad.body[0]["fields"][0], "WLCRO_Status__c");
    let long = s.call(Method::POST, "/sobjects/Contact", Some(json!({"LastName": "x".repeat(81)}))).await;
    assert_eq!(long.body[0]["errorCode"], "STRING_TOO_LONG", "{}", long.body);
    let dup =
        s.call(Method::POST, "/sobjects/Contact", Some(json!({"LastName": "C", "WLCRO_Id__c": "901"}))).await;
    assert_eq!(dup.body[0]["errorCode"], "DUPLICATE_VALUE", "{}", dup.body);
    let unknown = s
        .call(Method::POST, "/sobjects/Contact", Some(json!({"LastName": "D", "Crosswalk_Nope__c": "1"})))
        .await;
    assert_eq!(unknown.body[0]["errorCode"], "INVALID_FIELD");
}

#[tokio::test]
async fn schema_control_routes_remove_and_add_fields() {
    let s = sim().await;
    let url = format!("{}/_sim/schema/fields/Contact/WLCRO_Status__c", s.base());
    assert_eq!(s.http.delete(&url).send().await.unwrap().status(), StatusCode::OK);
    let d = s.get("/sobjects/Contact/describe").await;
    assert!(field(&d.body, "WLCRO_Status__c").is_null());
    let q = s.query("query", "SELECT Id, WLCRO_Status__c FROM Contact").await;
    assert_eq!(q.body[0]["errorCode"], "INVALID_FIELD", "{}", q.body);
    let add = json!({"object": "Contact", "name": "Score__c", "type": "double", "updateable": false});
    let r = s.http.post(format!("{}/_sim/schema/fields", s.base())).json(&add).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let d = s.get("/sobjects/Contact/describe").await;
    assert_eq!(field(&d.body, "Score__c")["updateable"], false);
    let w = s.call(Method::POST, "/sobjects/Contact", Some(json!({"LastName": "A", "Score__c": 1}))).await;
    assert_eq!(w.body[0]["errorCode"], "INVALID_FIELD_FOR_INSERT_UPDATE", "{}", w.body);
    let bad = s
        .http
        .put(format!("{}/_sim/schema", s.base()))
        .json(&json!({"fields": [{"object": "Contact", "name": "Email", "type": "email"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_identity_url_answers_for_the_token_and_scopes_are_enforced() {
    let s = sim().await;
    let tok = s.token_request("sim-consumer-key", "sim-consumer-secret").await;
    assert_eq!(tok.body["scope"], "api");
    let id_url = tok.body["id"].as_str().unwrap().replace("localhost", "127.0.0.1");
    let me = answer(
        s.http.get(&id_url).bearer_auth(tok.body["access_token"].as_str().unwrap()).send().await.unwrap(),
    )
    .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["organization_id"], "00D5g000000SIMORGAAA");
    assert!(me.body["urls"]["rest"].as_str().unwrap().ends_with("/services/data/v{version}/"));
    let anon = s.http.get(&id_url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(anon.status(), StatusCode::FORBIDDEN);
    let narrow = sim_with(SimConfig { scopes: vec!["refresh_token".into()], ..config() }).await;
    let r = narrow.get("/limits/").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body[0]["errorCode"], "INVALID_SESSION_ID");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_salesforce_error_arrays() {
    let s = sim().await;
    let r = s.get("/nothing/here").await;
    assert_eq!((r.status, r.body[0]["errorCode"].clone()), (StatusCode::NOT_FOUND, json!("NOT_FOUND")));
    let r = s.call(Method::PUT, "/sobjects/Contact", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{}", r.body);
    assert_eq!(r.body[0]["errorCode"], "METHOD_NOT_ALLOWED");
    assert_eq!(s.get("/limits/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_unfilterable_field_is_described_so_and_refused_in_where() {
    let s = sim().await;
    let q = "SELECT Id FROM Contact WHERE SystemModstamp > 2026-01-01T00:00:00Z";
    assert_eq!(s.query("query", q).await.status, StatusCode::OK);
    let quirks = sim_salesforce::Quirks {
        unfilterable_fields: vec!["Contact.SystemModstamp".into()],
        ..s.state.quirks()
    };
    s.state.set_quirks(quirks);
    let d = s.get("/sobjects/Contact/describe").await;
    assert_eq!(field(&d.body, "SystemModstamp")["filterable"], false);
    let r = s.query("query", q).await;
    assert_eq!(
        (r.status, r.body[0]["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("INVALID_FIELD")),
        "{}",
        r.body
    );
    assert_eq!(
        s.query("query", "SELECT SystemModstamp FROM Contact").await.status,
        StatusCode::OK,
        "still selectable"
    );
    let narrow = sim_salesforce::Quirks { scopes: vec!["refresh_token".into()], ..s.state.quirks() };
    s.state.set_quirks(narrow);
    assert_eq!(s.get("/limits").await.status, StatusCode::UNAUTHORIZED);
}
