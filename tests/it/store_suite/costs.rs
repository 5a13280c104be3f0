//! Conformance cases: run costs and stream backlogs (migration 0008).

use crosswalk::store::{RunCost, Side, StreamBacklog, StreamKey};

use super::at;
use crate::support::TestStore;

fn cost(run: &str, system: &str, requests: u64, secs: i64) -> RunCost {
    RunCost {
        run_id: run.into(),
        system: system.into(),
        requests,
        records: 10,
        minimum: 3,
        carried: 1,
        at: at(secs),
    }
}

pub async fn run_costs_round_trip_newest_runs_first(t: &TestStore) {
    let s = &*t.store;
    assert!(s.run_costs(5).await.unwrap().is_empty());
    s.record_run_costs(&[cost("r1", "wlcro", 12, 10), cost("r1", "hubspot", 2, 10)]).await.unwrap();
    s.record_run_costs(&[cost("r2", "wlcro", 30, 20)]).await.unwrap();
    s.record_run_costs(&[cost("r3", "wlcro", 7, 30)]).await.unwrap();
    // Recording a run again replaces its row.
    s.record_run_costs(&[cost("r3", "wlcro", 8, 30)]).await.unwrap();
    let two = s.run_costs(2).await.unwrap();
    let got: Vec<(&str, &str, u64)> = two.iter().map(|c| (&*c.run_id, &*c.system, c.requests)).collect();
    assert_eq!(got, [("r3", "wlcro", 8), ("r2", "wlcro", 30)]);
    let all = s.run_costs(10).await.unwrap();
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(all.last().map(|c| (&*c.run_id, &*c.system)), Some(("r1", "wlcro")));
    assert_eq!(all[0].per_record(), Some(0.8));
    assert_eq!(all[0].minimum_per_record(), Some(0.3));
}

pub async fn backlogs_are_replaced_per_stream(t: &TestStore) {
    let s = &*t.store;
    let stream = StreamKey { scope: "pair:people".into(), system: "wlcro".into(), object: "people".into() };
    let mut b = StreamBacklog {
        stream: stream.clone(),
        pair: "people".into(),
        side: Side::Left,
        carried: true,
        records: Some(9_800),
        counted: false,
        behind_ms: 3_600_000,
        drained: 200,
        run_ms: 2_400,
        eta_ms: Some(147_000),
        sweep_budget: Some(50),
        linked: 10_001,
        at: at(5),
    };
    s.save_backlogs(std::slice::from_ref(&b)).await.unwrap();
    assert_eq!(s.backlogs().await.unwrap(), [b.clone()]);
    assert_eq!(b.sweep_runs(), Some(201));
    b.carried = false;
    b.records = Some(0);
    b.eta_ms = None;
    b.sweep_budget = None;
    b.at = at(9);
    let other = StreamBacklog {
        stream: StreamKey { system: "hubspot".into(), ..stream },
        side: Side::Right,
        ..b.clone()
    };
    s.save_backlogs(&[b.clone(), other.clone()]).await.unwrap();
    let saved = s.backlogs().await.unwrap();
    assert_eq!(saved, [other, b.clone()], "ordered by stream, one row each");
    assert_eq!(b.sweep_runs(), None);
}
