//! Helpers shared by the integration tests: a fresh, migrated store on each backend.
//!
//! SQLite stores live in a temporary file (so WAL and several connections are exercised).
//! PostgreSQL stores each get their own schema `t_<uuid>` in the database named by
//! `CROSSWALK_TEST_PG_URL`, so tests run in parallel; without the variable the PostgreSQL
//! tests are skipped, except under `CI=true`, where a missing database is a failure.

#![allow(dead_code)] // each test module uses a different subset

use std::sync::Arc;

use crosswalk::store::{self, Backend, Store};
use sqlx::Connection;

/// The environment variable naming the PostgreSQL database for tests.
pub const PG_URL_VAR: &str = "CROSSWALK_TEST_PG_URL";

/// A migrated store for one test, removed again by [`TestStore::finish`].
pub struct TestStore {
    pub store: Arc<dyn Store>,
    /// Opens the same database again (a second process, as far as the store can tell).
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Schema { admin_url: String, schema: String },
}

impl TestStore {
    /// A fresh store on `backend`; `None` when PostgreSQL is not configured (and this is not CI).
    pub async fn new(backend: Backend) -> Option<TestStore> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite().await),
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// A fresh SQLite store in a temporary file.
    pub async fn sqlite() -> TestStore {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        Self::open(url, Cleanup::Dir(dir)).await
    }

    /// A fresh PostgreSQL store in its own schema, or `None` if no database is configured.
    pub async fn postgres() -> Option<TestStore> {
        let admin_url = pg_url()?;
        let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", store::redact_url(&admin_url)));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await
            .expect("create test schema");
        let sep = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{sep}options[search_path]={schema}");
        Some(Self::open(url, Cleanup::Schema { admin_url, schema }).await)
    }

    async fn open(url: String, cleanup: Cleanup) -> TestStore {
        let store = store::open(&url).await.expect("open store");
        let report = store.migrate().await.expect("migrate");
        assert!(!report.applied.is_empty(), "a fresh database gets every migration");
        TestStore { store, url, cleanup }
    }

    /// Another handle on the same database, with its own connection pool.
    pub async fn second_handle(&self) -> Arc<dyn Store> {
        store::open(&self.url).await.expect("open second handle")
    }

    /// Drops the test's PostgreSQL schema (the SQLite file goes with its directory).
    pub async fn finish(self) {
        if let Cleanup::Schema { admin_url, schema } = &self.cleanup {
            let mut admin = sqlx::PgConnection::connect(admin_url).await.expect("connect");
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut admin)
                .await
                .expect("drop test schema");
        }
    }
}

/// The PostgreSQL URL for tests. Without one: `None` (and a note on stderr), or a panic when
/// `CI=true`, because CI must run the PostgreSQL suite.
pub fn pg_url() -> Option<String> {
    match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "{PG_URL_VAR} must be set when CI=true: the PostgreSQL store suite cannot be skipped in CI"
            )
        }
        _ => {
            eprintln!("skipped: set {PG_URL_VAR}=postgres://… to run the PostgreSQL store suite");
            None
        }
    }
}
