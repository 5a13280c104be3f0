//! `find_many`: one SOQL `IN` query per chunk of values, answering what `find` answers per value.

use connector_api::{Connector, IdentityKey};
use serde_json::json;
use sim_salesforce::ObjectKind;

use crate::support::{EXT, World, contact, world};

/// ~250 lookup values: matches, misses, case variants of matching emails and SOQL-looking ones.
fn probe_values() -> Vec<String> {
    let mut v: Vec<String> = (0..150).map(|i| format!("person{i}@example.com")).collect();
    v.extend((0..20).map(|i| format!("PERSON{i}@EXAMPLE.COM")));
    v.extend((0..76).map(|i| format!("nobody{i}@example.com")));
    v.extend(["x' OR Name != '", "a\\", "o'brien@example.com", "person1@example.com"].map(String::from));
    v
}

fn queries(w: &World, from: usize) -> Vec<sim_core::LoggedRequest> {
    w.sim.log.entries()[from..].iter().filter(|e| e.path.ends_with("/query")).cloned().collect()
}

/// Per value, `find_many` answers exactly the records `find` answers (compared whole), and it
/// sends ceil(distinct / 200) queries where `find` sends one per value. Emails match in any
/// case; quotes and backslashes are matched literally (no injection: `x' OR Name != '` finds
/// nothing, `o'brien@…` finds its own record only). Fails if the batched path matches, escapes or
/// chunks differently from `find`.
#[tokio::test]
async fn find_many_by_email_answers_what_find_answers_in_chunked_queries() {
    let w = world().await;
    let mut rows: Vec<_> = (0..150).map(|i| contact("P", &format!("Person{i}@Example.com"))).collect();
    rows.push(contact("Quote", "o'brien@example.com"));
    rows.push(json!({"LastName": "Twin", "Email": "person7@example.com"}));
    w.seed_many(ObjectKind::Contact, rows);
    let values = probe_values();
    assert_eq!(values.len(), 250);

    let before = w.sim.log.entries().len();
    let many = w.sf.find_many("Contact", "email", &values).await.unwrap();
    let sent = queries(&w, before);
    // 230 distinct values once case is folded (the 20 upper-case ones and one duplicate repeat
    // others): two queries of at most 200 values.
    assert_eq!(
        sent.len(),
        2,
        "ceil(230 / 200) queries: {:?}",
        sent.iter().map(|q| q.status).collect::<Vec<_>>()
    );
    for q in &sent {
        let len = q.query.as_deref().map_or(0, str::len);
        assert!(len <= 10_002, "query string of {len} characters exceeds the budget");
    }

    let before = w.sim.log.entries().len();
    let mut hits = 0;
    for v in &values {
        let one =
            w.sf.find("Contact", &IdentityKey { field: "email".into(), value: v.clone() }).await.unwrap();
        let got = many.get(v).cloned().unwrap_or_default();
        assert_eq!(got, one, "email {v}");
        hits += usize::from(!one.is_empty());
    }
    assert_eq!(queries(&w, before).len(), values.len(), "find sends one query per value");
    // 150 seeded + 20 case variants + o'brien + the repeated person1.
    assert_eq!(hits, 172);
    assert_eq!(many["person7@example.com"].len(), 2, "both records sharing an email are answered");
    assert!(many.get("x' OR Name != '").is_none_or(Vec::is_empty), "no injection through IN");
}

/// The external-id field: SOQL-looking values and backslashes match literally, and misses are
/// empty, in one query. Fails on an escaping difference between `find_many` and `find`.
#[tokio::test]
async fn find_many_by_external_id_matches_literally() {
    let w = world().await;
    let tricky = ["x' OR Name != '", "x\\", "plain-1", "with space", "50%_off"];
    for (i, t) in tricky.iter().enumerate() {
        w.seed(ObjectKind::Contact, json!({"LastName": format!("T{i}"), EXT: t}));
    }
    let values: Vec<String> =
        tricky.iter().map(|s| s.to_string()).chain(["x'", "x", "plain-2", "%"].map(String::from)).collect();
    let before = w.sim.log.entries().len();
    let many = w.sf.find_many("Contact", "external_id", &values).await.unwrap();
    assert_eq!(queries(&w, before).len(), 1);
    for v in &values {
        let one =
            w.sf.find("Contact", &IdentityKey { field: "external_id".into(), value: v.clone() })
                .await
                .unwrap();
        assert_eq!(many.get(v).cloned().unwrap_or_default(), one, "external id {v}");
        assert_eq!(one.len(), usize::from(tricky.contains(&v.as_str())), "{v}");
    }
}
