//! The in-memory connector honours the connector contract: paging, rewinds, horizons, ranges,
//! find-or-create, per-item outcomes, tombstones, silent edits and injected faults.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector::Connector;
use connector_api::{
    self as connector, ChangeKind, Checkpoint, Clock, ConnectorError, ErrorClass, FieldMap, IdentityKey,
    ManualClock, PullPage, PullRequest, Write, WriteOp,
};
use connector_memory::{MemoryConnector, MemoryHandle, ObjectConfig};
use serde_json::json;

fn fields(v: serde_json::Value) -> FieldMap {
    serde_json::from_value(v).unwrap()
}

fn setup(silent: bool) -> (ManualClock, MemoryConnector, MemoryHandle) {
    let clock = ManualClock::at_epoch();
    let mut contacts = ObjectConfig::new("contacts");
    contacts.max_batch = 3;
    contacts.pull_sees_every_edit = !silent;
    let conn = MemoryConnector::new(clock.shared(), vec![contacts, ObjectConfig::new("companies")]);
    let handle = conn.handle();
    (clock, conn, handle)
}

async fn pull(
    c: &MemoryConnector,
    cp: Option<&Checkpoint>,
    rewind: Option<Duration>,
    horizon: DateTime<Utc>,
    limit: usize,
) -> PullPage {
    let req =
        PullRequest { object: "contacts", checkpoint: cp, rewind, horizon, since: None, until: None, limit };
    c.pull(req).await.unwrap()
}

/// Pulls pages until done; returns the ids read and the final checkpoint.
async fn drain(
    c: &MemoryConnector,
    mut cp: Option<Checkpoint>,
    rewind: Option<Duration>,
    horizon: DateTime<Utc>,
    limit: usize,
) -> (Vec<String>, Option<Checkpoint>) {
    let mut ids = Vec::new();
    let mut first = true;
    loop {
        let page = pull(c, cp.as_ref(), if first { rewind } else { None }, horizon, limit).await;
        first = false;
        assert!(page.changes.len() <= limit);
        ids.extend(page.changes.iter().map(|ch| ch.id.clone()));
        cp = Some(page.next);
        if page.done {
            return (ids, cp);
        }
    }
}

#[tokio::test]
async fn paging_reads_each_change_exactly_once_across_ties_at_page_boundaries() {
    let (clock, c, h) = setup(false);
    // Seven records share one timestamp, so every page boundary below falls inside the tie.
    for id in ["g", "c", "a", "f", "b", "e", "d"] {
        h.seed_with_id("contacts", id, fields(json!({"email": format!("{id}@x.test")})));
    }
    clock.advance(Duration::from_secs(1));
    h.seed_with_id("contacts", "a2", FieldMap::new());
    let horizon = clock.now() + chrono::Duration::seconds(60);
    let (ids, _) = drain(&c, None, None, horizon, 3).await;
    assert_eq!(ids, ["a", "b", "c", "d", "e", "f", "g", "a2"]);
}

#[tokio::test]
async fn rewind_rereads_the_overlap_and_nothing_older() {
    let (clock, c, h) = setup(false);
    let old = h.seed("contacts", FieldMap::new());
    clock.advance(Duration::from_secs(600));
    let recent = h.seed("contacts", FieldMap::new());
    clock.advance(Duration::from_secs(30));
    let horizon = clock.now();
    let (first, cp) = drain(&c, None, None, horizon, 10).await;
    assert_eq!(first, [old.clone(), recent.clone()]);

    clock.advance(Duration::from_secs(30));
    let new = h.seed("contacts", FieldMap::new());
    // Without a rewind the next run sees only the new record...
    let (plain, _) = drain(&c, cp.clone(), None, clock.now(), 10).await;
    assert_eq!(plain, std::slice::from_ref(&new));
    // ...with a two-minute rewind it re-reads the recent one too, not the old one.
    let (rewound, _) = drain(&c, cp, Some(Duration::from_secs(120)), clock.now(), 10).await;
    assert_eq!(rewound, [recent, new]);
}

#[tokio::test]
async fn horizon_clamps_what_a_run_reads_and_claims() {
    let (clock, c, h) = setup(false);
    let early = h.seed("contacts", FieldMap::new());
    let t_early = clock.now();
    clock.advance(Duration::from_secs(10));
    let late = h.seed("contacts", FieldMap::new());
    let horizon = t_early + chrono::Duration::seconds(5);
    let page = pull(&c, None, None, horizon, 10).await;
    assert_eq!(page.changes.iter().map(|ch| ch.id.clone()).collect::<Vec<_>>(), [early]);
    assert!(page.done);
    assert_eq!(page.newest, Some(t_early));
    let claimed: DateTime<Utc> = serde_json::from_value(page.next.0["t"].clone()).unwrap();
    assert!(claimed <= horizon && claimed <= t_early);
    // The next run, with a later horizon, picks up the change that was beyond it.
    let page = pull(&c, Some(&page.next), Some(Duration::ZERO), clock.now(), 10).await;
    assert_eq!(page.changes.last().unwrap().id, late);
}

