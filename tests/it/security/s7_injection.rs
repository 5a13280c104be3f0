//! S7: SQL and identifier injection. External ids, emails, field names and values that look
//! like SQL or LIKE patterns (`x'); DROP TABLE links;--`, `%`, `_`, `\`, a field name with a
//! double quote) are stored and matched literally on SQLite and PostgreSQL: each lookup finds
//! exactly its own row (no pattern over-match), the schema keeps every table, and row counts
//! change only by the rows written.
//!
//! Field names never become SQL identifiers in crosswalk's store (they are values in
//! `link_keys.field`, keys inside the JSON base, `decisions.field`), which this test pins by
//! using the worst names as ordinary data.

use std::collections::BTreeMap;

use crosswalk::store::{
    Backend, LinkUpsert, NewDeadLetter, NewDecision, NewReviewItem, ReviewFilter, Side, StreamKey,
};
use serde_json::json;
use sqlx::Connection;

use crate::store_suite::{at, canon, commit, lease};
use crate::support::TestStore;

const PAIR: &str = "pair'); DROP TABLE links;--";
/// A field name with a double quote, a quote and a semicolon: a broken identifier if spliced.
const EVIL_FIELD: &str = "na\"me'; DROP TABLE link_keys;--";

/// Values each stored as the left id, an email key and a field value of its own link.
const VALUES: &[&str] = &[
    "x'); DROP TABLE links;--",
    "%",
    "_",
    "\\",
    "\\%",
    "a%b",
    "a_b",
    "aXb",
    "%@example.test",
    "_@example.test",
    "o'brien@example.test",
    "\"; DROP TABLE \"links\"; --",
    "1 OR 1=1",
    "$1",
    "?",
    "/* comment */",
    "Ünïcødé ✓",
    "' || (SELECT count(*) FROM links) || '",
];

/// Rows per table, read through a raw connection (the catalogue names the tables).
async fn table_rows(t: &TestStore, backend: Backend) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    match backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&t.url).await.expect("sqlite");
            let names: Vec<(String,)> = sqlx::query_as(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(&mut c)
            .await
            .expect("tables");
            for (name,) in names {
                let sql = format!("SELECT COUNT(*) FROM \"{name}\"");
                let (n,): (i64,) =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(&mut c).await.expect("count");
                out.insert(name, n);
            }
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&t.url).await.expect("postgres");
            let names: Vec<(String,)> = sqlx::query_as(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
            )
            .fetch_all(&mut c)
            .await
            .expect("tables");
            for (name,) in names {
                let sql = format!("SELECT COUNT(*) FROM \"{name}\"");
                let (n,): (i64,) =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(&mut c).await.expect("count");
                out.insert(name, n);
            }
        }
    }
    out
}

