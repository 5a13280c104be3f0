//! Backfills, stop requests and leases, end to end on two in-memory systems and a real SQLite
//! store (the engine level of `crosswalk backfill`, `crosswalk run` and two processes on one
//! store). Outcomes are judged from the fake systems' records and write logs.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::testsuite::{Answer, Gate, Hook, Intercept};
use connector_api::{Clock, Connector};
use crosswalk::ids::IdGen;
use crosswalk::mapping::Side;
use crosswalk::store::{RunKind, StreamKey};
use crosswalk::sync::{BackfillSpec, Engine, PageStats, PairStatus, ProgressSink, StopSignal, SyncOptions};
use serde_json::Value;

use crate::sync_engine::{World, fields};

fn small_pages() -> SyncOptions {
    SyncOptions { page_size: 5, ..SyncOptions::default().creating_on_first_sync() }
}

/// `n` clients on the left side, one per email.
fn seed_clients(w: &World, from: usize, n: usize) -> Vec<String> {
    (from..from + n)
        .map(|i| {
            let email = format!("p{i}@example.test");
            let name = format!("P{i}");
            w.a.seed("clients", fields(&[("email", &email), ("first_name", &name), ("status", "lead")]))
        })
        .collect()
}

/// The back-links (`a_id`) of the contacts on the right: one per created client.
fn right_back_links(w: &World) -> Vec<String> {
    w.b.live_records("contacts")
        .iter()
        .filter_map(|r| r.fields.get("a_id").and_then(Value::as_str).map(str::to_string))
        .collect()
}

fn assert_no_duplicates(w: &World) {
    let links = right_back_links(w);
    let unique: BTreeSet<&String> = links.iter().collect();
    assert_eq!(unique.len(), links.len(), "a client was created twice on the right: {links:?}");
}

/// A second engine on `w`'s store, seeing the left system through `left`.
fn engine_over(w: &World, left: Arc<dyn Connector>, seed: u64, opts: SyncOptions) -> Engine {
    Engine::new(
        w.store.clone(),
        [("crm_a".to_string(), left), ("crm_b".to_string(), w.conn_b.clone())].into_iter().collect(),
        vec![w.pair.clone()],
        w.clock.shared(),
        Arc::new(IdGen::new(w.clock.shared(), seed)),
        opts,
    )
}

fn spec() -> BackfillSpec {
    BackfillSpec { pair: "people".into(), ..BackfillSpec::default() }
}

async fn incremental_checkpoints(w: &World) -> Vec<StreamKey> {
    let all = w.store.list_checkpoints().await.expect("checkpoints");
    all.into_iter().map(|c| c.stream).filter(|s| s.scope == "pair:people").collect()
}

#[tokio::test]
async fn a_backfill_reads_everything_in_pages_and_never_moves_the_incremental_watermarks() {
    let w = World::with(11, |_| {}, small_pages()).await;
    let ids = seed_clients(&w, 0, 23);
    w.clock.advance(Duration::from_secs(60));

    let report = w.engine.backfill(&spec(), false).await.expect("backfill");
    let run = report.run.expect("it ran");
    assert_eq!(run.pairs[0].status, PairStatus::Done, "{:?}", run.pairs[0].status);
    assert!(report.state.finished_at.is_some());
    let created: BTreeSet<String> = right_back_links(&w).into_iter().collect();
    assert_eq!(created, ids.iter().cloned().collect(), "every client has exactly its contact");
    assert_no_duplicates(&w);
    assert!(incremental_checkpoints(&w).await.is_empty(), "the incremental streams were not touched");
    let runs = w.store.recent_runs(5).await.expect("runs");
    assert_eq!(runs[0].kind, RunKind::Backfill);

    // The scheduled cycle afterwards starts from the beginning of its own stream, finds every
    // record linked and in agreement, and writes nothing.
    let before = w.writes();
    w.run().await;
    w.run().await;
    assert_eq!(w.writes(), before, "the incremental run after a backfill writes nothing");
    assert_eq!(incremental_checkpoints(&w).await.len(), 2, "now the incremental streams have checkpoints");
}

