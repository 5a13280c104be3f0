//! sObject rows, upsert by external id, validation, duplicate rules and lock faults.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sim_salesforce::{DuplicateMode, DuplicateRule, ObjectKind, Quirks};

use super::{Sim, code, sim};

#[tokio::test]
async fn create_update_delete_move_both_clocks_and_report_the_documented_codes() {
    let s = sim().await;
    let c = s
        .call(Method::POST, "/sobjects/Contact", Some(json!({"LastName": "Ng", "Email": "n@example.com"})))
        .await;
    assert_eq!(c.status, StatusCode::CREATED);
    assert_eq!(c.body["success"], true);
    assert_eq!(c.body["errors"], json!([]));
    let id = c.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("003") && id.len() == 18);

    s.state.advance(Duration::seconds(90));
    let u = s
        .call(Method::PATCH, &format!("/sobjects/Contact/{}", &id[..15]), Some(json!({"Title": "CTO"})))
        .await;
    assert_eq!(u.status, StatusCode::NO_CONTENT);
    let g = s
        .get(&format!("/sobjects/Contact/{id}?fields=Title,LastModifiedDate,SystemModstamp,CreatedDate"))
        .await;
    assert_eq!(g.body["Title"], "CTO");
    assert_eq!(g.body["LastModifiedDate"], "2026-03-01T12:01:30.000+0000");
    assert_eq!(g.body["SystemModstamp"], "2026-03-01T12:01:30.000+0000");
    assert_eq!(g.body["CreatedDate"], "2026-03-01T12:00:00.000+0000");

    assert_eq!(
        s.call(Method::DELETE, &format!("/sobjects/Contact/{id}"), None).await.status,
        StatusCode::NO_CONTENT
    );
    let again = s.call(Method::DELETE, &format!("/sobjects/Contact/{id}"), None).await;
    assert_eq!((again.status, code(&again)), (StatusCode::NOT_FOUND, "ENTITY_IS_DELETED"));
    let gone = s.get(&format!("/sobjects/Contact/{id}")).await;
    assert_eq!(code(&gone), "NOT_FOUND");
}

#[tokio::test]
async fn validation_errors_name_their_fields() {
    let s = sim().await;
    let a = s.call(Method::POST, "/sobjects/Contact", Some(json!({"FirstName": "No"}))).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&a), "REQUIRED_FIELD_MISSING");
    assert_eq!(a.body[0]["fields"], json!(["LastName"]));
    let l = s.call(Method::POST, "/sobjects/Lead", Some(json!({"FirstName": "No"}))).await;
    assert_eq!(l.body[0]["fields"], json!(["LastName", "Company"]));
    let acc = s.call(Method::POST, "/sobjects/Account", Some(json!({"Phone": "1"}))).await;
    assert_eq!(acc.body[0]["fields"], json!(["Name"]));
    let bad = s.call(Method::POST, "/sobjects/Contact", Some(json!({"LastName": "x", "Shoe__c": "9"}))).await;
    assert_eq!(code(&bad), "INVALID_FIELD");
    let ro = s
        .call(Method::POST, "/sobjects/Contact", Some(json!({"LastName": "x", "SystemModstamp": "2026"})))
        .await;
    assert_eq!(code(&ro), "INVALID_FIELD_FOR_INSERT_UPDATE");
}

async fn upsert(s: &Sim, value: &str, body: serde_json::Value) -> super::Answer {
    s.call(Method::PATCH, &format!("/sobjects/Contact/Crosswalk_Id__c/{value}"), Some(body)).await
}

#[tokio::test]
async fn upsert_creates_201_updates_200_and_300_on_several_matches() {
    let mut s = sim().await;
    let c = upsert(&s, "X1", json!({"LastName": "A"})).await;
    assert_eq!(c.status, StatusCode::CREATED);
    assert_eq!(c.body["created"], true);
    let u = upsert(&s, "X1", json!({"Title": "B"})).await;
    assert_eq!(u.status, StatusCode::OK);
    assert_eq!(u.body, json!({"id": c.body["id"], "success": true, "errors": [], "created": false}));
    s.version = "v45.0";
    let old = upsert(&s, "X1", json!({"Title": "C"})).await;
    assert_eq!((old.status, &old.body), (StatusCode::NO_CONTENT, &json!(null)), "pre-v46 answers 204");
    s.version = "v62.0";
    s.seed(ObjectKind::Contact, vec![json!({"LastName": "Z", "Crosswalk_Id__c": "X2"}); 2]);
    let many = upsert(&s, "X2", json!({"Title": "D"})).await;
    assert_eq!(many.status, StatusCode::MULTIPLE_CHOICES);
    assert_eq!(many.body.as_array().unwrap().len(), 2);
    assert!(
        s.state.records().iter().all(|r| r.fields.get("Title").is_none_or(|t| t != "D")),
        "nothing written"
    );
}

