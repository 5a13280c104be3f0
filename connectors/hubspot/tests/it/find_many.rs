//! `find_many` against the simulator: `IN` searches on `email` and `hs_additional_emails` for
//! email, batch reads with `idProperty` for the unique property, `IN` searches for other
//! properties; each answer compared with per-value `find`, and the simulator's request log
//! counted.

use std::collections::BTreeMap;

use connector_api::{Connector, IdentityKey, Record};
use serde_json::{Map, Value, json};
use sim_hubspot::ObjectType;

use crate::common::{UNIQUE, World, world};

fn props(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

/// Requests the simulator received since `from`, counted by `METHOD route`.
fn requests_since(w: &World, from: usize) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in &w.sim.requests()[from..] {
        let route = ["/batch/read", "/search"].into_iter().find(|s| r.path.ends_with(s)).unwrap_or("other");
        *out.entry(format!("{} {}", r.method, route.trim_start_matches('/'))).or_default() += 1;
    }
    out
}

/// Asks `find` for every value and checks `many` answers the same records (compared whole).
/// Returns how many values found something.
async fn same_as_find(
    w: &World,
    object: &str,
    field: &str,
    values: &[String],
    many: &BTreeMap<String, Vec<Record>>,
) -> usize {
    let mut hits = 0;
    for v in values {
        let one = w.conn.find(object, &IdentityKey { field: field.into(), value: v.clone() }).await.unwrap();
        assert_eq!(many.get(v).cloned().unwrap_or_default(), one, "{field} = {v}");
        hits += usize::from(!one.is_empty());
    }
    hits
}

/// 250 email values (matches, upper-case variants, misses, a merged-away contact's email that
/// now lives in the survivor's `hs_additional_emails`, SQL/quote-looking values): the answer per
/// value equals `find`'s, in searches (each body within the 3,000-character limit, as few as
/// that limit allows: two groups, `email IN` and `hs_additional_emails IN`, carry each value
/// twice) plus one batch read of the values search did not find (what a lagging index may hide).
/// Fails if matching by case
/// or by secondary email drifts from `find`, or on other requests.
#[tokio::test]
async fn find_many_by_email_searches_both_email_properties_and_answers_what_find_answers() {
    let w = world().await;
    let recs: Vec<_> = (0..150)
        .map(|i| props(json!({"email": format!("Person{i}@Example.test"), "firstname": "P"})))
        .collect();
    let ids = w.sim.seed(ObjectType::Contacts, &recs).unwrap();
    let loser =
        w.sim.seed(ObjectType::Contacts, &[props(json!({"email": "old.address@example.test"}))]).unwrap();
    w.sim.merge(ObjectType::Contacts, ids[3], loser[0]).unwrap();

    let mut values: Vec<String> = (0..150).map(|i| format!("person{i}@example.test")).collect();
    values.extend((0..20).map(|i| format!("PERSON{i}@EXAMPLE.TEST")));
    values.extend((0..75).map(|i| format!("nobody{i}@example.test")));
    values.extend(
        [
            "Old.Address@example.test",
            "x' OR '1'='1",
            "a\"b@example.test",
            "o'brien@example.test",
            "person1@example.test",
        ]
        .map(String::from),
    );
    assert_eq!(values.len(), 250);

    let before = w.sim.requests().len();
    let many = w.conn.find_many("contacts", "email", &values).await.unwrap();
    let sent = requests_since(&w, before);
    let searches = sent.get("POST search").copied().unwrap_or_default();
    // The values search found nothing for (the misses and the odd values, under 100) in one read.
    assert_eq!(
        sent.get("POST batch/read"),
        Some(&1),
        "the values search did not find, 100 per read: {sent:?}"
    );
    assert_eq!(sent.len(), 2, "searches and batch reads only: {sent:?}");
    // 230 distinct values of ~25 characters, twice per body (~55 characters a value once JSON-
    // quoted in both lists) in 3,000 characters with the property list: 45 values or more.
    assert!((5..=6).contains(&searches), "{searches} searches for 230 distinct emails");
    eprintln!("find_many: 250 email values (230 distinct) in {searches} searches + 1 batch read");
    // The simulator answers 400 to a body over 3,000 characters or too many filters.
    let searched = w.sim.requests()[before..]
        .iter()
        .filter(|r| r.path.ends_with("/search"))
        .cloned()
        .collect::<Vec<_>>();
    assert!(searched.iter().all(|r| r.status == 200), "every search was accepted");

    let before = w.sim.requests().len();
    let hits = same_as_find(&w, "contacts", "email", &values, &many).await;
    // A find is one search, plus one batch read when the search found nothing (78 values).
    assert_eq!(w.sim.requests().len() - before, values.len() + 78, "find: a search (and a read) per value");
    // 150 seeded + 20 case variants + the merged-away address + the repeated person1.
    assert_eq!(hits, 172);
    let survivor = ids[3].to_string();
    assert_eq!(
        many["Old.Address@example.test"].iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![survivor]
    );
    assert!(
        many.values().flatten().all(|r| !r.fields.contains_key("hs_additional_emails")),
        "the property read only to match records is not handed back"
    );
}

