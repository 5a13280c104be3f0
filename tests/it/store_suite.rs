//! The store conformance suite: every case is written once against `Arc<dyn Store>` and run
//! on both backends, as `store_suite::sqlite::<case>` and `store_suite::postgres::<case>`.
//! The PostgreSQL half needs `CROSSWALK_TEST_PG_URL` (see `support`). Cases live in the
//! submodules by area; this file instantiates them and holds the cross-backend checks
//! (schema parity, migration file parity) and backend-specific edges (in-memory SQLite, errors).

mod batches;
mod costs;
mod journal;
mod leases;
mod links;
mod ops;
mod quota;
mod review;
mod review_search;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use crosswalk::store::{
    self, Backend, CanonMap, Lease, LinkUpsert, PageCommit, PageCommitResult, Store, StoreError,
};
use sqlx::Connection;

use crate::support::TestStore;

/// Expands each `area::case` into one test per backend.
macro_rules! store_suite {
    ($($area:ident :: $case:ident),* $(,)?) => {
        store_suite!(@backend sqlite, Backend::Sqlite, $($area::$case),*);
        store_suite!(@backend postgres, Backend::Postgres, $($area::$case),*);
    };
    (@backend $module:ident, $backend:expr, $($area:ident :: $case:ident),*) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(t) = TestStore::new($backend).await else { return };
                    super::$area::$case(&t).await;
                    t.finish().await;
                }
            )*
        }
    };
}

store_suite!(
    links::migrate_is_idempotent,
    batches::a_page_larger_than_one_statement_is_written_whole,
    batches::empty_batches_are_no_ops,
    batches::duplicates_within_a_batch_apply_in_order,
    links::link_create_lookup_unique,
    links::batched_lookup,
    links::identity_keys_find_duplicates,
    links::update_keeps_what_is_not_given,
    links::repoint_and_unlink,
    links::least_recently_verified_order,
    links::sql_looking_values_are_literal,
    links::identity_misses_are_remembered_replaced_and_forgotten,
    leases::lease_exclusive_under_concurrency,
    leases::lease_expiry_renew_release,
    leases::lease_fencing,
    leases::lease_take_over_from_a_dead_holder,
    leases::checkpoint_round_trip_in_commit,
    leases::commit_is_atomic,
    review::review_open_dedupe,
    review::review_list_filters,
    review::review_resolve_idempotent_and_reopen,
    review::review_transitions,
    review::review_listing_ten_thousand_is_fast,
    review_search::review_search_people_ids_fields_and_sort,
    review_search::review_refusal_again_keeps_the_newest_remote_details,
    journal::runs_round_trip,
    journal::dead_letters,
    journal::dead_letters_are_filtered_retried_once_and_discarded_for_good,
    journal::decisions_newest_first,
    journal::intents_lifecycle,
    journal::event_dedupe,
    journal::a_delivery_is_recorded_at_once_and_deduplicated_within_it,
    journal::freshness_samples_are_committed_with_the_page_and_pruned_after_a_week,
    ops::breaker_opens_after_n_failures_and_a_good_run_resets,
    ops::breaker_auth_opens_at_once_and_one_worker_sees_it_open,
    ops::pair_streaks_count_and_reset,
    ops::alert_state_changes_once_per_state,
    quota::quota_is_a_sliding_log_per_account_and_bucket,
    quota::quota_takes_all_buckets_or_none,
    quota::quota_is_exact_under_concurrent_takers,
    costs::run_costs_round_trip_newest_runs_first,
    costs::backlogs_are_replaced_per_stream,
);

/// A fixed origin for test time; `at(s)` is `s` seconds after it.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

/// A lease held for a day from `at(0)`, for cases that only need to commit.
pub async fn lease(s: &dyn Store) -> Lease {
    s.claim_lease("test", "worker-a", Duration::from_secs(86_400), at(0))
        .await
        .expect("claim")
        .expect("the test lease is free")
}