#[tokio::test]
async fn a_finished_backfill_run_again_changes_nothing_and_a_restart_reads_it_again_without_writes() {
    let w = World::with(12, |_| {}, small_pages()).await;
    seed_clients(&w, 0, 8);
    w.clock.advance(Duration::from_secs(60));
    // A range that also covers what the backfill itself writes (the back-links it gives the
    // clients it created contacts for), so a restart finds every record inside it again.
    let until = w.clock.now() + chrono::Duration::hours(1);
    let spec = || BackfillSpec { until: Some(until), ..spec() };
    let first = w.engine.backfill(&spec(), false).await.expect("backfill");
    let writes = w.writes();
    let runs = w.store.recent_runs(10).await.expect("runs").len();

    let again = w.engine.backfill(&spec(), false).await.expect("again");
    assert!(again.run.is_none(), "a finished backfill is not run again");
    assert_eq!(again.state, first.state);
    assert_eq!(w.store.recent_runs(10).await.expect("runs").len(), runs, "no run was even recorded");

    w.clock.advance(Duration::from_secs(60));
    let restarted =
        w.engine.backfill(&BackfillSpec { restart: true, ..spec() }, false).await.expect("restart");
    let run = restarted.run.expect("a restart runs");
    assert_eq!(restarted.state.generation, first.state.generation + 1);
    assert!(run.totals().run.pulled >= 8, "the range was read again: {:?}", run.pairs);
    assert_eq!(w.writes(), writes, "reading a synced range again writes nothing");
}

#[tokio::test]
async fn max_creates_stops_the_backfill_and_the_next_attempt_continues_without_duplicates() {
    let w = World::with(13, |_| {}, small_pages()).await;
    let ids = seed_clients(&w, 0, 20);
    w.clock.advance(Duration::from_secs(60));

    let limited = BackfillSpec { max_creates: Some(12), ..spec() };
    let first = w.engine.backfill(&limited, false).await.expect("first attempt");
    let created = right_back_links(&w).len();
    assert!((1..=12).contains(&created), "stopped at or before 12 creates, got {created}");
    assert!(first.state.finished_at.is_none());
    assert!(
        matches!(&first.run.expect("ran").pairs[0].status, PairStatus::Incomplete { reason } if reason.contains("--max-creates"))
    );

    let second = w.engine.backfill(&spec(), false).await.expect("second attempt");
    assert!(second.resumed);
    assert_eq!(second.state.attempts, 2);
    assert!(second.state.finished_at.is_some());
    let all: BTreeSet<String> = right_back_links(&w).into_iter().collect();
    assert_eq!(all, ids.into_iter().collect());
    assert_no_duplicates(&w);
}

/// Raises the stop signal after `after` pages.
struct StopAfter {
    stop: StopSignal,
    after: usize,
    pages: AtomicUsize,
}

impl ProgressSink for StopAfter {
    fn page(&self, _pair: &str, _side: Side, _total: &PageStats, _newest: Option<DateTime<Utc>>) {
        if self.pages.fetch_add(1, Ordering::SeqCst) + 1 == self.after {
            self.stop.request();
        }
    }
}

#[tokio::test]
async fn a_stop_request_ends_the_backfill_at_a_page_boundary_and_the_resume_finishes_it() {
    let w = World::with(14, |_| {}, small_pages()).await;
    let ids = seed_clients(&w, 0, 20);
    w.clock.advance(Duration::from_secs(60));
    let engine = engine_over(&w, w.conn_a.clone(), 99, small_pages());
    let sink = Arc::new(StopAfter { stop: engine.stop_signal(), after: 2, pages: AtomicUsize::new(0) });
    let engine = engine.with_progress(sink);

    let stopped = engine.backfill(&spec(), false).await.expect("stopped backfill");
    assert!(stopped.state.finished_at.is_none());
    assert_eq!(right_back_links(&w).len(), 10, "two pages of five were written and committed");

    let resumed = w.engine.backfill(&spec(), false).await.expect("resume");
    assert!(resumed.resumed);
    let all: BTreeSet<String> = right_back_links(&w).into_iter().collect();
    assert_eq!(all, ids.into_iter().collect());
    assert_no_duplicates(&w);
}

#[tokio::test]
async fn a_dry_run_backfill_counts_and_writes_nothing() {
    let w = World::with(15, |_| {}, small_pages()).await;
    seed_clients(&w, 0, 7);
    w.clock.advance(Duration::from_secs(60));
    let report = w.engine.backfill(&spec(), true).await.expect("dry run");
    let run = report.run.expect("ran");
    assert_eq!(run.totals().run.created, 7);
    assert!(run.pairs[0].plan.contains("create"), "the plan is rendered: {}", run.pairs[0].plan);
    assert_eq!(w.writes(), 0);
    assert!(w.store.list_checkpoints().await.expect("checkpoints").is_empty(), "not even the state is saved");
}

