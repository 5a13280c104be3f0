//! SQLite specifics: connect options (WAL, busy timeout, foreign keys), the embedded SQLite
//! migrations, and `BEGIN IMMEDIATE` write transactions.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::error::{redact_url, scrub};
use super::migrate::{applied_versions, report};
use super::{Backend, MigrationReport, StoreError};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a writer waits for another writer's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Readers run in parallel under WAL; writers queue on the busy timeout.
const MAX_CONNECTIONS: u32 = 8;

/// Opens (creating if needed) the database file named by `url`, or an in-memory database for
/// `sqlite::memory:`.
pub(crate) async fn connect(url: &str) -> Result<SqlitePool, StoreError> {
    let unreachable = |reason: String| StoreError::Unreachable {
        url: redact_url(url),
        reason: scrub(reason, url),
        hint: "check that the directory exists and is writable by this user",
    };
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| unreachable(e.to_string()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    let pool = if is_in_memory(url) {
        // Each connection would see its own empty database, and the database vanishes with
        // its last connection: keep exactly one, forever.
        SqlitePoolOptions::new().max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
    } else {
        SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS)
    };
    pool.connect_with(options).await.map_err(|e| unreachable(e.to_string()))
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// A write transaction that takes SQLite's write lock up front, so concurrent writers wait
/// (up to the busy timeout) instead of failing when a read lock would need upgrading.
pub(crate) async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, StoreError> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}

/// Applies the embedded SQLite migrations that are not applied yet.
pub(crate) async fn migrate(pool: &SqlitePool) -> Result<MigrationReport, StoreError> {
    let before = applied_versions(&MIGRATOR, &mut *pool.acquire().await?).await?;
    MIGRATOR.run(pool).await?;
    Ok(report(Backend::Sqlite, &MIGRATOR, &before))
}
