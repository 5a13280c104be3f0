//! Conformance cases: runs, dead letters, the decision log, write intents and webhook events.

use crosswalk::store::{
    DEAD_LETTER_PAYLOAD_MAX, DeadLetterChange, DeadLetterFilter, DeadLetterSource, DeadLetterStatus,
    FRESHNESS_KEEP, FreshnessSample, NewDeadLetter, NewDecision, NewRun, Redrive, RunCounts, RunKind,
    RunOutcome, RunStatus, Side, StoreError, StreamKey, StreamWindow, WriteIntent,
};
use serde_json::json;

use super::{at, commit, lease};
use crate::support::TestStore;

pub async fn runs_round_trip(t: &TestStore) {
    let s = &*t.store;
    let run = |id: &str, started| NewRun {
        id: id.into(),
        kind: RunKind::Scheduled,
        pairs: vec!["people".into(), "companies".into()],
        started_at: at(started),
    };
    s.start_run(&run("01-a", 0)).await.unwrap();
    s.start_run(&NewRun { kind: RunKind::Backfill, ..run("01-b", 300) }).await.unwrap();
    let err = s.start_run(&run("01-a", 5)).await.expect_err("same id");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    let running = s.run("01-a").await.unwrap().expect("recorded");
    assert_eq!((running.finished_at, running.status, running.counts), (None, None, RunCounts::default()));
    assert_eq!(running.pairs, ["people", "companies"]);

    let outcome = RunOutcome {
        finished_at: at(42),
        status: RunStatus::Partial,
        counts: RunCounts {
            pulled: 10,
            reread: 3,
            linked: 2,
            created: 1,
            updated: 4,
            conflicts: 1,
            rejected: 1,
            deleted: 0,
            skipped_echo: 5,
        },
        windows: vec![StreamWindow {
            stream: StreamKey::incremental("hubspot", "contacts"),
            from: Some(at(-120)),
            to: Some(at(0)),
        }],
        error: Some("hubspot: 1 write rejected".into()),
    };
    s.finish_run("01-a", &outcome).await.unwrap();
    let done = s.run("01-a").await.unwrap().unwrap();
    assert_eq!((done.finished_at, done.status), (Some(at(42)), Some(RunStatus::Partial)));
    assert_eq!((done.counts, &done.windows, &done.error), (outcome.counts, &outcome.windows, &outcome.error));
    assert_eq!(done.kind, RunKind::Scheduled);

    let recent = s.recent_runs(10).await.unwrap();
    assert_eq!(recent.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["01-b", "01-a"]);
    assert_eq!(recent[0].kind, RunKind::Backfill);
    assert_eq!(s.recent_runs(1).await.unwrap().len(), 1);
    assert!(s.run("nope").await.unwrap().is_none());
    assert!(matches!(s.finish_run("nope", &outcome).await, Err(StoreError::NotFound(_))));
}

pub async fn dead_letters(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let big = "é".repeat(DEAD_LETTER_PAYLOAD_MAX); // two bytes each: twice the cap
    commit(s, &lease, |p| {
        p.dead_letters.push(NewDeadLetter {
            pair: Some("people".into()),
            system: "hubspot".into(),
            object: "contacts".into(),
            record_id: Some("123".into()),
            reason: "invalid email".into(),
            payload: big.clone(),
            run_id: "run-1".into(),
            ..Default::default()
        });
        p.dead_letters.push(NewDeadLetter {
            system: "wlcro".into(),
            object: "events".into(),
            reason: "unparseable".into(),
            payload: "{".into(),
            run_id: "run-1".into(),
            ..Default::default()
        });
    })
    .await
    .unwrap();
    assert_eq!(s.count_dead_letters().await.unwrap(), 2);
    let list = s.list_dead_letters(10).await.unwrap();
    assert_eq!(list.iter().map(|d| d.system.as_str()).collect::<Vec<_>>(), ["wlcro", "hubspot"]);
    let hubspot = &list[1];
    assert_eq!(hubspot.payload.len(), DEAD_LETTER_PAYLOAD_MAX, "truncated to 8 KiB on a char boundary");
    assert!(big.starts_with(&hubspot.payload));
    assert_eq!((hubspot.pair.as_deref(), hubspot.record_id.as_deref()), (Some("people"), Some("123")));
    assert_eq!((hubspot.reason.as_str(), hubspot.created_at), ("invalid email", at(10)));
    assert_eq!((list[0].pair.clone(), list[0].payload.as_str()), (None, "{"));
    assert_eq!(s.list_dead_letters(1).await.unwrap().len(), 1);
}