#[tokio::test]
async fn since_and_until_limit_the_backfill_to_a_range() {
    let w = World::with(16, |_| {}, small_pages()).await;
    let t0 = w.clock.now();
    seed_clients(&w, 0, 4);
    w.clock.advance(Duration::from_secs(3600));
    let middle = seed_clients(&w, 4, 4);
    w.clock.advance(Duration::from_secs(3600));
    seed_clients(&w, 8, 4);
    w.clock.advance(Duration::from_secs(60));

    let range = BackfillSpec {
        since: Some(t0 + chrono::Duration::minutes(30)),
        until: Some(t0 + chrono::Duration::minutes(90)),
        ..spec()
    };
    w.engine.backfill(&range, false).await.expect("backfill");
    let created: BTreeSet<String> = right_back_links(&w).into_iter().collect();
    assert_eq!(created, middle.into_iter().collect(), "only the records changed inside the range");
}

/// The connector `inner` whose first pull waits at `gate` (after reading its page): a process
/// paused mid-run.
fn gated(inner: Arc<dyn Connector>, gate: &Gate) -> Arc<dyn Connector> {
    let gate = gate.clone();
    Intercept::new(inner)
        .after(move |answer| if matches!(answer, Answer::Pull(_)) { gate.hold() } else { Hook::Pass })
        .shared()
}

#[tokio::test]
async fn a_process_paused_past_its_lease_cannot_write_or_commit_after_another_took_the_pair() {
    let opts = SyncOptions { lease_ttl: Duration::from_secs(60), ..small_pages() };
    let w = World::with(17, |_| {}, opts.clone()).await;
    let ids = seed_clients(&w, 0, 4);
    w.clock.advance(Duration::from_secs(300));

    let gate = Gate::new();
    let gated = gated(w.conn_a.clone(), &gate);
    let make = |left: Arc<dyn Connector>, owner: &str, seed: u64| {
        engine_over(&w, left, seed, SyncOptions { owner: owner.into(), ..opts.clone() })
    };
    let paused = Arc::new(make(gated.clone(), "host-a:1", 1));
    let other = make(w.conn_a.clone(), "host-b:2", 2);

    let task = {
        let paused = paused.clone();
        tokio::spawn(async move { paused.run(RunKind::Scheduled, &[], false).await })
    };
    gate.entered().await;
    // Process A holds the lease and has read its first page; it is paused for two minutes.
    w.clock.advance(Duration::from_secs(120));
    let b_report = other.run(RunKind::Scheduled, &[], false).await.expect("B runs");
    assert_eq!(b_report.pairs[0].status, PairStatus::Done, "B took over the expired lease");
    let checkpoints_after_b = w.store.list_checkpoints().await.expect("checkpoints");
    let writes_after_b = w.writes();

    gate.open();
    let a_report = task.await.expect("join").expect("A's run returns a report");
    assert!(
        matches!(&a_report.pairs[0].status, PairStatus::Failed { reason } if reason.contains("lease")),
        "A learns it lost the lease: {:?}",
        a_report.pairs[0].status
    );
    assert_eq!(w.writes(), writes_after_b, "A made no remote write after losing the lease");
    assert_eq!(
        w.store.list_checkpoints().await.expect("checkpoints"),
        checkpoints_after_b,
        "A committed nothing"
    );
    let created: BTreeSet<String> = right_back_links(&w).into_iter().collect();
    assert_eq!(created, ids.into_iter().collect());
    assert_no_duplicates(&w);
}

#[tokio::test]
async fn two_engines_at_once_on_one_store_run_each_pair_exactly_once() {
    let w = World::with(18, |_| {}, small_pages()).await;
    seed_clients(&w, 0, 6);
    w.clock.advance(Duration::from_secs(300));
    let gate = Gate::new();
    let gated = gated(w.conn_a.clone(), &gate);
    let first = Arc::new(engine_over(
        &w,
        gated.clone(),
        1,
        SyncOptions { owner: "host-a:1".into(), ..small_pages() },
    ));
    let task = {
        let first = first.clone();
        tokio::spawn(async move { first.run(RunKind::Scheduled, &[], false).await })
    };
    gate.entered().await;
    let second = w.engine.run(RunKind::Scheduled, &[], false).await.expect("second");
    assert_eq!(
        second.pairs[0].status,
        PairStatus::Skipped { holder: "host-a:1".into() },
        "the second process skips the pair and says who holds it"
    );
    gate.open();
    let first = task.await.expect("join").expect("first");
    assert_eq!(first.pairs[0].status, PairStatus::Done);
    assert_eq!(right_back_links(&w).len(), 6);
    assert_no_duplicates(&w);
}