#[tokio::test]
async fn since_and_until_bound_a_backfill_range() {
    let (clock, c, h) = setup(false);
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(h.seed("contacts", FieldMap::new()));
        clock.advance(Duration::from_secs(10));
    }
    let t0 = ManualClock::at_epoch().now();
    let req = PullRequest {
        object: "contacts",
        checkpoint: None,
        rewind: None,
        horizon: clock.now(),
        since: Some(t0 + chrono::Duration::seconds(10)),
        until: Some(t0 + chrono::Duration::seconds(30)),
        limit: 10,
    };
    let page = c.pull(req).await.unwrap();
    assert_eq!(page.changes.iter().map(|ch| ch.id.clone()).collect::<Vec<_>>(), ids[1..4].to_vec());
}

#[tokio::test]
async fn create_with_external_id_is_find_or_create() {
    let (_clock, c, h) = setup(false);
    let create = |key: &str| Write {
        key: key.into(),
        op: WriteOp::Create {
            fields: fields(json!({"email": "Jane@Example.com"})),
            external_id: Some(IdentityKey { field: "external_id".into(), value: "wl_1".into() }),
        },
    };
    let first = c.apply("contacts", vec![create("k1")]).await.unwrap();
    let again = c.apply("contacts", vec![create("k1")]).await.unwrap();
    let (a, b) = (first[0].result.clone().unwrap(), again[0].result.clone().unwrap());
    assert!(a.created && !b.created);
    assert_eq!(a.id, b.id);
    assert_eq!(h.live_records("contacts").len(), 1);
    assert_eq!(h.write_log().len(), 2);
    let found = c
        .find("contacts", &IdentityKey { field: "email".into(), value: "jane@example.COM".into() })
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "email lookups ignore case");
    assert_eq!(found[0].fields["external_id"], json!("wl_1"));
}

#[tokio::test]
async fn apply_answers_one_outcome_per_item() {
    let (_clock, c, h) = setup(false);
    let existing = h.seed("contacts", fields(json!({"email": "a@x.test"})));
    let bad = ConnectorError::Invalid {
        message: "bad email".into(),
        code: Some("INVALID_EMAIL".into()),
        field: None,
    };
    h.reject_value("contacts", "email", json!("not-an-email"), bad);
    let writes = vec![
        Write {
            key: "ok".into(),
            op: WriteOp::Update { id: existing.clone(), fields: fields(json!({"n": 1})) },
        },
        Write { key: "gone".into(), op: WriteOp::Update { id: "nope".into(), fields: FieldMap::new() } },
        Write {
            key: "rejected".into(),
            op: WriteOp::Create { fields: fields(json!({"email": "not-an-email"})), external_id: None },
        },
    ];
    let out = c.apply("contacts", writes).await.unwrap();
    let class =
        |k: &str| out.iter().find(|o| o.key == k).unwrap().result.as_ref().map_err(|e| e.class()).err();
    assert_eq!(class("ok"), None);
    assert_eq!(class("gone"), Some(ErrorClass::NotFound));
    assert_eq!(class("rejected"), Some(ErrorClass::Invalid));
    assert_eq!(h.live_records("contacts").len(), 1, "the rejected create made nothing");
    assert_eq!(h.records("contacts")[0].fields["n"], json!(1));

    let too_many =
        (0..4).map(|i| Write { key: format!("d{i}"), op: WriteOp::Delete { id: existing.clone() } });
    assert_eq!(c.apply("contacts", too_many.collect()).await.unwrap_err().class(), ErrorClass::Invalid);

    h.fail_next_apply_with(ConnectorError::Transient { message: "boom".into(), retry_after: None });
    let del = || vec![Write { key: "del".into(), op: WriteOp::Delete { id: existing.clone() } }];
    assert!(c.apply("contacts", del()).await.is_err());
    assert!(!h.records("contacts")[0].deleted, "a failed call did nothing");
    assert!(c.apply("contacts", del()).await.unwrap()[0].result.is_ok());
    assert!(c.apply("contacts", del()).await.unwrap()[0].result.is_ok(), "deleting twice is idempotent");
}

