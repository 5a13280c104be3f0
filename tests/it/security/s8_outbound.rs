//! S8: where crosswalk sends requests (and credentials). Every base URL comes from the operator's
//! configuration; the one destination a remote chooses is Salesforce's `instance_url` in the
//! token response, and every later call carries the bearer token there. A token response naming
//! a foreign host (a compromised or spoofed login endpoint, an internal address) must not
//! receive the token: the connector refuses it and the pair fails with a clear error.
//!
//! Not applicable: the webhook receiver never fetches a URL it is given, HubSpot and
//! WhiteLabelCRO responses name no hosts (paging is by cursor), and the admin server makes no
//! outbound requests.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Request;
use crosswalk::demo::world::{SimWorld, WorldConfig};
use crosswalk::sync::PairStatus;

use super::sim_rig::{Rig, t0};

/// A server that records what reached it (path and whether a bearer token came along).
async fn listener() -> (String, Arc<Mutex<Vec<(String, bool)>>>, tokio::task::JoinHandle<()>) {
    let seen: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let log = seen.clone();
    let app = Router::new().fallback(move |req: Request| {
        let log = log.clone();
        async move {
            let bearer = req.headers().get("authorization").is_some();
            log.lock().expect("lock").push((req.uri().to_string(), bearer));
            "{}"
        }
    });
    // Another loopback host: `allowed_instance_hosts` admits hosts, not ports.
    let socket = tokio::net::TcpListener::bind("127.0.0.2:0").await.expect("bind");
    let url = format!("http://{}", socket.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(socket, app).await;
    });
    (url, seen, task)
}

#[tokio::test]
async fn s8_a_token_response_naming_a_foreign_instance_url_gets_no_token() {
    let (foreign, seen, task) = listener().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = WorldConfig::demo(31, 6000);
    let start = t0() - chrono::Duration::minutes(10);
    cfg.wlcro.start_time = Some(start);
    cfg.hubspot.start_time = Some(start);
    cfg.salesforce.start_time = Some(start);
    let world = SimWorld::start(cfg, dir.path()).await.expect("simulators start");
    let rig = Rig::new(&world, dir.path()).await;
    let mut outputs = Vec::new();
    let cases = [
        ("another host", foreign.clone()),
        ("userinfo trick", format!("{}@{}", world.urls[2], foreign.trim_start_matches("http://"))),
        ("cloud metadata address", "http://169.254.169.254".to_string()),
    ];
    for (name, instance_url) in cases {
        world.sims.salesforce.set_instance_url(instance_url.clone());
        world.sims.salesforce.expire_tokens();
        let report = rig.run(&rig.engine(&world), &mut outputs, name).await.expect("the run itself ends");
        let sf = report.pairs.iter().find(|p| p.pair.contains("salesforce")).expect("salesforce pair");
        let PairStatus::Failed { reason } = &sf.status else {
            panic!("{name}: the pair must fail, got {:?}", sf.status)
        };
        assert!(reason.contains("instance_url"), "{name}: the error says why: {reason}");
        assert!(seen.lock().expect("lock").is_empty(), "{name}: the foreign host was called: {seen:?}");
    }
    // The genuine instance (the simulator names itself `localhost`, the allowed host) still works.
    let port = world.urls[2].rsplit(':').next().expect("port").to_string();
    world.sims.salesforce.set_instance_url(format!("http://localhost:{port}"));
    let report = rig.run(&rig.engine(&world), &mut outputs, "genuine").await.expect("run");
    let sf = report.pairs.iter().find(|p| p.pair.contains("salesforce")).expect("salesforce pair");
    assert!(matches!(sf.status, PairStatus::Done), "{:?}", sf.status);
    task.abort();
    world.stop().await;
}