pub async fn s7_sql_looking_values_are_stored_and_matched_literally(t: &TestStore) {
    let s = &*t.store;
    let backend = s.backend();
    let lease = lease(s).await;
    let before = table_rows(t, backend).await;
    assert!(before.contains_key("links") && before.contains_key("link_keys"), "{before:?}");

    let stream = StreamKey { scope: "incremental".into(), system: PAIR.into(), object: EVIL_FIELD.into() };
    let made = commit(s, &lease, |p| {
        for (i, v) in VALUES.iter().enumerate() {
            p.link_upserts.push(LinkUpsert {
                pair: PAIR.into(),
                left_id: (*v).into(),
                right_id: format!("R{i}"),
                keys: vec![
                    (Side::Left, "email".into(), (*v).into()),
                    (Side::Right, EVIL_FIELD.into(), (*v).into()),
                ],
                base: canon(&[(EVIL_FIELD, Some(v)), ("email", Some(v))]),
                ..LinkUpsert::default()
            });
        }
        p.review_items.push(NewReviewItem {
            pair: PAIR.into(),
            field: Some(EVIL_FIELD.into()),
            left_id: Some(VALUES[0].into()),
            left_value: Some(VALUES[1].into()),
            right_value: Some(VALUES[2].into()),
            reason: VALUES[0].into(),
            run_id: "run-1".into(),
            ..NewReviewItem::default()
        });
        p.dead_letters.push(NewDeadLetter {
            pair: Some(PAIR.into()),
            system: VALUES[0].into(),
            object: EVIL_FIELD.into(),
            record_id: Some(VALUES[3].into()),
            reason: VALUES[11].into(),
            payload: json!({ EVIL_FIELD: VALUES[0] }).to_string(),
            run_id: "run-1".into(),
            ..NewDeadLetter::default()
        });
        p.decisions.push(NewDecision {
            run_id: "run-1".into(),
            pair: PAIR.into(),
            link_id: None,
            system: "%".into(),
            record_id: "_".into(),
            field: EVIL_FIELD.into(),
            old_value: Some(VALUES[0].into()),
            new_value: Some(VALUES[11].into()),
            source_side: Side::Left,
            rule: "two_way".into(),
            reason: "test".into(),
            echo: false,
            provenance: None,
            at: at(3),
        });
        p.checkpoint = Some((stream.clone(), json!({ "cursor": VALUES[0] }), None, Some(at(2))));
    })
    .await
    .expect("commit");
    assert_eq!(made.created_links.len(), VALUES.len());
    assert!(s.record_event(PAIR, VALUES[0], at(4), VALUES[11]).await.expect("event"));
    assert!(!s.record_event(PAIR, VALUES[0], at(5), "again").await.expect("event"), "a literal replay");
    assert!(s.record_event(PAIR, "%", at(5), "{}").await.expect("event"), "`%` is not a pattern");

    let mut wrong = Vec::new();
    for (i, v) in VALUES.iter().enumerate() {
        let right = format!("R{i}");
        match s.link_by_record(PAIR, Side::Left, v).await.expect("lookup") {
            Some(l) if l.right_id == right && l.left_id == *v => {
                if l.base != canon(&[(EVIL_FIELD, Some(v)), ("email", Some(v))]) {
                    wrong.push(format!("{v:?}: base came back as {:?}", l.base));
                }
            }
            other => wrong.push(format!("{v:?}: by record found {other:?}")),
        }
        let by_email = s.links_by_key(PAIR, Side::Left, "email", v).await.expect("by key");
        if by_email.iter().map(|l| l.right_id.as_str()).collect::<Vec<_>>() != [right.as_str()] {
            wrong.push(format!("{v:?}: email key matched {} links", by_email.len()));
        }
        let by_field = s.links_by_key(PAIR, Side::Right, EVIL_FIELD, v).await.expect("by key");
        if by_field.len() != 1 {
            wrong.push(format!("{v:?}: quoted field name matched {} links", by_field.len()));
        }
        let many = s.links_by_records(PAIR, Side::Left, &[(*v).to_string()]).await.expect("batch");
        if many.len() != 1 {
            wrong.push(format!("{v:?}: batched lookup matched {} links", many.len()));
        }
    }
    assert!(wrong.is_empty(), "{backend}:\n{}", wrong.join("\n"));

    // Near misses find nothing: no LIKE, no case folding, no trimming.
    for miss in ["%%", "a", "ab", "x'); DROP TABLE links;-- ", "A_B", "AXB", "\\\\", "", " %"] {
        let found = s.links_by_key(PAIR, Side::Left, "email", miss).await.expect("by key");
        assert!(found.is_empty(), "{backend}: {miss:?} matched {found:?}");
        assert!(s.link_by_record(PAIR, Side::Left, miss).await.expect("lookup").is_none(), "{miss:?}");
    }
    assert!(s.links_by_key("%", Side::Left, "email", "%").await.expect("by key").is_empty(), "pair `%`");
    assert!(s.links_by_key(PAIR, Side::Left, "%", "%").await.expect("by key").is_empty(), "field `%`");

    let items = s
        .list_review(&ReviewFilter {
            pair: Some(PAIR.into()),
            field: Some(EVIL_FIELD.into()),
            ..Default::default()
        })
        .await
        .expect("review");
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0].reason.as_str(), items[0].left_value.as_deref(), items[0].right_value.as_deref()),
        (VALUES[0], Some("%"), Some("_"))
    );
    let none = ReviewFilter { pair: Some("%".into()), ..Default::default() };
    assert!(s.list_review(&none).await.expect("review").is_empty(), "pair filter `%` matches nothing");
    let dead = s.list_dead_letters(10).await.expect("dead letters");
    assert_eq!((dead.len(), dead[0].reason.as_str(), dead[0].object.as_str()), (1, VALUES[11], EVIL_FIELD));
    let decisions = s.decisions_for("%", "_", 10).await.expect("decisions");
    assert_eq!(decisions.len(), 1);
    assert_eq!(
        (decisions[0].field.as_str(), decisions[0].new_value.as_deref()),
        (EVIL_FIELD, Some(VALUES[11]))
    );
    assert!(s.decisions_for("x", "y", 10).await.expect("decisions").is_empty());
    assert!(s.decisions_for("%", "%", 10).await.expect("decisions").is_empty(), "`%` is not a pattern");
    let cp = s.load_checkpoint(&stream).await.expect("checkpoint").expect("saved");
    assert_eq!(cp.checkpoint, json!({ "cursor": VALUES[0] }));
    let events = s.pending_events(PAIR, 10).await.expect("events");
    assert_eq!(events.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(), [VALUES[0], "%"]);

    // The schema is intact and only the intended rows were added.
    let after = table_rows(t, backend).await;
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>(), "{backend}: tables");
    let n = VALUES.len() as i64;
    let expected: BTreeMap<&str, i64> = [
        ("links", n),
        ("link_keys", 2 * n),
        ("review_items", 1),
        ("dead_letters", 1),
        ("decisions", 1),
        ("checkpoints", 1),
        ("seen_events", 2),
    ]
    .into_iter()
    .collect();
    for (table, rows) in &after {
        let delta = rows - before[table];
        let want = expected.get(table.as_str()).copied().unwrap_or(0);
        assert_eq!(delta, want, "{backend}: rows added to {table}");
    }
    assert_eq!(s.count_links(PAIR).await.expect("count"), VALUES.len() as u64);
}

