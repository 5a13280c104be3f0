//! The two backends behind one handle: [`Db`] (a pool) and [`Tx`] (a write transaction), plus
//! the macros that run one query text on either, and [`Ts`], the timestamp codec.
//!
//! Almost all of the store's SQL is the same for SQLite and PostgreSQL (`$n` placeholders,
//! `ON CONFLICT`, `RETURNING` and partial indexes work in both), so each query is written once.
//! [`on_db!`]/[`on_tx!`] expand the query code once per backend with concrete types; that keeps
//! the code free of sqlx's generic-executor bounds. The few real differences (connect options,
//! migrations, how a write transaction begins) live in `sqlite.rs` and `postgres.rs`.

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Encode, Postgres, Sqlite, SqlitePool, Transaction, Type};

use super::StoreError;

/// A connection pool to one of the backends.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(sqlx::PgPool),
}

/// A write transaction: `BEGIN IMMEDIATE` on SQLite (so writers queue on the busy timeout
/// instead of failing on lock upgrade), a plain `BEGIN` on PostgreSQL.
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Db {
    pub(crate) async fn begin_write(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Db::Sqlite(pool) => Tx::Sqlite(super::sqlite::begin_write(pool).await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }
}

impl Tx {
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// Runs `$body` with `$p` bound to the concrete pool of `$db` (a `&Db`).
macro_rules! on_db {
    ($db:expr, $p:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($p) => $body,
            $crate::db::Db::Postgres($p) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to the concrete connection of `$tx` (a `&mut Tx`).
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::db::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

/// Binds every [`Arg`] of `$args` to the query `$q`, in order.
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for arg in $args {
            q = match arg {
                $crate::db::Arg::Text(v) => q.bind(v.as_str()),
                $crate::db::Arg::Int(v) => q.bind(*v),
                $crate::db::Arg::Ts(v) => q.bind(*v),
            };
        }
        q
    }};
}

pub(crate) use {bind_args, on_db, on_tx};

/// A value for a query whose text is assembled at run time (filters).
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    Ts(Ts),
}

/// `WHERE` clauses and their arguments, numbered `$1…` in the order they are pushed.
#[derive(Debug, Default)]
pub(crate) struct Where {
    clauses: Vec<String>,
    pub(crate) args: Vec<Arg>,
}

impl Where {
    /// Adds `column op $n` for the next argument number.
    pub(crate) fn push(&mut self, column: &str, op: &str, arg: Arg) {
        self.args.push(arg);
        self.clauses.push(format!("{column} {op} ${}", self.args.len()));
    }

    /// Adds the clause `make(n)` builds around placeholder `$n` of `arg` (which it may use
    /// several times), e.g. `(a LIKE $n OR b LIKE $n)`.
    pub(crate) fn push_with(&mut self, arg: Arg, make: impl FnOnce(usize) -> String) {
        self.args.push(arg);
        self.clauses.push(make(self.args.len()));
    }

    /// The next free placeholder number (for `LIMIT`/`OFFSET` after the filters).
    pub(crate) fn next(&self) -> usize {
        self.args.len() + 1
    }

    /// ` WHERE a AND b`, or nothing.
    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() { String::new() } else { format!(" WHERE {}", self.clauses.join(" AND ")) }
    }
}

/// A timestamp as the store writes it: microsecond precision on both backends; `TIMESTAMPTZ`
/// on PostgreSQL and fixed-width RFC 3339 text (`2026-11-22T13:07:00.123456Z`) on SQLite, so
/// text order is time order there. Rows decode straight into `DateTime<Utc>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ts(pub DateTime<Utc>);

/// The fixed-width text form used on SQLite.
pub(crate) const SQLITE_TS_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

impl From<DateTime<Utc>> for Ts {
    fn from(t: DateTime<Utc>) -> Self {
        Ts(t.trunc_subsecs(6))
    }
}

/// `Some(t)` as a [`Ts`].
pub(crate) fn ts(t: Option<DateTime<Utc>>) -> Option<Ts> {
    t.map(Ts::from)
}

/// A `LIMIT`/`OFFSET` as a bind value (saturating; no store holds `i64::MAX` rows).
pub(crate) fn limit_arg(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A `COUNT(*)` as an unsigned count.
pub(crate) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

/// `t` as the store keeps it (truncated to microseconds).
pub(crate) fn stored(t: DateTime<Utc>) -> DateTime<Utc> {
    Ts::from(t).0
}

impl Type<Sqlite> for Ts {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl Encode<'_, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut sqlx::sqlite::SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.0.format(SQLITE_TS_FORMAT).to_string(), buf)
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut sqlx::postgres::PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode_by_ref(&self.0, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn sqlite_text_is_fixed_width_and_sorts_like_time() {
        let a = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::Duration::nanoseconds(1_500);
        let text = |t: DateTime<Utc>| Ts::from(t).0.format(SQLITE_TS_FORMAT).to_string();
        assert_eq!(text(a), "2026-01-02T03:04:05.000000Z");
        assert_eq!(text(b), "2026-01-02T03:04:05.000001Z");
        assert!(text(a) < text(b));
    }

    #[test]
    fn where_numbers_placeholders_in_order() {
        let mut w = Where::default();
        w.push("pair", "=", Arg::Text("p".into()));
        w.push("id", ">", Arg::Int(2));
        assert_eq!(w.sql(), " WHERE pair = $1 AND id > $2");
        assert_eq!(w.next(), 3);
    }
}
