//! Webhook-driven micro-syncs (`sync::micro`) over the WhiteLabelCRO and HubSpot simulators on
//! the world's linked clock: a debounced burst is one write, the pair's lease (held by another
//! process or by a backfill of this one) makes the worker wait, a storm above the quota is paced
//! by the connectors' limiters, and the scheduled pull after a micro-sync writes nothing (echo by
//! base). Pending events are stored as the receivers store them; outcomes are judged from the
//! simulators' records and request logs.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::{Change, ChangeKind, Clock};
use crosswalk::mapping::Side;
use crosswalk::sync::micro::{self, MicroOptions, MicroStep};
use crosswalk::sync::webhook_events::EventHint;
use crosswalk::sync::{BackfillSpec, PageStats, PairStatus, ProgressSink, SyncOptions};
use serde_json::{Map, json};
use sim_core::LoggedRequest;

use crate::hubspot_engine::{Env, Linked, prop};

const PAIR: &str = "wlcro-people__hubspot-contacts";

/// Stores a pending WhiteLabelCRO event naming `client`, received now on the engine's clock.
async fn wlcro_event(env: &Env, event_id: &str, client: i64) {
    let change = Change {
        object: "people".into(),
        id: client.to_string(),
        kind: ChangeKind::Upsert,
        modified_at: env.clock.now(),
        fields: Default::default(),
        partial: true,
        event_id: Some(event_id.into()),
    };
    let hint = EventHint::Changes { event_type: "client.updated".into(), changes: vec![change] };
    let payload = serde_json::to_string(&hint).expect("hint");
    let stored = env.engine.store().record_event("wlcro", event_id, env.clock.now(), &payload).await;
    assert!(stored.expect("store the event"), "event {event_id} stored");
}

fn last_name(env: &Env, client: i64, name: &str) {
    let mut fields = Map::new();
    fields.insert("last_name".into(), json!(name));
    env.wlcro().ui_edit(client, &fields).expect("edit the client");
}

async fn step(env: &Env) -> MicroStep {
    micro::step(&env.engine, &MicroOptions::default()).await
}

fn advance_ms(env: &Env, ms: u64) {
    env.clock.advance(Duration::from_millis(ms));
}

/// A linked client and contact, synced once by a scheduled run.
async fn linked_env(env: &Env, n: usize) -> Vec<Linked> {
    let people: Vec<Linked> = (0..n).map(|i| env.seed_linked(i, true)).collect();
    env.advance(60);
    env.run().await;
    env.advance(60);
    people
}

async fn pending(env: &Env) -> usize {
    env.engine.store().pending_events("wlcro", 10_000).await.expect("pending").len()
}