/// A new link of `pair` between `left` and `right` with a one-field base.
pub fn new_link(pair: &str, left: &str, right: &str) -> LinkUpsert {
    LinkUpsert {
        pair: pair.into(),
        left_id: left.into(),
        right_id: right.into(),
        base: canon(&[("email", Some("a@example.test"))]),
        ..LinkUpsert::default()
    }
}

pub fn canon(fields: &[(&str, Option<&str>)]) -> CanonMap {
    fields.iter().map(|(k, v)| (k.to_string(), v.map(str::to_owned))).collect()
}

/// Commits what `fill` puts into an empty page under `lease`.
pub async fn commit(
    s: &dyn Store,
    lease: &Lease,
    fill: impl FnOnce(&mut PageCommit),
) -> Result<PageCommitResult, StoreError> {
    let mut page = PageCommit::new(lease.clone(), "run-1", at(10));
    fill(&mut page);
    s.commit_page(page).await
}

#[tokio::test]
async fn sqlite_in_memory_store_works() {
    let s = store::open("sqlite::memory:").await.expect("open");
    assert_eq!(s.backend(), Backend::Sqlite);
    assert!(!s.migrate().await.expect("migrate").applied.is_empty());
    let lease = lease(&*s).await;
    let made = commit(&*s, &lease, |p| p.link_upserts.push(new_link("p", "l1", "r1"))).await;
    assert_eq!(made.expect("commit").created_links.len(), 1);
    assert_eq!(s.count_links("p").await.expect("count"), 1, "the one connection keeps the data");
}

#[tokio::test]
async fn unreachable_database_error_names_the_url_without_its_password() {
    let url = "postgres://app:hunter2secret@127.0.0.1:1/crosswalk";
    let err = store::open(url).await.expect_err("nothing listens on port 1");
    let text = err.to_string();
    assert!(matches!(err, StoreError::Unreachable { .. }), "{err:?}");
    assert!(!text.contains("hunter2secret"), "{text}");
    assert!(text.contains("postgres://app:***@127.0.0.1:1/crosswalk"), "{text}");
    assert!(!format!("{err:?}").contains("hunter2secret"));
}

#[tokio::test]
async fn unknown_scheme_is_a_bad_url() {
    let err = store::open("mysql://root:pw@localhost/db").await.expect_err("unsupported");
    assert!(matches!(err, StoreError::BadUrl { .. }), "{err:?}");
    assert!(!err.to_string().contains(":pw@"), "{err}");
}

#[test]
fn migration_files_match_across_backends() {
    let names = |dir: &str| -> BTreeSet<String> {
        std::fs::read_dir(format!("{}/crates/store/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
            .expect("migrations dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names("sqlite"), names("postgres"), "same versions and names in both dialects");
}

/// Table → column names, as each backend reports them after migrating.
type Schema = BTreeMap<String, BTreeSet<String>>;

#[tokio::test]
async fn schema_parity() {
    let Some(pg) = TestStore::new(Backend::Postgres).await else { return };
    let lite = TestStore::sqlite().await;

    let mut conn = sqlx::SqliteConnection::connect(&lite.url).await.expect("sqlite");
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("sqlite schema");
    let sqlite_schema = to_schema(rows);

    let mut conn = sqlx::PgConnection::connect(&pg.url).await.expect("postgres");
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema()",
    )
    .fetch_all(&mut conn)
    .await
    .expect("postgres schema");
    let pg_schema = to_schema(rows);

    assert!(sqlite_schema.contains_key("links") && sqlite_schema.len() > 5, "{sqlite_schema:?}");
    assert_eq!(sqlite_schema, pg_schema);
    pg.finish().await;
}

fn to_schema(rows: Vec<(String, String)>) -> Schema {
    let mut schema = Schema::new();
    for (table, column) in rows {
        schema.entry(table).or_default().insert(column);
    }
    schema
}