/// Dead letters an admin acts on: filters, counts by reason, retry (once, with its re-read hint
/// stored as a pending event in the same transaction) and discard (which stays discarded).
pub async fn dead_letters_are_filtered_retried_once_and_discarded_for_good(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let letter = |system: &str, record: &str, reason: &str, source| NewDeadLetter {
        pair: Some("people".into()),
        system: system.into(),
        object: "clients".into(),
        record_id: Some(record.into()),
        reason: reason.into(),
        payload: format!("{{\"id\": {record}}}"),
        run_id: "run-1".into(),
        source,
        event_id: (source == DeadLetterSource::Webhook).then(|| format!("ev-{record}")),
    };
    commit(s, &lease, |p| {
        p.dead_letters.push(letter("wlcro", "1", "Missing client_id", DeadLetterSource::Webhook));
        p.dead_letters.push(letter("wlcro", "2", "missing client_id", DeadLetterSource::Pull));
        p.dead_letters.push(letter("hubspot", "3", "bad email 50%_off", DeadLetterSource::Pull));
    })
    .await
    .unwrap();
    let ids = |f: DeadLetterFilter| async move {
        s.find_dead_letters(&f)
            .await
            .unwrap()
            .iter()
            .map(|d| d.record_id.clone().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(DeadLetterFilter::default()).await, ["3", "2", "1"], "newest first");
    let by_system = DeadLetterFilter { system: Some("wlcro".into()), ..Default::default() };
    assert_eq!(ids(by_system).await, ["2", "1"]);
    let by_source = DeadLetterFilter { source: Some(DeadLetterSource::Webhook), ..Default::default() };
    assert_eq!(ids(by_source).await, ["1"]);
    let by_reason = DeadLetterFilter { reason: Some("CLIENT_ID".into()), ..Default::default() };
    assert_eq!(ids(by_reason).await, ["2", "1"], "reason text, any case");
    let literal = DeadLetterFilter { reason: Some("0%_o".into()), ..Default::default() };
    assert_eq!(ids(literal).await, ["3"], "% and _ match themselves");
    let by_reason = s.count_dead_letters_by_reason().await.unwrap();
    assert_eq!(by_reason.iter().map(|(_, n)| n).sum::<u64>(), 3);

    let all = s.find_dead_letters(&DeadLetterFilter::default()).await.unwrap();
    let (hook, pulled, other) = (all[2].id, all[1].id, all[0].id);
    let one = s.dead_letter(hook).await.unwrap().expect("letter");
    assert_eq!(
        (one.source, one.event_id.as_deref(), one.status, one.status_at),
        (DeadLetterSource::Webhook, Some("ev-1"), DeadLetterStatus::Open, None)
    );
    assert!(s.dead_letter(9_999).await.unwrap().is_none());

    let redrive =
        Redrive { source: "wlcro".into(), event_id: format!("redrive:{hook}"), payload: "{}".into() };
    assert_eq!(s.retry_dead_letter(hook, &redrive, "ana", at(20)).await.unwrap(), DeadLetterChange::Changed);
    assert_eq!(s.retry_dead_letter(hook, &redrive, "ana", at(21)).await.unwrap(), DeadLetterChange::Already);
    let pending = s.pending_events("wlcro", 10).await.unwrap();
    assert_eq!(pending.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(), [redrive.event_id.as_str()]);
    let one = s.dead_letter(hook).await.unwrap().unwrap();
    assert_eq!(
        (one.status, one.status_at, one.status_by.as_deref()),
        (DeadLetterStatus::Retried, Some(at(20)), Some("ana"))
    );

    assert_eq!(s.discard_dead_letter(pulled, "bo", at(22)).await.unwrap(), DeadLetterChange::Changed);
    assert_eq!(s.discard_dead_letter(pulled, "bo", at(23)).await.unwrap(), DeadLetterChange::Already);
    let again = Redrive { event_id: format!("redrive:{pulled}"), ..redrive.clone() };
    assert_eq!(
        s.retry_dead_letter(pulled, &again, "bo", at(24)).await.unwrap(),
        DeadLetterChange::Not(DeadLetterStatus::Discarded),
        "a discarded letter stays discarded"
    );
    assert_eq!(s.pending_events("wlcro", 10).await.unwrap().len(), 1, "no hint for the discarded one");
    assert_eq!(
        s.discard_dead_letter(hook, "bo", at(25)).await.unwrap(),
        DeadLetterChange::Not(DeadLetterStatus::Retried)
    );
    assert_eq!(s.discard_dead_letter(9_999, "bo", at(25)).await.unwrap(), DeadLetterChange::Missing);

    assert_eq!(s.count_dead_letters().await.unwrap(), 1, "only the open one counts");
    assert_eq!(s.count_dead_letters_by_reason().await.unwrap(), [("bad email 50%_off".to_string(), 1)]);
    let open = DeadLetterFilter { status: Some(DeadLetterStatus::Open), ..Default::default() };
    assert_eq!(s.find_dead_letters(&open).await.unwrap().iter().map(|d| d.id).collect::<Vec<_>>(), [other]);
}

pub async fn decisions_newest_first(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let decision = |field: &str, secs, new: Option<&str>| NewDecision {
        run_id: format!("run-{secs}"),
        pair: "people".into(),
        link_id: Some(7),
        system: "hubspot".into(),
        record_id: "123".into(),
        field: field.into(),
        old_value: Some("old".into()),
        new_value: new.map(str::to_owned),
        source_side: Side::Left,
        rule: "two_way".into(),
        reason: "only left changed".into(),
        echo: false,
        provenance: None,
        at: at(secs),
    };
    commit(s, &lease, |p| {
        p.decisions.push(decision("email", 1, Some("a@x")));
        p.decisions.push(NewDecision {
            echo: true,
            provenance: Some("review:42 by alice".into()),
            ..decision("phone", 3, None)
        });
        p.decisions.push(decision("name", 2, Some("Ann")));
        p.decisions.push(NewDecision { record_id: "456".into(), ..decision("email", 9, Some("b@x")) });
        p.decisions.push(NewDecision { system: "wlcro".into(), ..decision("email", 9, Some("c@x")) });
    })
    .await
    .unwrap();
    let log = s.decisions_for("hubspot", "123", 10).await.unwrap();
    assert_eq!(log.iter().map(|d| d.field.as_str()).collect::<Vec<_>>(), ["phone", "name", "email"]);
    let phone = &log[0];
    assert!(phone.echo);
    assert_eq!((phone.new_value.clone(), phone.provenance.as_deref()), (None, Some("review:42 by alice")));
    assert_eq!((phone.source_side, phone.link_id, phone.at), (Side::Left, Some(7), at(3)));
    assert_eq!(phone.run_id, "run-3");
    assert_eq!(s.decisions_for("hubspot", "123", 2).await.unwrap().len(), 2);
    assert!(s.decisions_for("salesforce", "123", 10).await.unwrap().is_empty());
}

pub async fn intents_lifecycle(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let intent = |key: &str, secs| WriteIntent {
        key: key.into(),
        pair: "people".into(),
        system: "hubspot".into(),
        object: "contacts".into(),
        op_json: json!({"op": "create", "fields": {"email": "a@x"}}),
        run_id: "run-1".into(),
        created_at: at(secs),
    };
    let batch = [intent("k2", 2), intent("k1", 1), intent("k3", 3)];
    assert_eq!(s.record_intents(&lease, &batch).await.unwrap(), 3);
    assert_eq!(s.record_intents(&lease, &batch[..1]).await.unwrap(), 0, "keys are idempotent");
    let pending = s.pending_intents("people").await.unwrap();
    assert_eq!(pending.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(), ["k1", "k2", "k3"]);
    assert_eq!(pending[0], batch[1]);
    assert!(s.pending_intents("companies").await.unwrap().is_empty());

    commit(s, &lease, |p| p.intents_done.extend(["k1".to_string(), "k3".into(), "unknown".into()]))
        .await
        .unwrap();
    let pending = s.pending_intents("people").await.unwrap();
    assert_eq!(pending.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(), ["k2"]);
    // Recording a finished intent again does not revive it.
    assert_eq!(s.record_intents(&lease, &batch).await.unwrap(), 0);
    assert_eq!(s.pending_intents("people").await.unwrap().len(), 1);
}

pub async fn event_dedupe(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let body = r#"{"type":"client.updated","id":"e1"}"#;
    assert!(s.record_event("wlcro", "e1", at(1), body).await.unwrap());
    assert!(!s.record_event("wlcro", "e1", at(2), "replayed").await.unwrap(), "a replay");
    assert!(s.record_event("hubspot", "e1", at(1), "{}").await.unwrap(), "ids are per source");
    assert!(s.record_event("wlcro", "e2", at(0), "{}").await.unwrap());

    let pending = s.pending_events("wlcro", 10).await.unwrap();
    assert_eq!(pending.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(), ["e2", "e1"]);
    assert_eq!((pending[1].payload.as_str(), pending[1].received_at), (body, at(1)));
    assert_eq!(s.pending_events("wlcro", 1).await.unwrap().len(), 1);
    assert_eq!(s.count_pending_events("wlcro", 10).await.unwrap(), 2);
    assert_eq!(s.count_pending_events("wlcro", 1).await.unwrap(), 1, "counted up to the cap");

    // Processing is marked by the page commit; feed events never persisted are recorded too.
    commit(s, &lease, |p| {
        p.seen_events.extend([("wlcro".into(), "e1".into()), ("wlcro".into(), "feed-9".into())])
    })
    .await
    .unwrap();
    let pending = s.pending_events("wlcro", 10).await.unwrap();
    assert_eq!(pending.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(), ["e2"]);
    assert_eq!(s.count_pending_events("wlcro", 10).await.unwrap(), 1, "processed events are not pending");
    assert!(!s.record_event("wlcro", "feed-9", at(20), "{}").await.unwrap(), "already seen");
    assert_eq!(s.pending_events("hubspot", 10).await.unwrap().len(), 1);
}

pub async fn a_delivery_is_recorded_at_once_and_deduplicated_within_it(t: &TestStore) {
    let s = &*t.store;
    assert!(s.record_event("hubspot", "9", at(1), "earlier delivery").await.unwrap());
    let ev = |id: &str, body: &str| (id.to_string(), body.to_string());
    let mut batch: Vec<(String, String)> =
        (0..150).map(|i| ev(&format!("b{i}"), &format!("{{\"n\":{i}}}"))).collect();
    batch.insert(3, ev("9", "replay of an earlier delivery"));
    batch.push(ev("b7", "a second copy within the delivery"));
    let fresh = s.record_events("hubspot", &batch, at(5)).await.unwrap();
    assert_eq!(fresh.len(), batch.len(), "one flag per event, in order");
    assert!(!fresh[3], "an id stored by an earlier delivery is a replay");
    assert!(!fresh[151], "the second copy of an id within the delivery is a replay");
    assert_eq!(fresh.iter().filter(|f| **f).count(), 150);
    let pending = s.pending_events("hubspot", 500).await.unwrap();
    assert_eq!(pending.len(), 151);
    let b7 = pending.iter().find(|e| e.event_id == "b7").unwrap();
    assert_eq!((b7.payload.as_str(), b7.received_at), (r#"{"n":7}"#, at(5)), "the first copy is stored");
    let nine = pending.iter().find(|e| e.event_id == "9").unwrap();
    assert_eq!(nine.payload, "earlier delivery", "a replay changes nothing");
    // Ids are per source; the same batch again is all replays; an empty delivery is nothing.
    assert_eq!(s.record_events("wlcro", &batch[..2], at(6)).await.unwrap(), [true, true]);
    assert!(s.record_events("hubspot", &batch, at(7)).await.unwrap().iter().all(|f| !f));
    assert!(s.record_events("hubspot", &[], at(8)).await.unwrap().is_empty());
}

pub async fn freshness_samples_are_committed_with_the_page_and_pruned_after_a_week(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let sample = |pair: &str, path: &str, millis: i64, secs: i64| FreshnessSample {
        pair: pair.into(),
        path: path.into(),
        millis,
        at: at(secs),
    };
    commit(s, &lease, |p| {
        p.freshness = vec![sample("people", "poll", 90_000, 100), sample("people", "webhook", 1_500, 200)];
        p.freshness.push(sample("deals", "poll", 7, 150));
    })
    .await
    .unwrap();
    let got = s.freshness("people", 10).await.unwrap();
    assert_eq!(got, [sample("people", "webhook", 1_500, 200), sample("people", "poll", 90_000, 100)]);
    assert_eq!(s.freshness("people", 1).await.unwrap().len(), 1, "the newest up to the limit");
    // A week and a bit later a new sample prunes the pair's old ones, not another pair's.
    let later = 200 + FRESHNESS_KEEP.num_seconds() + 50;
    commit(s, &lease, |p| p.freshness = vec![sample("people", "poll", 2_000, later)]).await.unwrap();
    assert_eq!(s.freshness("people", 10).await.unwrap(), [sample("people", "poll", 2_000, later)]);
    assert_eq!(s.freshness("deals", 10).await.unwrap().len(), 1);
}
