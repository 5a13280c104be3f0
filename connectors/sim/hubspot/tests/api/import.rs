//! `POST /_sim/import`: a contact sharing another's email, as imports leave them; the API
//! itself still refuses one.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn an_import_can_leave_two_contacts_with_one_email_and_the_api_cannot() {
    let s = sim().await;
    let first = s.create_contact(json!({"email": "twin@example.test"})).await;
    let refused =
        s.post("/crm/v3/objects/contacts", json!({"properties": {"email": "TWIN@example.test"}})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);

    let imported = s
        .client
        .post(s.url("/_sim/import"))
        .json(&json!({"object": "contacts", "properties": {"email": "Twin@example.test", "firstname": "T"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), StatusCode::OK);
    let second = imported.json::<serde_json::Value>().await.unwrap()["id"].as_u64().unwrap().to_string();
    let found = s
        .post(
            "/crm/v3/objects/contacts/search",
            json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "twin@example.test"}]}]}),
        )
        .await;
    let mut ids: Vec<String> = found.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut want = vec![first, second];
    want.sort();
    assert_eq!(ids, want, "search sees both");
    let bad = s
        .client
        .post(s.url("/_sim/import"))
        .json(&json!({"object": "contacts", "properties": {"no_such_prop": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST, "properties are still validated");
}