#[tokio::test]
async fn the_backfill_outlook_counts_what_each_side_expects_in_the_range() {
    let w = World::with(19, |_| {}, small_pages()).await;
    let t0 = w.clock.now();
    seed_clients(&w, 0, 3);
    w.clock.advance(Duration::from_secs(3600));
    seed_clients(&w, 3, 5);
    w.b.seed("contacts", fields(&[("email", "only-b@example.test"), ("firstname", "B")]));
    let all = w.engine.backfill_outlook(&spec()).await;
    assert_eq!(all.get(&Side::Left).map(|o| o.0), Some(Some(8)));
    assert_eq!(all.get(&Side::Right).map(|o| o.0), Some(Some(1)));
    let later = BackfillSpec { since: Some(t0 + chrono::Duration::minutes(30)), ..spec() };
    let outlook = w.engine.backfill_outlook(&later).await;
    assert_eq!(outlook.get(&Side::Left).map(|o| o.0), Some(Some(5)));
    assert_eq!(outlook.get(&Side::Left).map(|o| o.1), Some(None), "in-memory systems have no rate limit");
}

#[tokio::test]
async fn a_quiet_run_keeps_the_window_of_the_streams_checkpoint() {
    let w = World::with(20, |_| {}, small_pages()).await;
    seed_clients(&w, 0, 3);
    w.run().await;
    // The next run reads back the back-links the first one wrote to the created records'
    // sources (our own writes, costing nothing but a re-read); from then on the stream is quiet.
    w.run().await;
    let windows = |all: Vec<crosswalk::store::StoredCheckpoint>| {
        all.into_iter().map(|c| (c.stream.object, c.window_to)).collect::<Vec<_>>()
    };
    let after_busy = windows(w.store.list_checkpoints().await.expect("checkpoints"));
    assert!(after_busy.iter().any(|(o, to)| o == "clients" && to.is_some()), "{after_busy:?}");
    for _ in 0..3 {
        w.run().await;
    }
    let after_quiet = windows(w.store.list_checkpoints().await.expect("checkpoints"));
    let clients = |v: &[(String, Option<DateTime<Utc>>)]| v.iter().find(|(o, _)| o == "clients").cloned();
    assert_eq!(clients(&after_quiet), clients(&after_busy), "quiet runs keep how far the stream was read");
}

#[tokio::test]
async fn two_workers_share_the_slices_of_one_backfill_and_each_slice_runs_once() {
    let w = World::with(21, |_| {}, small_pages()).await;
    let t0 = w.clock.now();
    let mut ids = Vec::new();
    for hour in 0..4 {
        ids.extend(seed_clients(&w, hour * 5, 5));
        w.clock.advance(Duration::from_secs(3600));
    }
    let sliced = BackfillSpec { since: Some(t0), until: Some(w.clock.now()), slices: Some(4), ..spec() };
    let gate = Gate::new();
    let gated = gated(w.conn_a.clone(), &gate);
    let first = Arc::new(engine_over(
        &w,
        gated.clone(),
        1,
        SyncOptions { owner: "host-a:1".into(), ..small_pages() },
    ));
    let task = {
        let (first, sliced) = (first.clone(), sliced.clone());
        tokio::spawn(async move { first.backfill_slices(&sliced, false).await })
    };
    // Worker A is inside slice 1; worker B skips it and runs slices 2–4.
    gate.entered().await;
    let second =
        engine_over(&w, w.conn_a.clone(), 2, SyncOptions { owner: "host-b:2".into(), ..small_pages() });
    let b = second.backfill_slices(&sliced, false).await.expect("worker B");
    gate.open();
    let a = task.await.expect("join").expect("worker A");

    let status = |r: &crosswalk::sync::BackfillReport| r.run.as_ref().map(|run| run.pairs[0].status.clone());
    assert_eq!(status(&b[0]), Some(PairStatus::Skipped { holder: "host-a:1".into() }));
    assert!(
        b[1..].iter().all(|r| status(r) == Some(PairStatus::Done)),
        "{:?}",
        b.iter().map(status).collect::<Vec<_>>()
    );
    assert_eq!(status(&a[0]), Some(PairStatus::Done));
    assert!(
        a[1..].iter().all(|r| r.run.is_none() && r.state.finished_at.is_some()),
        "A finds B's slices finished"
    );
    let created: BTreeSet<String> = right_back_links(&w).into_iter().collect();
    assert_eq!(created, ids.into_iter().collect());
    assert_no_duplicates(&w);

    let err = w.engine.backfill_slices(&BackfillSpec { slices: Some(2), ..spec() }, false).await;
    assert!(matches!(err, Err(crosswalk::sync::SyncError::Invalid(m)) if m.contains("--since and --until")));
}