/// The unique property matches exactly (as the `idProperty` GET does): a case variant finds
/// nothing, quote-looking values are plain values; one batch read. Fails on a difference from
/// `find` or a request count other than one.
#[tokio::test]
async fn find_many_by_unique_property_matches_exactly_in_one_batch_read() {
    let w = world().await;
    let keys = ["wl-1", "wl-2", "x' OR '1'='1", "50%_off"];
    let recs: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| props(json!({"email": format!("u{i}@example.test"), UNIQUE: k})))
        .collect();
    w.sim.seed(ObjectType::Contacts, &recs).unwrap();
    let values: Vec<String> =
        keys.iter().map(|k| k.to_string()).chain(["WL-1", "wl-3", "%"].map(String::from)).collect();

    let before = w.sim.requests().len();
    let many = w.conn.find_many("contacts", "external_id", &values).await.unwrap();
    assert_eq!(requests_since(&w, before), BTreeMap::from([("POST batch/read".to_string(), 1)]));
    assert_eq!(same_as_find(&w, "contacts", "external_id", &values, &many).await, keys.len());
}

/// Other properties go through search with one `IN` filter (lowercase values, spec §5) per
/// request body of at most 3,000 characters: 250 first names (230 distinct without case) in
/// ceil(230 / 100) = 3 searches, several records per name, misses empty. Fails if the search
/// answers differ from `find`'s `EQ` search, or if the simulator rejects a body (too long,
/// values not lowercase would match nothing).
#[tokio::test]
async fn find_many_by_other_property_uses_in_searches() {
    let w = world().await;
    let mut recs: Vec<_> = (0..150)
        .map(|i| props(json!({"email": format!("n{i}@example.test"), "firstname": format!("Name{i}")})))
        .collect();
    recs.extend(
        (0..3).map(|i| props(json!({"email": format!("twin{i}@example.test"), "firstname": "Name7"}))),
    );
    w.sim.seed(ObjectType::Contacts, &recs).unwrap();
    let mut values: Vec<String> = (0..150).map(|i| format!("name{i}")).collect();
    values.extend((0..20).map(|i| format!("NAME{i}")));
    values.extend((0..79).map(|i| format!("nobody{i}")));
    values.push("x' OR '1'='1".into());
    assert_eq!(values.len(), 250);

    let before = w.sim.requests().len();
    let many = w.conn.find_many("contacts", "firstname", &values).await.unwrap();
    assert_eq!(requests_since(&w, before), BTreeMap::from([("POST search".to_string(), 3)]));
    assert_eq!(many["NAME7"].len(), 4, "every record with the name");
    assert_eq!(same_as_find(&w, "contacts", "firstname", &values, &many).await, 170);
}

/// Two contacts holding one email (an import artefact), and a third holding it among its
/// `hs_additional_emails`: `find` and `find_many` answer all three for that email, in any case,
/// so the engine sees an ambiguity instead of a guess; the other values answer as before.
/// Fails if the email lookup can answer only one record per email (`batch/read` by
/// `idProperty=email`).
#[tokio::test]
async fn every_contact_holding_an_email_is_a_candidate() {
    let w = world().await;
    let first = w.sim.seed(ObjectType::Contacts, &[props(json!({"email": "Twin@example.test"}))]).unwrap()[0];
    let second =
        w.sim.import_duplicate(ObjectType::Contacts, &props(json!({"email": "twin@example.test"}))).unwrap();
    let third = w
        .sim
        .import_duplicate(
            ObjectType::Contacts,
            &props(json!({"email": "other@example.test", "hs_additional_emails": "TWIN@example.test"})),
        )
        .unwrap();
    w.seed_contacts(3, "solo");
    let mut expected: Vec<String> = [first, second, third].iter().map(u64::to_string).collect();
    expected.sort();
    let ids = |records: &[Record]| {
        let mut ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        ids.sort();
        ids
    };

    let values: Vec<String> =
        ["twin@example.test", "TWIN@Example.Test", "solo1@example.test", "other@example.test"]
            .map(String::from)
            .to_vec();
    let many = w.conn.find_many("contacts", "email", &values).await.unwrap();
    assert_eq!(ids(&many["twin@example.test"]), expected);
    assert_eq!(ids(&many["TWIN@Example.Test"]), expected);
    assert_eq!(many["solo1@example.test"].len(), 1);
    assert_eq!(ids(&many["other@example.test"]), vec![third.to_string()]);
    let key = IdentityKey { field: "email".into(), value: "Twin@Example.test".into() };
    assert_eq!(ids(&w.conn.find("contacts", &key).await.unwrap()), expected);
}

/// A contact created while the search index lags (spec §5) is still found by email at once:
/// the batch read by `idProperty=email` adds what search cannot see yet. Fails if the email
/// lookup were search alone.
#[tokio::test]
async fn a_contact_hidden_by_search_lag_is_still_found_by_email() {
    let w = world().await;
    w.sim.set_search_lag(30_000, 0);
    let write = connector_api::Write {
        key: "k".into(),
        op: connector_api::WriteOp::Create {
            fields: props(json!({"email": "Fresh@example.test"})).into_iter().collect(),
            external_id: Some(IdentityKey { field: UNIQUE.into(), value: "W-fresh".into() }),
        },
    };
    let id = w.conn.apply("contacts", vec![write]).await.unwrap()[0].result.clone().unwrap().id;
    let before = w.search_requests();
    let many = w.conn.find_many("contacts", "email", &["fresh@example.test".to_string()]).await.unwrap();
    assert!(w.search_requests() > before, "search was asked");
    assert_eq!(many["fresh@example.test"].iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![id]);
}
