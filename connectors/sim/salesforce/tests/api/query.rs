//! SOQL query, paging, cursors, errors and queryAll.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sim_salesforce::{ObjectKind, Quirks};

use super::{code, sim};

#[tokio::test]
async fn pages_of_2000_follow_next_records_url_until_done() {
    let s = sim().await;
    s.seed_contacts(2500);
    let first = s.query("query", "SELECT Id, LastName FROM Contact ORDER BY Id").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["totalSize"], 2500);
    assert_eq!(first.body["done"], false);
    assert_eq!(first.body["records"].as_array().unwrap().len(), 2000);
    let next = first.body["nextRecordsUrl"].as_str().unwrap();
    assert!(next.starts_with("/services/data/v62.0/query/01g") && next.ends_with("-2000"), "{next}");
    let second = s.next(next).await;
    assert_eq!(second.body["records"].as_array().unwrap().len(), 500);
    assert_eq!(second.body["done"], true);
    assert!(second.body.get("nextRecordsUrl").is_none());
    let rec = &first.body["records"][0];
    assert_eq!(rec["attributes"]["type"], "Contact");
    assert_eq!(rec["Id"].as_str().unwrap().len(), 18);
}

#[tokio::test]
async fn batch_size_header_is_clamped_and_the_server_may_return_fewer() {
    let s = sim().await;
    s.seed_contacts(450);
    let url = format!("{}/services/data/v62.0/query", s.base());
    let send = |n: &str| {
        s.http
            .get(&url)
            .query(&[("q", "SELECT Id FROM Contact")])
            .bearer_auth(&s.token)
            .header("Sforce-Query-Options", format!("batchSize={n}"))
            .send()
    };
    let a = super::answer(send("300").await.unwrap()).await;
    assert_eq!(a.body["records"].as_array().unwrap().len(), 300);
    let b = super::answer(send("10").await.unwrap()).await;
    assert_eq!(b.body["records"].as_array().unwrap().len(), 200, "below 200 is raised to 200");
    s.state.set_quirks(Quirks { max_batch: 137, ..Quirks::default() });
    let c = super::answer(send("300").await.unwrap()).await;
    assert_eq!(c.body["records"].as_array().unwrap().len(), 137);
}

#[tokio::test]
async fn tie_safe_cursor_finds_rows_that_a_strict_greater_than_drops() {
    let s = sim().await;
    let ids = s.seed_contacts(5); // all share one second-precision stamp
    let t = "2026-03-01T12:00:00Z";
    let strict = s.query("query", &format!("SELECT Id FROM Contact WHERE SystemModstamp > {t}")).await;
    assert_eq!(strict.body["totalSize"], 0);
    let q = format!(
        "SELECT Id, SystemModstamp FROM Contact WHERE (SystemModstamp = {t} AND Id > '{}') OR SystemModstamp > {t} \
         ORDER BY SystemModstamp, Id LIMIT 2",
        ids[1]
    );
    let a = s.query("query", &q).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let got: Vec<&str> =
        a.body["records"].as_array().unwrap().iter().map(|r| r["Id"].as_str().unwrap()).collect();
    assert_eq!(got, vec![ids[2].as_str(), ids[3].as_str()]);
    assert_eq!(a.body["records"][0]["SystemModstamp"], "2026-03-01T12:00:00.000+0000");
}

