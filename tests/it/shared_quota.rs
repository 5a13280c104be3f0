//! Two workers of one WhiteLabelCRO account on one PostgreSQL store: two connectors with their
//! own limiters (as two processes have), sharing the account's quota through the store
//! (`StoreQuota`), against one simulator enforcing a scaled write window (10 per second). Twice
//! the quota's worth of creates each: judged from the simulator's request log, no 429, and no
//! second of the server's counting ever sees more than the quota.
//!
//! Real time on purpose: the simulator counts on its own clock and the two workers' requests are
//! in flight together; a virtual clock that one worker's pacing wait moves forward while the
//! other's request is on the wire would model a latency no network has. Nothing here sleeps: the
//! test lasts as long as the quota makes the work last (≈ 5 s).

use std::sync::Arc;
use std::time::Duration;

use connector_api::http::ReqwestTransport;
use connector_api::{Connector, FieldMap, IdentityKey, SystemClock, Write, WriteOp};
use connector_whitelabelcro::{WlcroConfig, WlcroConnector};
use crosswalk::shared_quota::StoreQuota;
use crosswalk::store::Backend;
use serde_json::json;
use sim_whitelabelcro::{RateLimitConfig, SimConfig, start};

use crate::support::TestStore;

const LIMIT: u32 = 10;
const PER_WORKER: usize = 25;

fn create(worker: usize, i: usize) -> Write {
    let mut fields = FieldMap::new();
    fields.insert("first_name".into(), json!("Quota"));
    fields.insert("last_name".into(), json!(format!("W{worker}N{i}")));
    fields.insert("email".into(), json!(format!("quota{worker}-{i}@example.test")));
    fields.insert("external_id".into(), json!(format!("quota_{worker}_{i}")));
    let external_id = Some(IdentityKey { field: "external_id".into(), value: format!("quota_{worker}_{i}") });
    Write { key: format!("w{worker}k{i}"), op: WriteOp::Create { fields, external_id } }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_of_one_account_on_postgres_never_see_a_429() {
    let Some(t) = TestStore::new(Backend::Postgres).await else { return };
    let lite = TestStore::sqlite().await;
    assert!(StoreQuota::for_store(&lite.store).is_none(), "SQLite keeps the in-process limiter");
    let quota = StoreQuota::for_store(&t.store).expect("PostgreSQL shares the quota");

    let (handle, state) =
        start(SimConfig { webhook_jitter: false, ..SimConfig::default() }).await.expect("sim");
    state.set_rate_limits(RateLimitConfig {
        write: LIMIT,
        window_scale: 1.0 / 60.0,
        ..RateLimitConfig::default()
    });
    let worker = |seed| {
        let mut cfg = WlcroConfig::new(handle.base_url(), SimConfig::default_key().into());
        cfg.shared_quota = Some(quota.clone());
        let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(10)).unwrap());
        Arc::new(WlcroConnector::new(cfg, transport, SystemClock::shared(), seed).expect("connector"))
    };
    let (a, b) = (worker(1), worker(2));
    let run = |c: Arc<WlcroConnector>, w: usize| async move {
        for i in 0..PER_WORKER {
            let out = c.apply("leads", vec![create(w, i)]).await.expect("apply");
            assert!(out[0].result.is_ok(), "worker {w} create {i}: {:?}", out[0].result);
        }
    };
    tokio::join!(run(a, 1), run(b, 2));

    let creates: Vec<_> = state
        .log
        .entries()
        .into_iter()
        .filter(|e| e.method == "POST" && e.path == "/api/v1/integrations/leads")
        .collect();
    assert_eq!(creates.iter().filter(|e| e.status == 429).count(), 0, "no 429");
    assert_eq!(creates.len(), 2 * PER_WORKER, "one request per create");
    let second = chrono::Duration::seconds(1);
    for (i, e) in creates.iter().enumerate() {
        let within = creates[i..].iter().filter(|f| f.at - e.at < second).count();
        assert!(within <= LIMIT as usize, "{within} creates within 1 s of create {i}");
    }
    // 50 creates at 10 per second need at least four more windows after the first.
    let span = creates[creates.len() - 1].at - creates[0].at;
    assert!(span >= chrono::Duration::seconds(4), "faster than the quota allows: {span}");
    drop(handle);
    lite.finish().await;
    t.finish().await;
}
