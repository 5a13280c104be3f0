//! sObject Collections: per-item results, allOrNone, the 200 cap, upsert and delete.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{code, sim};

fn rec(ty: &str, fields: Value) -> Value {
    let mut v = fields;
    v["attributes"] = json!({"type": ty});
    v
}

#[tokio::test]
async fn create_answers_200_with_per_item_results_in_order() {
    let s = sim().await;
    let body = json!({"allOrNone": false, "records": [
        rec("Contact", json!({"LastName": "A"})),
        rec("Lead", json!({"LastName": "B"})),
        rec("Account", json!({"Name": "C"})),
    ]});
    let a = s.call(Method::POST, "/composite/sobjects", Some(body)).await;
    assert_eq!(a.status, StatusCode::OK);
    let items = a.body.as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items[0]["id"].as_str().unwrap().starts_with("003") && items[0]["success"] == true);
    assert_eq!(items[1]["success"], false);
    assert_eq!(items[1]["errors"][0]["statusCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(items[1]["errors"][0]["fields"], json!(["Company"]));
    assert!(items[2]["id"].as_str().unwrap().starts_with("001"));
    assert_eq!(s.state.records().len(), 2);
    assert_eq!(a.headers["sforce-limit-info"], "api-usage=1/100000", "one call, one request");
}

#[tokio::test]
async fn all_or_none_rolls_everything_back() {
    let s = sim().await;
    let body = json!({"allOrNone": true, "records": [
        rec("Contact", json!({"LastName": "A"})),
        rec("Contact", json!({"FirstName": "no last name"})),
    ]});
    let a = s.call(Method::POST, "/composite/sobjects", Some(body)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body[0]["success"], false);
    assert_eq!(a.body[0]["errors"][0]["statusCode"], "ALL_OR_NONE_OPERATION_ROLLED_BACK");
    assert_eq!(a.body[1]["errors"][0]["statusCode"], "REQUIRED_FIELD_MISSING");
    assert!(s.state.records().is_empty());
}

#[tokio::test]
async fn more_than_200_records_is_a_400() {
    let s = sim().await;
    let recs: Vec<Value> = (0..201).map(|i| rec("Contact", json!({"LastName": format!("L{i}")}))).collect();
    let a = s.call(Method::POST, "/composite/sobjects", Some(json!({"records": recs}))).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&a), "EXCEEDED_ID_LIMIT");
    let ok: Vec<Value> = (0..200).map(|i| rec("Contact", json!({"LastName": format!("L{i}")}))).collect();
    let b = s.call(Method::POST, "/composite/sobjects", Some(json!({"records": ok}))).await;
    assert_eq!(b.body.as_array().unwrap().len(), 200);
}

#[tokio::test]
async fn upsert_update_and_delete_collections() {
    let s = sim().await;
    let body = json!({"allOrNone": false, "records": [
        rec("Contact", json!({"LastName": "A", "Crosswalk_Id__c": "K1"})),
        rec("Contact", json!({"LastName": "B", "Crosswalk_Id__c": "K2"})),
    ]});
    let a = s.call(Method::PATCH, "/composite/sobjects/Contact/Crosswalk_Id__c", Some(body.clone())).await;
    assert_eq!(a.body[0]["created"], true);
    let b = s.call(Method::PATCH, "/composite/sobjects/Contact/Crosswalk_Id__c", Some(body)).await;
    assert_eq!((b.body[0]["created"].clone(), b.body[1]["created"].clone()), (json!(false), json!(false)));
    assert_eq!(a.body[0]["id"], b.body[0]["id"]);
    let id0 = a.body[0]["id"].as_str().unwrap().to_string();
    let id1 = a.body[1]["id"].as_str().unwrap().to_string();

    let upd = json!({"records": [rec("Contact", json!({"id": id0, "Title": "T"})), rec("Contact", json!({"Title": "no id"}))]});
    let u = s.call(Method::PATCH, "/composite/sobjects", Some(upd)).await;
    assert_eq!(u.body[0]["success"], true);
    assert_eq!(u.body[1]["errors"][0]["statusCode"], "MISSING_ARGUMENT");
    assert_eq!(s.state.record(&id0).unwrap().fields["Title"], "T");

    let d =
        s.call(Method::DELETE, &format!("/composite/sobjects?ids={id0},{id1}&allOrNone=false"), None).await;
    assert_eq!(d.body[0], json!({"id": id0, "success": true, "errors": []}));
    let again = s.call(Method::DELETE, &format!("/composite/sobjects?ids={id0}"), None).await;
    assert_eq!(again.body[0]["errors"][0]["statusCode"], "ENTITY_IS_DELETED");

    let r =
        s.get(&format!("/composite/sobjects/Contact?ids={id0},001000000000000AAA&fields=Id,LastName")).await;
    assert_eq!(r.body, json!([null, null]), "deleted and unknown ids come back as null");
}
