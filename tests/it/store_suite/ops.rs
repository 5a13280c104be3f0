//! Conformance cases: circuit breakers, pair failure streaks and alert state, shared by every
//! worker of one store.

use super::at;
use crate::support::TestStore;

pub async fn breaker_opens_after_n_failures_and_a_good_run_resets(t: &TestStore) {
    let s = &t.store;
    assert!(s.breakers().await.unwrap().is_empty(), "no system recorded yet");
    let ok = s.record_system_run("hubspot", None, 3, at(0)).await.unwrap();
    assert!(!ok.opened && !ok.state.open && ok.state.failures == 0, "{ok:?}");
    for i in 1..=2 {
        let u = s.record_system_run("hubspot", Some("500s"), 3, at(i)).await.unwrap();
        assert!(!u.opened && !u.state.open, "failure {i} of 3 keeps it closed: {u:?}");
        assert_eq!(u.state.failures, i as u32);
    }
    // A good run in between starts the count again.
    let reset = s.record_system_run("hubspot", None, 3, at(3)).await.unwrap();
    assert_eq!((reset.state.failures, reset.state.open), (0, false));
    let mut last = None;
    for i in 0..3 {
        last = Some(s.record_system_run("hubspot", Some("500s"), 3, at(10 + i)).await.unwrap());
    }
    let opened = last.unwrap();
    assert!(opened.opened && opened.state.open, "{opened:?}");
    assert_eq!(opened.state.opened_at, Some(at(12)));
    assert_eq!(opened.state.reason.as_deref(), Some("500s"));
    // Further failures and even a good run keep it open; only a close closes it, once.
    let again = s.record_system_run("hubspot", Some("500s"), 3, at(13)).await.unwrap();
    assert!(!again.opened && again.state.open, "opened only once: {again:?}");
    assert!(s.record_system_run("hubspot", None, 3, at(14)).await.unwrap().state.open);
    assert!(s.close_breaker("hubspot", "probe answered", at(15)).await.unwrap());
    assert!(!s.close_breaker("hubspot", "probe answered", at(16)).await.unwrap(), "already closed");
    let all = s.breakers().await.unwrap();
    assert_eq!(all.len(), 1);
    assert!(!all[0].open && all[0].failures == 0 && all[0].opened_at.is_none(), "{:?}", all[0]);
    assert_eq!(all[0].reason.as_deref(), Some("probe answered"));
}

pub async fn breaker_auth_opens_at_once_and_one_worker_sees_it_open(t: &TestStore) {
    let (a, b) = (t.store.clone(), t.second_handle().await);
    let (x, y) = tokio::join!(
        a.record_system_run("wlcro", Some("401"), 1, at(0)),
        b.record_system_run("wlcro", Some("401"), 1, at(0)),
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(u8::from(x.opened) + u8::from(y.opened), 1, "exactly one caller opened it: {x:?} {y:?}");
    assert!(
        b.breakers().await.unwrap().iter().any(|s| s.system == "wlcro" && s.open),
        "the other worker sees it"
    );
    assert!(!a.close_breaker("salesforce", "never opened", at(1)).await.unwrap());
}

pub async fn pair_streaks_count_and_reset(t: &TestStore) {
    let s = &t.store;
    assert_eq!(s.record_pair_run("p", true, at(0)).await.unwrap(), 1);
    assert_eq!(s.record_pair_run("p", true, at(1)).await.unwrap(), 2);
    assert_eq!(s.record_pair_run("q", true, at(1)).await.unwrap(), 1, "per pair");
    assert_eq!(s.record_pair_run("p", false, at(2)).await.unwrap(), 0);
    assert_eq!(s.record_pair_run("p", true, at(3)).await.unwrap(), 1);
}

pub async fn alert_state_changes_once_per_state(t: &TestStore) {
    let (a, b) = (t.store.clone(), t.second_handle().await);
    assert_eq!(a.alert_state("breaker:hubspot").await.unwrap(), None);
    let (x, y) = tokio::join!(
        a.swap_alert_state("breaker:hubspot", None, "open", at(0)),
        b.swap_alert_state("breaker:hubspot", None, "open", at(0)),
    );
    assert_eq!(u8::from(x.unwrap()) + u8::from(y.unwrap()), 1, "one worker wins the first state");
    assert!(
        !a.swap_alert_state("breaker:hubspot", Some("closed"), "open", at(1)).await.unwrap(),
        "stale expectation"
    );
    assert!(a.swap_alert_state("breaker:hubspot", Some("open"), "closed", at(2)).await.unwrap());
    assert_eq!(b.alert_state("breaker:hubspot").await.unwrap().as_deref(), Some("closed"));
}