#[tokio::test]
async fn deletes_and_merges_surface_as_changes_and_tombstones_stay() {
    let (clock, c, h) = setup(false);
    let a = h.seed("contacts", fields(json!({"email": "a@x.test"})));
    let b = h.seed("contacts", fields(json!({"email": "b@x.test", "phone": "1"})));
    let d = h.seed("contacts", FieldMap::new());
    let (_, cp) = drain(&c, None, None, clock.now(), 10).await;
    clock.advance(Duration::from_secs(1));
    h.merge("contacts", &b, &a);
    h.delete("contacts", &d);
    let page = pull(&c, cp.as_ref(), None, clock.now(), 10).await;
    let kind = |id: &str| page.changes.iter().find(|ch| ch.id == id).map(|ch| ch.kind.clone());
    assert_eq!(kind(&b), Some(ChangeKind::Merged { survivor_id: a.clone() }));
    assert_eq!(kind(&d), Some(ChangeKind::Deleted));
    assert_eq!(kind(&a), Some(ChangeKind::Upsert));
    let survivor = &c.fetch("contacts", std::slice::from_ref(&a)).await.unwrap()[0];
    assert_eq!(survivor.fields["email"], json!("a@x.test"));
    assert_eq!(survivor.fields["phone"], json!("1"), "gained the loser's missing field");
    let tomb = c.fetch("contacts", &[d.clone(), "missing".into()]).await.unwrap();
    assert_eq!(tomb.len(), 1);
    assert!(tomb[0].deleted);
    assert!(
        c.find("contacts", &IdentityKey { field: "email".into(), value: "b@x.test".into() })
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn silent_edits_change_records_but_not_pulls() {
    let (clock, c, h) = setup(true);
    let id = h.seed("contacts", fields(json!({"name": "A"})));
    let (_, cp) = drain(&c, None, None, clock.now(), 10).await;
    let v1 = h.version("contacts", &id).unwrap();
    clock.advance(Duration::from_secs(5));
    h.edit("contacts", &id, fields(json!({"name": "B"})));
    let (ids, _) = drain(&c, cp.clone(), None, clock.now(), 10).await;
    assert!(ids.is_empty(), "a silent edit is not in the pull: {ids:?}");
    let fetched = &c.fetch("contacts", std::slice::from_ref(&id)).await.unwrap()[0];
    assert_eq!(fetched.fields["name"], json!("B"));
    assert_eq!(fetched.modified_at, clock.now());
    assert!(h.version("contacts", &id).unwrap() > v1);
    clock.advance(Duration::from_secs(5));
    h.edit_visible("contacts", &id, fields(json!({"status": "won"})));
    let (ids, _) = drain(&c, cp, None, clock.now(), 10).await;
    assert_eq!(ids, [id]);
}

#[tokio::test]
async fn injected_pull_failure_is_returned_once() {
    let (clock, c, h) = setup(false);
    h.seed("contacts", FieldMap::new());
    h.fail_pull_with(ConnectorError::Throttled { retry_after: None, bucket: None });
    let req = || PullRequest {
        object: "contacts",
        checkpoint: None,
        rewind: None,
        horizon: clock.now(),
        since: None,
        until: None,
        limit: 10,
    };
    assert_eq!(c.pull(req()).await.unwrap_err().class(), ErrorClass::Throttled);
    assert_eq!(c.pull(req()).await.unwrap().changes.len(), 1);
    assert_eq!(h.calls().pulls, 2);
    let caps = c.capabilities();
    assert_eq!(caps.object("contacts").unwrap().max_batch, 3);
    let names: BTreeSet<_> = caps.objects.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["companies", "contacts"]));
}

/// `find_many` answers, per value, what `find` answers for it (emails in any case, external ids
/// exactly, misses empty), in one call. Fails if the batched matching drifts from `find`'s.
#[tokio::test]
async fn find_many_answers_what_find_answers_in_one_call() {
    let (_clock, c, h) = setup(false);
    for i in 0..20 {
        h.seed(
            "contacts",
            fields(json!({"email": format!("Person{i}@Example.com"), "external_id": format!("wl_{i}")})),
        );
    }
    let deleted = h.seed("contacts", fields(json!({"email": "gone@example.com"})));
    h.delete("contacts", &deleted);
    for (field, values) in [
        (
            "email",
            vec![
                "person3@example.com",
                "PERSON3@EXAMPLE.COM",
                "Person4@Example.com",
                "gone@example.com",
                "x' OR '1'='1",
            ],
        ),
        ("external_id", vec!["wl_5", "WL_5", "wl_6", "wl_99"]),
    ] {
        let values: Vec<String> = values.into_iter().map(String::from).collect();
        let before = h.calls();
        let many = c.find_many("contacts", field, &values).await.unwrap();
        assert_eq!(h.calls().find_manys, before.find_manys + 1);
        assert_eq!(h.calls().finds, before.finds, "no per-value finds");
        for v in &values {
            let one =
                c.find("contacts", &IdentityKey { field: field.into(), value: v.clone() }).await.unwrap();
            assert_eq!(many.get(v).cloned().unwrap_or_default(), one, "{field} = {v}");
        }
        let hits = values.iter().filter(|v| many.get(*v).is_some_and(|r| !r.is_empty())).count();
        assert_eq!(hits, if field == "email" { 3 } else { 2 }, "{field}: {many:?}");
    }
}