#[tokio::test]
async fn upsert_rejects_unknown_fields_ids_in_body_and_honours_update_only() {
    let s = sim().await;
    let unknown = s.call(Method::PATCH, "/sobjects/Contact/Nope__c/1", Some(json!({"LastName": "A"}))).await;
    assert_eq!((unknown.status, code(&unknown)), (StatusCode::NOT_FOUND, "NOT_FOUND"));
    let with_ext = upsert(&s, "X1", json!({"LastName": "A", "Crosswalk_Id__c": "X1"})).await;
    assert_eq!(with_ext.status, StatusCode::BAD_REQUEST);
    let with_id = upsert(&s, "X1", json!({"LastName": "A", "Id": "003000000000001AAA"})).await;
    assert_eq!(with_id.status, StatusCode::BAD_REQUEST);
    let only = s
        .call(
            Method::PATCH,
            "/sobjects/Contact/Crosswalk_Id__c/X9?updateOnly=true",
            Some(json!({"LastName": "A"})),
        )
        .await;
    assert_eq!(only.status, StatusCode::NOT_FOUND);
    assert!(s.state.records().is_empty());
}

#[tokio::test]
async fn duplicate_rules_block_or_alert_with_a_duplicate_result() {
    let s = sim().await;
    s.seed_contacts(1); // c0@example.com
    let dup = json!({"LastName": "Dup", "Email": "C0@example.com"});
    s.state.set_duplicate_rules(vec![DuplicateRule {
        object: ObjectKind::Contact,
        field: "Email".into(),
        mode: DuplicateMode::Block,
    }]);
    let allow = [("Sforce-Duplicate-Rule-Header", "allowSave=true; includeRecordDetails=true")];
    let blocked = s.call_with(Method::POST, "/sobjects/Contact", Some(dup.clone()), &allow).await;
    assert_eq!(code(&blocked), "DUPLICATES_DETECTED");
    let dr = &blocked.body[0]["duplicateResult"];
    assert_eq!(dr["allowSave"], false);
    assert_eq!(dr["matchResults"][0]["size"], 1);
    s.state.set_duplicate_rules(vec![DuplicateRule {
        object: ObjectKind::Contact,
        field: "Email".into(),
        mode: DuplicateMode::Alert,
    }]);
    let alerted = s.call(Method::POST, "/sobjects/Contact", Some(dup.clone())).await;
    assert_eq!(code(&alerted), "DUPLICATES_DETECTED");
    let saved = s.call_with(Method::POST, "/sobjects/Contact", Some(dup), &allow).await;
    assert_eq!(saved.status, StatusCode::CREATED);
}

#[tokio::test]
async fn lock_contention_is_injectable_and_real_inside_open_transactions() {
    let s = sim().await;
    let ids = s.seed_contacts(1);
    s.state.set_quirks(Quirks { lock_rate: 1.0, ..Quirks::default() });
    let a =
        s.call(Method::PATCH, &format!("/sobjects/Contact/{}", ids[0]), Some(json!({"Title": "x"}))).await;
    assert_eq!(code(&a), "UNABLE_TO_LOCK_ROW");
    s.state.set_quirks(Quirks::default());
    let txn = s.state.open_transaction();
    let edit = sim_salesforce::ExternalEdit { id: ids[0].clone(), txn: Some(txn), ..Default::default() };
    s.state.edit(edit).unwrap();
    let b =
        s.call(Method::PATCH, &format!("/sobjects/Contact/{}", ids[0]), Some(json!({"Title": "x"}))).await;
    assert_eq!(code(&b), "UNABLE_TO_LOCK_ROW");
}