fn refused(log: &[LoggedRequest]) -> usize {
    log.iter().filter(|r| r.status == 429).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_twenty_edits_to_one_record_is_one_write_and_the_next_pull_writes_nothing() {
    let env = Env::start().await;
    let ann = linked_env(&env, 1).await.remove(0);
    let marks = env.marks();
    for i in 0..20 {
        last_name(&env, ann.client, &format!("Lee-{i}"));
        wlcro_event(&env, &format!("burst-{i}"), ann.client).await;
        let s = step(&env).await;
        assert!(s.synced.is_empty(), "edit {i}: the record is not quiet yet, nothing syncs");
        advance_ms(&env, 200);
    }
    assert!(env.writes_since(marks).0.is_empty(), "no write during the burst");
    advance_ms(&env, 1000);
    let s = step(&env).await;
    assert_eq!(s.synced.len(), 1, "one batch once the record is quiet: {s:?}");
    let (to_hubspot, to_wlcro) = env.writes_since(marks);
    assert_eq!(to_hubspot.len(), 1, "one write to HubSpot for 20 edits: {to_hubspot:?}");
    assert!(to_wlcro.is_empty(), "nothing written back: {to_wlcro:?}");
    assert_eq!(prop(&env.contact(ann.contact), "lastname").as_deref(), Some("Lee-19"));
    assert_eq!(pending(&env).await, 0, "the events are processed");

    // The scheduled pull reads the same edits from the feed: an echo by base, no write.
    let marks = env.marks();
    env.advance(60);
    env.run().await;
    let (to_hubspot, to_wlcro) = env.writes_since(marks);
    assert!(to_hubspot.is_empty() && to_wlcro.is_empty(), "the pull re-wrote: {to_hubspot:?} {to_wlcro:?}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_constantly_edited_record_still_syncs_after_the_delay_cap() {
    let env = Env::start().await;
    let ann = linked_env(&env, 1).await.remove(0);
    let marks = env.marks();
    let mut synced_after = None;
    for i in 0..40u64 {
        last_name(&env, ann.client, &format!("Lee-{i}"));
        wlcro_event(&env, &format!("edit-{i}"), ann.client).await;
        if !step(&env).await.synced.is_empty() {
            synced_after = Some(i);
            break;
        }
        advance_ms(&env, 500);
    }
    // Edits every 0.5 s never leave a quiet second: the 5 s cap makes it due at the 11th edit.
    assert_eq!(synced_after, Some(10), "synced at the cap, not never");
    assert_eq!(env.writes_since(marks).0.len(), 1);
    assert_eq!(prop(&env.contact(ann.contact), "lastname").as_deref(), Some("Lee-10"));
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_micro_sync_waits_while_another_process_holds_the_pairs_lease_then_proceeds() {
    let env = Env::start().await;
    let ann = linked_env(&env, 1).await.remove(0);
    let store = env.engine.store().clone();
    let now = env.clock.now();
    let held = store
        .claim_lease(&format!("pair:{PAIR}"), "other-host:4242", Duration::from_secs(600), now)
        .await
        .expect("claim")
        .expect("the lease is free");
    last_name(&env, ann.client, "Lee-held");
    wlcro_event(&env, "held-1", ann.client).await;
    let marks = env.marks();
    for _ in 0..3 {
        advance_ms(&env, 2000);
        let s = step(&env).await;
        assert!(s.synced.is_empty(), "synced under another process's lease: {s:?}");
        assert_eq!(s.waiting, [format!("{PAIR}: other-host:4242")]);
    }
    let (to_hubspot, _) = env.writes_since(marks);
    assert!(to_hubspot.is_empty(), "a write while the lease was held: {to_hubspot:?}");
    assert_eq!(pending(&env).await, 1, "the event waits");
    store.release_lease(&held).await.expect("release");
    let s = step(&env).await;
    assert_eq!((s.synced.len(), s.waiting.len()), (1, 0), "{s:?}");
    assert_eq!(env.writes_since(marks).0.len(), 1);
    assert_eq!(prop(&env.contact(ann.contact), "lastname").as_deref(), Some("Lee-held"));
    env.finish().await;
}

/// Holds the backfill on its first committed page until the test lets it go.
struct HoldFirstPage {
    held: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
}

impl ProgressSink for HoldFirstPage {
    fn page(&self, _pair: &str, _side: Side, _total: &PageStats, _newest: Option<DateTime<Utc>>) {
        if let Some((reached, go)) = self.held.lock().unwrap().take() {
            reached.send(()).unwrap();
            go.recv().unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_micro_sync_during_a_backfill_waits_for_it() {
    let (reached_tx, reached_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    let sink = Arc::new(HoldFirstPage { held: Mutex::new(None) });
    let opts = SyncOptions::default().creating_on_first_sync();
    let env = Env::start_custom(opts, false, 6000, |e| e.with_progress(sink.clone())).await;
    let ann = linked_env(&env, 1).await.remove(0);
    *sink.held.lock().unwrap() = Some((reached_tx, go_rx));
    let engine = env.engine.clone();
    let backfill = tokio::spawn(async move {
        engine.backfill(&BackfillSpec { pair: PAIR.into(), ..Default::default() }, false).await
    });
    tokio::task::spawn_blocking(move || reached_rx.recv()).await.unwrap().expect("the backfill's first page");
    // The backfill holds the pair now.
    last_name(&env, ann.client, "Lee-after-backfill");
    wlcro_event(&env, "during-backfill", ann.client).await;
    let marks = env.marks();
    advance_ms(&env, 2000);
    let s = step(&env).await;
    assert!(s.synced.is_empty(), "synced during the backfill: {s:?}");
    assert_eq!(s.waiting, [format!("{PAIR}: a run of this process")]);
    assert!(env.writes_since(marks).0.is_empty());
    go_tx.send(()).unwrap();
    let report = backfill.await.unwrap().expect("backfill");
    assert!(report.state.finished_at.is_some(), "the backfill finished: {report:?}");
    advance_ms(&env, 2000);
    let s = step(&env).await;
    assert!(s.waiting.is_empty(), "{s:?}");
    assert_eq!(prop(&env.contact(ann.contact), "lastname").as_deref(), Some("Lee-after-backfill"));
    assert_eq!(pending(&env).await, 0);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_storm_above_the_quota_is_paced_not_refused() {
    // 20 requests a minute on WhiteLabelCRO (simulator and connector); 30 of 150 linked clients
    // edited at once are read back one search each: the batch needs over a minute of quota (and
    // stays under the pair's 25 % overwrite cap, which holds a micro-sync back as it holds a run).
    let opts = SyncOptions::default().creating_on_first_sync();
    let env = Env::start_custom(opts, false, 20, |e| e).await;
    let people: Vec<Linked> = linked_env(&env, 150).await.into_iter().take(30).collect();
    let wl_marks = env.wlcro().requests().len();
    let marks = env.marks();
    let started = env.clock.now();
    for (i, p) in people.iter().enumerate() {
        last_name(&env, p.client, &format!("Storm-{i}"));
        wlcro_event(&env, &format!("storm-{i}"), p.client).await;
    }
    advance_ms(&env, 1500);
    let s = step(&env).await;
    assert_eq!(s.synced.len(), 1, "{s:?}");
    assert_eq!(s.synced[0].status, PairStatus::Done, "{s:?}");
    let paced = env.clock.now() - started;
    assert!(paced >= chrono::Duration::seconds(60), "30 reads at 20/min took only {paced}");
    let wl_log: Vec<_> = env.wlcro().requests().into_iter().skip(wl_marks).collect();
    assert_eq!(refused(&wl_log), 0, "WhiteLabelCRO refused requests");
    assert!(wl_log.len() >= 30, "one read per client: {}", wl_log.len());
    let spread = wl_log.last().unwrap().at - wl_log.first().unwrap().at;
    assert!(spread >= chrono::Duration::seconds(60), "the simulator saw 30 reads within {spread}");
    let hs_log: Vec<_> = env.hubspot().requests().into_iter().skip(marks.0).collect();
    assert_eq!(refused(&hs_log), 0, "HubSpot refused requests");
    for (i, p) in people.iter().enumerate() {
        let want = format!("Storm-{i}");
        assert_eq!(prop(&env.contact(p.contact), "lastname"), Some(want), "client {}", p.client);
    }
    assert_eq!(pending(&env).await, 0);
    env.finish().await;
}
