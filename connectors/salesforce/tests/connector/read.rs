//! `fetch` and `find`.

use connector_api::{Connector, IdentityKey};
use serde_json::json;
use sim_salesforce::ObjectKind;

use crate::support::{EXT, contact, world};

#[tokio::test]
async fn fetch_accepts_15_char_ids_and_leaves_missing_ones_out() {
    let w = world().await;
    let id = w.seed(ObjectKind::Contact, contact("Ada", "ada@example.com"));
    let deleted = w.seed(ObjectKind::Contact, contact("Bob", "bob@example.com"));
    w.sim.delete(&deleted).unwrap();
    let ids = vec![id[..15].to_string(), deleted.clone(), "003000000009999".to_string(), "junk'".to_string()];
    let got = w.sf.fetch("Contact", &ids).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, id, "returned in 18-char form");
    assert_eq!(got[0].fields["Email"], json!("ada@example.com"));
    assert!(!got[0].deleted);
}

#[tokio::test]
async fn find_matches_sql_looking_values_literally() {
    let w = world().await;
    let tricky = "x' OR Name != '";
    w.seed(ObjectKind::Contact, contact("Ada", "ada@example.com"));
    let target = w.seed(ObjectKind::Contact, json!({"LastName": "Tricky", EXT: tricky}));
    w.seed(ObjectKind::Contact, json!({"LastName": "Slash", EXT: "x\\"}));

    let key = IdentityKey { field: EXT.into(), value: tricky.into() };
    let got = w.sf.find("Contact", &key).await.unwrap();
    assert_eq!(got.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![target]);

    let key = IdentityKey { field: "email".into(), value: tricky.into() };
    assert!(w.sf.find("Contact", &key).await.unwrap().is_empty(), "no injection through Email");

    let key = IdentityKey { field: "external_id".into(), value: "x\\".into() };
    assert_eq!(w.sf.find("Contact", &key).await.unwrap().len(), 1, "backslashes are escaped too");

    let key = IdentityKey { field: "email".into(), value: "ADA@example.com".into() };
    assert_eq!(w.sf.find("Contact", &key).await.unwrap().len(), 1, "emails match case-insensitively");
}

#[tokio::test]
async fn estimate_counts_the_records_changed_in_the_range_with_one_query() {
    let w = world().await;
    w.seed_many(
        ObjectKind::Contact,
        (0..2_500).map(|i| contact("Early", &format!("e{i}@example.com"))).collect(),
    );
    w.advance(60);
    let middle = w.sim.now();
    w.seed_many(ObjectKind::Contact, (0..7).map(|i| contact("Mid", &format!("m{i}@example.com"))).collect());
    w.advance(60);
    w.seed(ObjectKind::Contact, contact("Late", "late@example.com"));
    w.advance(1);

    let before = w.sim.log.entries().len();
    let all = w.sf.estimate("Contact", None, None).await.unwrap();
    assert_eq!(all, Some(2_508), "totalSize counts past the first batch of 2,000");
    let range =
        w.sf.estimate("Contact", Some(middle), Some(middle + chrono::Duration::seconds(30))).await.unwrap();
    assert_eq!(range, Some(7));
    let queries = w.sim.log.entries()[before..].iter().filter(|r| r.path.contains("/query")).count();
    assert_eq!(queries, 2, "one query per estimate, no paging");
}
