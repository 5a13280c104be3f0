//! Listing the review queue through the JSON API: 10,000 open items on 10,000 links whose base
//! names a person, one page of 100 (`GET /api/review?state=open&limit=100`, with the count), and
//! the same with a free-text search (`q=`: one person's email, and a text every item matches),
//! plus the HTML queue page with a search, in-process through the router, on SQLite and — when
//! `CROSSWALK_BENCH_PG_URL` is set (e.g. postgres://postgres@127.0.0.1:5432/test) — on
//! PostgreSQL, in a schema of its own that is dropped afterwards.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, header};
use connector_api::{Clock, ManualClock};
use criterion::{Criterion, criterion_group, criterion_main};
use crosswalk::serve::{self, AdminAuth};
use crosswalk::store::{self, CanonMap, LinkUpsert, NewReviewItem, PageCommit, ReviewKind, Store};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use secrecy::SecretString;
use tower::ServiceExt;

const ITEMS: usize = 10_000;
const TOKEN: &str = "bench-admin-token";

async fn seeded(url: &str, clock: &ManualClock) -> Arc<dyn Store> {
    let store = store::open(url).await.expect("open");
    store.migrate().await.expect("migrate");
    let at = clock.now();
    let lease = store.claim_lease("bench", "bench", Duration::from_secs(600), at).await.unwrap().unwrap();
    for chunk in 0..ITEMS / 1000 {
        let mut commit = PageCommit::new(lease.clone(), "bench-run", at);
        commit.link_upserts = (0..1000)
            .map(|i| {
                let n = chunk * 1000 + i;
                let base: CanonMap = [
                    ("first_name", format!("Person{n}")),
                    ("last_name", format!("Lee{}", n % 97)),
                    ("email", format!("person{n}@example.test")),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), Some(v)))
                .collect();
                LinkUpsert {
                    pair: format!("pair{}", n % 3),
                    left_id: format!("L{n}"),
                    right_id: format!("R{n}"),
                    base,
                    ..LinkUpsert::default()
                }
            })
            .collect();
        let links = store.commit_page(commit).await.expect("links").created_links;
        let mut commit = PageCommit::new(lease.clone(), "bench-run", at);
        commit.review_items = (0..1000)
            .map(|i| {
                let n = chunk * 1000 + i;
                NewReviewItem {
                    link_id: Some(links[i]),
                    pair: format!("pair{}", n % 3),
                    kind: ReviewKind::FieldConflict,
                    field: Some(["email", "city", "phone"][n % 3].into()),
                    base_value: Some(format!("base {n}")),
                    left_value: Some(format!("left value {n}")),
                    right_value: Some(format!("right value {n}")),
                    left_id: Some(format!("L{n}")),
                    right_id: Some(format!("R{n}")),
                    rule: Some("two_way".into()),
                    reason: "both sides changed".into(),
                    detected_at: at,
                    run_id: "bench-run".into(),
                    ..NewReviewItem::default()
                }
            })
            .collect();
        store.commit_page(commit).await.expect("commit");
    }
    store
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    bench_on(c, &rt, "sqlite", &sqlite);
    match std::env::var("CROSSWALK_BENCH_PG_URL") {
        Ok(admin) if !admin.is_empty() => {
            let schema = format!("bench_review_{}", std::process::id());
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
    let store = rt.block_on(seeded(url, &clock));
    let auth = AdminAuth::new(&SecretString::from(TOKEN), ChaCha20Rng::seed_from_u64(1));
    let app = serve::router(store, auth.clone(), clock.shared());
    let (cookie, _) = auth.new_session("bench", clock.now());
    let cookie = format!("crosswalk_session={cookie}");
    let cases = [
        ("api_review_list_100_of_10000_open", "/api/review?state=open&limit=100&offset=5000", 10_000),
        ("api_review_search_one_email_of_10000_open", "/api/review?state=open&q=PERSON7777%40example", 500),
        (
            "api_review_search_matching_all_10000_open",
            "/api/review?state=open&limit=100&q=example.test",
            10_000,
        ),
        ("page_review_search_one_email_of_10000_open", "/review?q=person7777%40example", 2_000),
    ];
    for (name, uri, min_len) in cases {
        c.bench_function(&format!("{name}_{backend}"), |b| {
            b.to_async(rt).iter(|| async {
                // The API takes the token; a page takes the session cookie.
                let req = match uri.starts_with("/api/") {
                    true => {
                        Request::builder().uri(uri).header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                    }
                    false => Request::builder().uri(uri).header(header::COOKIE, &cookie),
                };
                let req = req.body(Body::empty()).expect("request");
                let resp = app.clone().oneshot(req).await.expect("infallible");
                assert!(resp.status().is_success(), "{uri}: {}", resp.status());
                let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
                assert!(body.len() > min_len, "{uri}: {} bytes", body.len());
                if uri.contains("7777") {
                    let text = String::from_utf8_lossy(&body);
                    assert!(text.contains("person7777@example.test"), "found the person");
                    assert!(!text.contains("person7776@"), "and only them");
                }
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
