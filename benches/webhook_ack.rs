//! Acknowledging a correctly signed 100-event HubSpot batch (`POST /webhooks/hubspot`, signature
//! v3 as the simulator signs it, every event fresh) through the real admin router in process
//! (`tower::ServiceExt::oneshot`): verify, parse, store in one transaction, answer 202. On
//! SQLite in a file-backed temp database (as production) and — when `CROSSWALK_BENCH_PG_URL`
//! is set (e.g. postgres://postgres@127.0.0.1:5432/test) — on PostgreSQL, in a schema of its
//! own that is dropped afterwards. Besides criterion's estimate it prints p50/p99 over
//! `SAMPLES` acknowledgements (the figure).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use connector_api::{Clock, ManualClock};
use criterion::{Criterion, criterion_group, criterion_main};
use crosswalk::serve::hubspot_webhooks::HubspotReceiver;
use crosswalk::serve::{self, AdminAuth};
use crosswalk::store::{self, Store};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use secrecy::SecretString;
use sim_hubspot::webhooks::{SignedBatch, sign_batch};
use tower::ServiceExt;

const SECRET: &str = "hs-client-secret-for-the-bench";
const PUBLIC_URL: &str = "https://crosswalk.bench";
const BATCH: u64 = 100;
const SAMPLES: usize = 500;

fn app(store: Arc<dyn Store>, clock: &ManualClock) -> Router {
    let auth =
        AdminAuth::new(&SecretString::from("bench-admin-token-0123456789"), ChaCha20Rng::seed_from_u64(1));
    let router = serve::router(store.clone(), auth, clock.shared());
    HubspotReceiver::new(
        "hubspot",
        vec![SecretString::from(SECRET)],
        PUBLIC_URL,
        1 << 20,
        store,
        clock.shared(),
    )
    .with_max_pending(usize::MAX / 2)
    .attach(router)
}

/// The next batch of `BATCH` fresh contact edits, signed now.
fn batch(next: &AtomicU64, clock: &ManualClock) -> SignedBatch {
    let now = clock.now().timestamp_millis();
    let first = next.fetch_add(BATCH, Ordering::Relaxed);
    let events = (first..first + BATCH)
        .map(|id| {
            let mut e = sim_hubspot::webhooks::event(
                "contact.propertyChange".into(),
                1000 + id % 5000,
                now,
                "CRM_UI",
            );
            e.event_id = id;
            e.property_name = Some("firstname".into());
            e.property_value = Some(format!("Ana{id}"));
            e
        })
        .collect();
    sign_batch(SECRET, &format!("{PUBLIC_URL}/webhooks/hubspot"), now, events)
}

async fn acknowledge(app: &Router, b: SignedBatch) {
    let req = Request::builder()
        .method("POST")
        .uri("/webhooks/hubspot")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/json")
        .header("X-HubSpot-Request-Timestamp", b.timestamp_ms.to_string())
        .header("X-HubSpot-Signature-v3", &b.signature_v3)
        .body(Body::from(b.body))
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    let answer: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(answer["accepted"], 100, "{answer}");
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    bench_on(c, &rt, "sqlite", &sqlite);
    match std::env::var("CROSSWALK_BENCH_PG_URL") {
        Ok(admin) if !admin.is_empty() => {
            let schema = format!("bench_ack_{}", std::process::id());
            rt.block_on(pg_schema(
                &admin,
                &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"),
            ));
            let sep = if admin.contains('?') { '&' } else { '?' };
            bench_on(c, &rt, "postgres", &format!("{admin}{sep}options[search_path]={schema}"));
            rt.block_on(pg_schema(&admin, &format!("DROP SCHEMA {schema} CASCADE")));
        }
        _ => eprintln!("PostgreSQL skipped: set CROSSWALK_BENCH_PG_URL=postgres://… to measure it too"),
    }
}

async fn pg_schema(admin: &str, sql: &str) {
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::PgConnection::connect(admin).await.expect("connect to PostgreSQL");
    conn.execute(sqlx::AssertSqlSafe(sql.to_string())).await.expect("schema");
}

fn bench_on(c: &mut Criterion, rt: &tokio::runtime::Runtime, backend: &str, url: &str) {
    let clock = ManualClock::at_epoch();
    clock.advance(Duration::from_secs(1_780_000_000));
    let store = rt.block_on(async {
        let store = store::open(url).await.expect("open");
        store.migrate().await.expect("migrate");
        store
    });
    let app = app(store, &clock);
    let next = AtomicU64::new(1);
    // p50/p99 over SAMPLES acknowledgements, each of a fresh batch (signing outside the timing).
    let mut took: Vec<Duration> = (0..SAMPLES)
        .map(|_| {
            let b = batch(&next, &clock);
            rt.block_on(async {
                let start = Instant::now();
                acknowledge(&app, b).await;
                start.elapsed()
            })
        })
        .collect();
    took.sort_unstable();
    let at = |p: f64| took[((took.len() as f64 * p) as usize).min(took.len() - 1)];
    eprintln!(
        "webhook_ack_hubspot_100_{backend}: {SAMPLES} batches, p50 {:.2?} p99 {:.2?} max {:.2?}",
        at(0.5),
        at(0.99),
        took[took.len() - 1]
    );
    c.bench_function(&format!("webhook_ack_hubspot_100_events_{backend}"), |b| {
        b.to_async(rt).iter_batched(
            || batch(&next, &clock),
            |batch| acknowledge(&app, batch),
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
