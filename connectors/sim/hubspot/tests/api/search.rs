//! Search: operators, ties, paging to the 10,000 cap, request caps, index lag.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sim_hubspot::{ObjectType, RateLimitConfig};

use crate::common::*;

const SEARCH: &str = "/crm/v3/objects/contacts/search";

fn ids(r: &Resp) -> Vec<String> {
    r.body["results"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_string()).collect()
}

fn one(prop: &str, op: &str, value: Value) -> Value {
    json!({"filterGroups": [{"filters": [{"propertyName": prop, "operator": op, "value": value}]}], "limit": 100})
}

#[tokio::test]
async fn paging_a_bulk_touched_window_hits_400_at_ten_thousand() {
    let s = sim().await;
    s.state.set_rate_limits(RateLimitConfig { search_max: 1_000, ..RateLimitConfig::default() });
    let recs: Vec<_> = (0..12_000).map(|i| props(json!({"firstname": format!("f{i}")}))).collect();
    s.state.seed(ObjectType::Contacts, &recs).unwrap();
    s.state.advance(5_000);
    let (ts, touched) = s.state.bulk_touch(ObjectType::Contacts, 12_000);
    assert_eq!(touched.len(), 12_000);
    let truth = s.state.records(ObjectType::Contacts);
    assert!(truth.iter().all(|r| r.updated_ms == ts), "bulk touch must share one ms timestamp");
    let mut body = one("lastmodifieddate", "GTE", json!(ts.to_string()));
    body["limit"] = json!(200);
    body["sorts"] = json!([{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]);
    let mut after: Option<String> = None;
    let mut seen = std::collections::HashSet::new();
    let mut pages = 0;
    let last = loop {
        if let Some(a) = &after {
            body["after"] = json!(a);
        }
        let r = s.post(SEARCH, body.clone()).await;
        if r.status != StatusCode::OK {
            break r;
        }
        pages += 1;
        assert_eq!(r.body["total"], 12_000);
        seen.extend(ids(&r));
        after = Some(r.body["paging"]["next"]["after"].as_str().expect("more pages").to_string());
    };
    assert_eq!(pages, 50);
    assert_eq!(seen.len(), 10_000);
    assert_eq!(after.as_deref(), Some("10000"));
    assert_error(&last, 400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn gt_drops_boundary_ties_that_gte_keeps() {
    let s = sim().await;
    s.create_contact(json!({"email": "a@t.io"})).await;
    s.state.advance(1);
    s.create_contact(json!({"email": "b@t.io"})).await;
    s.create_contact(json!({"email": "c@t.io"})).await;
    let boundary = (t0().timestamp_millis() + 1).to_string();
    let gte = s.post(SEARCH, one("lastmodifieddate", "GTE", json!(boundary))).await;
    assert_eq!(gte.body["total"], 2);
    let gt = s.post(SEARCH, one("lastmodifieddate", "GT", json!(boundary))).await;
    assert_eq!(gt.body["total"], 0);
    let iso = s.post(SEARCH, one("lastmodifieddate", "LT", json!("2026-03-02T10:00:00.001Z"))).await;
    assert_eq!(iso.body["total"], 1);
}

#[tokio::test]
async fn operators_and_groups_follow_the_guide() {
    let s = sim().await;
    s.create_contact(json!({"email": "ann@acme.io", "firstname": "Ann Marie", "lifecyclestage": "lead"}))
        .await;
    s.create_contact(json!({"email": "bob@corp.io", "firstname": "Bob", "phone": "42"})).await;
    let count = |r: &Resp| r.body["total"].as_u64().unwrap();
    assert_eq!(count(&s.post(SEARCH, one("email", "EQ", json!("ANN@ACME.IO"))).await), 1);
    assert_eq!(count(&s.post(SEARCH, one("email", "NEQ", json!("ann@acme.io"))).await), 1);
    assert_eq!(count(&s.post(SEARCH, one("phone", "HAS_PROPERTY", Value::Null)).await), 1);
    assert_eq!(count(&s.post(SEARCH, one("phone", "NOT_HAS_PROPERTY", Value::Null)).await), 1);
    assert_eq!(count(&s.post(SEARCH, one("firstname", "CONTAINS_TOKEN", json!("mar*"))).await), 1);
    assert_eq!(count(&s.post(SEARCH, one("email", "CONTAINS_TOKEN", json!("*@corp.io"))).await), 1);
    assert_eq!(
        count(&s.post(SEARCH, one("lifecyclestage", "EQ", json!("LEAD"))).await),
        0,
        "enums are case-sensitive"
    );
    let within = |lo: &str, hi: &str| json!({"filterGroups": [{"filters": [{"propertyName": "phone", "operator": "BETWEEN", "value": lo, "highValue": hi}]}]});
    assert_eq!(count(&s.post(SEARCH, within("40", "42")).await), 1);
    assert_eq!(count(&s.post(SEARCH, within("43", "50")).await), 0);
    let inn = |v: &str| json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "IN", "values": [v]}]}]});
    assert_eq!(count(&s.post(SEARCH, inn("bob@corp.io")).await), 1);
    assert_eq!(count(&s.post(SEARCH, inn("BOB@corp.io")).await), 0, "IN values must be lowercase");
    let or = json!({"filterGroups": [
        {"filters": [{"propertyName": "email", "operator": "EQ", "value": "ann@acme.io"}]},
        {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "bob"}]},
    ]});
    assert_eq!(count(&s.post(SEARCH, or).await), 2);
    let and = json!({"filterGroups": [{"filters": [
        {"propertyName": "email", "operator": "EQ", "value": "ann@acme.io"},
        {"propertyName": "firstname", "operator": "EQ", "value": "bob"},
    ]}]});
    assert_eq!(count(&s.post(SEARCH, and).await), 0);
    let r = s.post(SEARCH, json!({"properties": ["email"], "sorts": ["-email"]})).await;
    assert_eq!(r.body["results"][0]["properties"]["email"], "bob@corp.io");
    assert!(r.body["results"][0]["properties"].get("firstname").is_none());
}