/// Field names become SOQL identifiers in the Salesforce connector (SOQL cannot quote them), so
/// a mapping or `external_id_field` naming a field that is not a plain identifier path is
/// refused when the connector is built, naming the field; plain names and relationship paths
/// pass.
#[test]
fn s7_salesforce_field_names_are_allow_listed_before_they_reach_soql() {
    use crosswalk::settings::{SalesforceSettings, SecretRef, SystemSettings};
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = dir.path().join("sf.secret");
    std::fs::write(&secret, "not-used-0000").expect("secret");
    let settings = |external_id_field: &str| {
        SystemSettings::Salesforce(SalesforceSettings {
            login_url: "https://login.salesforce.com".into(),
            client_id: "id".into(),
            client_secret: SecretRef { env: None, file: Some(secret.clone()) },
            api_version: "62.0".into(),
            external_id_field: external_id_field.into(),
            reserve_share: 0.2,
            overlap: None,
            allowed_instance_hosts: Vec::new(),
        })
    };
    let shipped = include_str!("../../../mappings/wlcro-people__salesforce-contacts.toml");
    let build = |mapping: &str, ext: &str| {
        let pair =
            crosswalk::mapping::load_str(mapping, std::path::Path::new("sf.toml")).expect("mapping loads");
        let transport: std::sync::Arc<dyn connector_api::http::HttpTransport> = std::sync::Arc::new(
            connector_api::http::ReqwestTransport::new(std::time::Duration::from_secs(1)).expect("transport"),
        );
        crosswalk::registry::build(
            "salesforce",
            &settings(ext),
            &[pair],
            transport,
            connector_api::ManualClock::at_epoch().shared(),
            1,
        )
        .map(|_| ())
    };
    assert!(build(shipped, "WLCRO_Id__c").is_ok(), "the shipped mapping passes");
    let evil_fields = [
        "Email FROM User WHERE Name != ''",
        "Email, (SELECT Id FROM Users)",
        "Na\"me",
        "x'); DROP TABLE mapping;--",
        "1Email",
        "Email.",
    ];
    for evil in evil_fields {
        let mapping = shipped.replace("right = \"FirstName\"", &format!("right = {}", toml_string(evil)));
        assert_ne!(mapping, shipped, "the mapping was changed");
        let err = build(&mapping, "WLCRO_Id__c").expect_err(evil).to_string();
        assert!(err.contains(evil) && err.contains("salesforce"), "{evil}: {err}");
    }
    let err = build(shipped, "WLCRO_Id__c = '' OR Id").expect_err("external id field").to_string();
    assert!(err.contains("external_id_field"), "{err}");
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
