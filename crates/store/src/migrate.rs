//! Which embedded migrations a `migrate` call applied, for both backends.

use std::collections::HashSet;

use sqlx::migrate::{Migrate, Migrator};

use super::{AppliedMigration, Backend, MigrationReport, StoreError};

/// The versions already applied to the database behind `conn`.
pub(crate) async fn applied_versions(
    migrator: &Migrator,
    conn: &mut impl Migrate,
) -> Result<HashSet<i64>, StoreError> {
    conn.ensure_migrations_table(&migrator.table_name).await?;
    let applied = conn.list_applied_migrations(&migrator.table_name).await?;
    Ok(applied.into_iter().map(|m| m.version).collect())
}

/// The migrations of `migrator` that were not in `before`: the ones the run applied.
pub(crate) fn report(backend: Backend, migrator: &Migrator, before: &HashSet<i64>) -> MigrationReport {
    let up = || migrator.iter().filter(|m| m.migration_type.is_up_migration());
    MigrationReport {
        backend,
        applied: up()
            .filter(|m| !before.contains(&m.version))
            .map(|m| AppliedMigration { version: m.version, description: m.description.to_string() })
            .collect(),
        latest: up().map(|m| m.version).max().unwrap_or_default(),
    }
}
