//! PostgreSQL specifics: pool options and the embedded PostgreSQL migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::error::{redact_url, scrub};
use super::migrate::{applied_versions, report};
use super::{Backend, MigrationReport, StoreError};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

const MAX_CONNECTIONS: u32 = 10;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to the database named by `url` (failing now, not on first use, if it cannot).
pub(crate) async fn connect(url: &str) -> Result<PgPool, StoreError> {
    let unreachable = |reason: String| StoreError::Unreachable {
        url: redact_url(url),
        reason: scrub(reason, url),
        hint: "check that PostgreSQL is running and that the host, port, user, password and \
               database in the URL are right",
    };
    let options = PgConnectOptions::from_str(url).map_err(|e| unreachable(e.to_string()))?;
    PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| unreachable(e.to_string()))
}

/// Applies the embedded PostgreSQL migrations that are not applied yet. sqlx holds an
/// advisory lock meanwhile, so several workers starting together migrate once.
pub(crate) async fn migrate(pool: &PgPool) -> Result<MigrationReport, StoreError> {
    let before = applied_versions(&MIGRATOR, &mut *pool.acquire().await?).await?;
    MIGRATOR.run(pool).await?;
    Ok(report(Backend::Postgres, &MIGRATOR, &before))
}