#[tokio::test]
async fn unsupported_or_wrong_soql_gets_the_documented_errors() {
    let s = sim().await;
    let cases = [
        ("SELECT Id FROM Contact WHERE Email LIKE a", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact GROUP BY Email", "MALFORMED_QUERY"),
        // an unencoded `+` arrives as a space
        ("SELECT Id FROM Contact WHERE SystemModstamp > 2026-01-01T00:00:00 00:00", "MALFORMED_QUERY"),
        ("SELECT Nope FROM Contact", "INVALID_FIELD"),
        ("SELECT Id FROM Contact WHERE SystemModstamp > '2026-01-01T00:00:00Z'", "INVALID_FIELD"),
        ("SELECT Id FROM Contact WHERE SystemModstamp > 2026-01-01", "INVALID_FIELD"),
        ("SELECT Id FROM Widget__c", "INVALID_TYPE"),
    ];
    for (q, want) in cases {
        let a = s.query("query", q).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(code(&a), want, "{q}: {}", a.body);
    }
}

#[tokio::test]
async fn offset_forms_strings_and_short_ids_filter_as_documented() {
    let s = sim().await;
    let ids = s.seed_contacts(3);
    for lit in ["2026-03-01T12:00:00Z", "2026-03-01T13:00:00+01:00", "2026-03-01T12:00:00.000+0000"] {
        let a = s.query("query", &format!("SELECT Id FROM Contact WHERE SystemModstamp = {lit}")).await;
        assert_eq!(a.body["totalSize"], 3, "{lit}: {}", a.body);
    }
    let a = s.query("query", "SELECT Id, Email FROM Contact WHERE Email = 'C1@EXAMPLE.COM'").await;
    assert_eq!(a.body["records"][0]["Id"], ids[1].as_str());
    let q = format!("SELECT Id FROM Contact WHERE Id IN ('{}', '{}')", &ids[0][..15], ids[2]);
    assert_eq!(s.query("query", &q).await.body["totalSize"], 2);
    let lead = s.seed(ObjectKind::Lead, vec![json!({"LastName": "L", "Company": "C"})]).remove(0);
    let by = |id: String| format!("SELECT Id FROM Lead WHERE Id = '{id}'");
    assert_eq!(s.query("query", &by(lead[..15].to_string())).await.body["totalSize"], 1);
    assert_eq!(
        s.query("query", &by(lead.to_lowercase())).await.body["totalSize"],
        1,
        "18-char: case-insensitive"
    );
    let lower = s.query("query", &by(lead[..15].to_lowercase())).await;
    assert_eq!(lower.body["totalSize"], 0, "15-char ids are case-sensitive");
}

#[tokio::test]
async fn query_hides_deleted_rows_and_query_all_shows_them_with_master_record_id() {
    let s = sim().await;
    let ids = s.seed_contacts(3);
    s.state.merge(&ids[0], &[ids[1].clone()]).unwrap();
    s.state.delete(&ids[2]).unwrap();
    let q = "SELECT Id, IsDeleted, MasterRecordId FROM Contact ORDER BY Id";
    assert_eq!(s.query("query", q).await.body["totalSize"], 1);
    let all = s.query("queryAll", q).await;
    assert_eq!(all.body["totalSize"], 3);
    let recs = all.body["records"].as_array().unwrap();
    assert_eq!(recs[1]["IsDeleted"], true);
    assert_eq!(recs[1]["MasterRecordId"], ids[0].as_str());
    assert_eq!(recs[2]["MasterRecordId"], json!(null));
    let deleted_only = s.query("queryAll", "SELECT Id FROM Contact WHERE IsDeleted = true").await;
    assert_eq!(deleted_only.body["totalSize"], 2);
}

#[tokio::test]
async fn cursors_expire_and_bad_locators_are_invalid() {
    let s = sim().await;
    s.seed_contacts(450);
    s.state.set_quirks(Quirks { max_batch: 200, cursor_ttl_secs: 900, ..Quirks::default() });
    let first = s.query("query", "SELECT Id FROM Contact").await;
    let next = first.body["nextRecordsUrl"].as_str().unwrap().to_string();
    s.state.advance(Duration::seconds(899));
    assert_eq!(s.next(&next).await.status, StatusCode::OK);
    s.state.advance(Duration::seconds(900));
    assert_eq!(code(&s.next(&next).await), "INVALID_QUERY_LOCATOR");
    assert_eq!(
        code(&s.call(Method::GET, "/query/01gXXXXXXXXXXXXXXX-200", None).await),
        "INVALID_QUERY_LOCATOR"
    );
}

#[tokio::test]
async fn leads_and_accounts_are_queryable_with_their_prefixes() {
    let s = sim().await;
    s.seed(ObjectKind::Lead, vec![json!({"LastName": "L", "Company": "C", "Email": "l@example.com"})]);
    s.seed(ObjectKind::Account, vec![json!({"Name": "Acme"})]);
    let l = s.query("query", "SELECT Id, Company, IsConverted FROM Lead").await;
    assert!(l.body["records"][0]["Id"].as_str().unwrap().starts_with("00Q"));
    assert_eq!(l.body["records"][0]["IsConverted"], false);
    let a = s.query("query", "select id, name from account where name = 'acme'").await;
    assert!(a.body["records"][0]["Id"].as_str().unwrap().starts_with("001"));
    assert_eq!(a.body["records"][0]["Name"], "Acme");
}

#[tokio::test]
async fn like_matches_case_insensitively_and_count_answers_only_the_total() {
    let s = sim().await;
    s.seed(
        ObjectKind::Contact,
        vec![
            json!({"LastName": "Ann", "Email": "ann@Example.com"}),
            json!({"LastName": "Bob", "Email": "bob@other.io"}),
            json!({"LastName": "Anton"}),
        ],
    );
    let r = s.query("query", "SELECT LastName FROM Contact WHERE Email LIKE '%@example.COM'").await;
    assert_eq!(r.body["totalSize"], 1, "{}", r.body);
    assert_eq!(r.body["records"][0]["LastName"], "Ann");
    let r = s
        .query("query", "SELECT LastName FROM Contact WHERE LastName LIKE 'an_o%' OR LastName LIKE 'B_b'")
        .await;
    let names: Vec<&str> =
        r.body["records"].as_array().unwrap().iter().map(|x| x["LastName"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let c = s.query("query/", "SELECT COUNT() FROM Contact WHERE LastName LIKE 'A%'").await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    assert_eq!((c.body["totalSize"].clone(), c.body["records"].clone()), (json!(2), json!([])));
    let bad = s.query("query", "SELECT Id FROM Contact WHERE CreatedDate LIKE '2026%'").await;
    assert_eq!(bad.body[0]["errorCode"], "INVALID_FIELD");
}