#[tokio::test]
async fn request_caps_answer_400() {
    let s = sim().await;
    s.state.set_rate_limits(RateLimitConfig { search_max: 100, ..RateLimitConfig::default() });
    assert_error(&s.post(SEARCH, json!({"limit": 201})).await, 400, "VALIDATION_ERROR");
    assert_eq!(s.post(SEARCH, json!({"limit": 200})).await.status, StatusCode::OK);
    assert_error(&s.post(SEARCH, json!({"after": "NTI1Cg=="})).await, 400, "VALIDATION_ERROR");
    assert_error(&s.post(SEARCH, json!({"after": "9901", "limit": 100})).await, 400, "VALIDATION_ERROR");
    assert_eq!(s.post(SEARCH, json!({"after": "9900", "limit": 100})).await.status, StatusCode::OK);
    let two = json!({"sorts": [{"propertyName": "email"}, {"propertyName": "createdate"}]});
    assert_error(&s.post(SEARCH, two).await, 400, "VALIDATION_ERROR");
    let f = json!({"propertyName": "email", "operator": "HAS_PROPERTY"});
    let groups: Vec<Value> = (0..6).map(|_| json!({"filters": [f.clone()]})).collect();
    assert_error(&s.post(SEARCH, json!({"filterGroups": groups})).await, 400, "VALIDATION_ERROR");
    let seven: Vec<Value> = (0..7).map(|_| f.clone()).collect();
    assert_error(
        &s.post(SEARCH, json!({"filterGroups": [{"filters": seven}]})).await,
        400,
        "VALIDATION_ERROR",
    );
    let big = json!({"query": "x".repeat(3_000)});
    assert_error(&s.post(SEARCH, big).await, 400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn search_lags_behind_get_and_can_return_out_of_window_values() {
    let s = sim().await;
    s.state.set_search_lag(2_000, 0);
    let id = s.create_contact(json!({"email": "lag@x.io"})).await;
    assert_eq!(s.get(&format!("/crm/v3/objects/contacts/{id}")).await.status, StatusCode::OK);
    assert_eq!(s.post(SEARCH, json!({})).await.body["total"], 0, "not yet indexed");
    s.state.advance(1_999);
    assert_eq!(s.post(SEARCH, json!({})).await.body["total"], 0);
    s.state.advance(1);
    assert_eq!(s.post(SEARCH, json!({})).await.body["total"], 1);
    let t_created = t0().timestamp_millis();
    s.state.advance(500);
    s.patch(&format!("/crm/v3/objects/contacts/{id}"), json!({"properties": {"phone": "1"}})).await;
    let window = one("lastmodifieddate", "LTE", json!(t_created.to_string()));
    let r = s.post(SEARCH, window).await;
    assert_eq!(r.body["total"], 1, "index still holds the old version");
    let returned = r.body["results"][0]["properties"]["lastmodifieddate"].as_str().unwrap();
    assert_eq!(returned, "2026-03-02T10:00:02.500Z", "live values are newer than the window asked for");
}

#[tokio::test]
async fn lag_jitter_lets_search_see_writes_out_of_order() {
    let s = sim().await;
    s.state.set_search_lag(1_000, 5_000);
    let mut created = Vec::new();
    for i in 0..20 {
        created.push(s.create_contact(json!({"email": format!("j{i}@x.io")})).await);
        s.state.advance(10);
    }
    s.state.advance(3_000);
    let r = s.post(SEARCH, json!({"limit": 100})).await;
    let visible: std::collections::HashSet<String> = ids(&r).into_iter().collect();
    let first_missing =
        created.iter().position(|id| !visible.contains(id)).expect("some writes not yet visible");
    assert!(
        created[first_missing..].iter().any(|id| visible.contains(id)),
        "a later write is visible before an earlier one"
    );
    s.state.advance(5_000);
    assert_eq!(s.post(SEARCH, json!({})).await.body["total"], 20);
}
