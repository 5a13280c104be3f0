//! The SOQL subset a sync connector needs (spec §3, §14.2): `SELECT fields FROM object
//! [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], …] [LIMIT n]` and
//! `SELECT COUNT() FROM object [WHERE cond]`, with AND/OR, parentheses, `= != < <= > >= IN LIKE`
//! (`%` any run, `_` one character, case-insensitive), quoted strings, unquoted date/dateTime literals,
//! booleans and null. Everything else is `MALFORMED_QUERY`; unknown fields or literals of
//! the wrong type are `INVALID_FIELD`.

mod eval;
mod lexer;
mod parser;

pub use eval::{Plan, plan};
pub use parser::parse;

use chrono::{DateTime, NaiveDate, Utc};

/// A literal in a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `'text'`
    Str(String),
    /// `2026-01-01T00:00:00Z`
    DateTime(DateTime<Utc>),
    /// `2026-01-01`
    Date(NaiveDate),
    /// `true` / `false`
    Bool(bool),
    /// `null`
    Null,
    /// A bare number (only useful for LIMIT; rejected in conditions on our fields).
    Number(String),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A WHERE expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// All must hold.
    And(Vec<Cond>),
    /// Any must hold.
    Or(Vec<Cond>),
    /// `field op literal`
    Cmp(String, Op, Literal),
    /// `field IN (literals)`
    In(String, Vec<Literal>),
    /// `field LIKE 'pattern'`
    Like(String, String),
}

/// One ORDER BY key.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    /// Field name as written.
    pub field: String,
    /// Ascending?
    pub asc: bool,
    /// Nulls first? (default: first when ascending, last when descending)
    pub nulls_first: bool,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Selected field names as written (empty for `COUNT()`).
    pub fields: Vec<String>,
    /// `SELECT COUNT()`: only `totalSize` is answered.
    pub count: bool,
    /// Object name as written.
    pub object: String,
    /// WHERE clause.
    pub filter: Option<Cond>,
    /// ORDER BY keys.
    pub order: Vec<OrderKey>,
    /// LIMIT.
    pub limit: Option<usize>,
}
