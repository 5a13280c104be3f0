//! Resolving a parsed query against the schema (field names, literal types) and running it over
//! the store's records.

use std::cmp::Ordering;

use super::{Cond, Literal, Op, Query};
use crate::custom::CustomField;
use crate::error::ApiError;
use crate::ids;
use crate::schema::{Field, FieldType, ObjectKind};
use crate::store::{Record, Val};

/// A condition with resolved fields and typed values.
#[derive(Debug, Clone)]
enum Check {
    And(Vec<Check>),
    Or(Vec<Check>),
    Cmp(Field, Op, Val),
    In(Field, Vec<Val>),
    Like(Field, Vec<char>),
}

/// A query ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The object queried.
    pub object: ObjectKind,
    /// Selected fields, canonical, in SELECT order.
    pub fields: Vec<Field>,
    /// `SELECT COUNT()`.
    pub count: bool,
    filter: Option<Check>,
    order: Vec<(Field, bool, bool)>,
    limit: Option<usize>,
}

fn invalid_field(msg: String) -> ApiError {
    ApiError::bad_request("INVALID_FIELD", msg)
}

fn resolve_field(object: ObjectKind, name: &str, custom: &[CustomField]) -> Result<Field, ApiError> {
    object
        .field(name, custom)
        .ok_or_else(|| invalid_field(format!("No such column '{name}' on entity '{}'", object.name())))
}

fn typed(field: &Field, lit: &Literal) -> Result<Val, ApiError> {
    let wrong = |ty: &str| {
        invalid_field(format!(
            "value of filter criterion for field '{}' must be of type {ty} and should not be enclosed in quotes",
            field.name
        ))
    };
    match (field.ty, lit) {
        (_, Literal::Null) => Ok(Val::Null),
        (FieldType::Id, Literal::Str(s)) => ids::lookup_key(s).map(Val::Text).ok_or_else(|| {
            ApiError::bad_request("INVALID_QUERY_FILTER_OPERATOR", format!("invalid ID field: {s}"))
        }),
        (FieldType::Text, Literal::Str(s)) => Ok(Val::Text(s.clone())),
        (FieldType::DateTime, Literal::DateTime(t)) => Ok(Val::Dt(*t)),
        (FieldType::Date, Literal::Date(d)) => Ok(Val::Date(*d)),
        (FieldType::Bool, Literal::Bool(b)) => Ok(Val::Bool(*b)),
        (FieldType::DateTime, _) => Err(wrong("dateTime")),
        (FieldType::Date, _) => Err(wrong("date")),
        (FieldType::Bool, _) => Err(wrong("boolean")),
        (FieldType::Id | FieldType::Text, _) => Err(invalid_field(format!(
            "value of filter criterion for field '{}' must be a quoted string",
            field.name
        ))),
    }
}

fn resolve(object: ObjectKind, c: &Cond, custom: &[CustomField]) -> Result<Check, ApiError> {
    Ok(match c {
        Cond::And(v) => Check::And(v.iter().map(|c| resolve(object, c, custom)).collect::<Result<_, _>>()?),
        Cond::Or(v) => Check::Or(v.iter().map(|c| resolve(object, c, custom)).collect::<Result<_, _>>()?),
        Cond::Cmp(f, op, lit) => {
            let field = resolve_field(object, f, custom)?;
            let v = typed(&field, lit)?;
            Check::Cmp(field, *op, v)
        }
        Cond::In(f, lits) => {
            let field = resolve_field(object, f, custom)?;
            let vals = lits.iter().map(|l| typed(&field, l)).collect::<Result<_, _>>()?;
            Check::In(field, vals)
        }
        Cond::Like(f, pattern) => {
            let field = resolve_field(object, f, custom)?;
            if field.ty != FieldType::Text {
                return Err(invalid_field(format!(
                    "invalid operator on field '{}': LIKE needs a text field",
                    field.name
                )));
            }
            Check::Like(field, pattern.to_lowercase().chars().collect())
        }
    })
}

/// Resolves `q` for execution. Unknown object → `INVALID_TYPE`; unknown field → `INVALID_FIELD`.
pub fn plan(q: &Query, custom: &[CustomField]) -> Result<Plan, ApiError> {
    let object = ObjectKind::parse(&q.object).ok_or_else(|| {
        ApiError::bad_request("INVALID_TYPE", format!("sObject type '{}' is not supported.", q.object))
    })?;
    let fields = q.fields.iter().map(|f| resolve_field(object, f, custom)).collect::<Result<_, _>>()?;
    let filter = q.filter.as_ref().map(|c| resolve(object, c, custom)).transpose()?;
    let order = q
        .order
        .iter()
        .map(|k| Ok((resolve_field(object, &k.field, custom)?, k.asc, k.nulls_first)))
        .collect::<Result<_, ApiError>>()?;
    Ok(Plan { object, fields, count: q.count, filter, order, limit: q.limit })
}

/// Record value normalised for comparison: ids lower-cased (18-char form), text lower-cased
/// (SOQL text comparison is case-insensitive).
fn norm(field: &Field, v: Val) -> Val {
    match (field.ty, v) {
        (FieldType::Id | FieldType::Text, Val::Text(s)) => Val::Text(s.to_lowercase()),
        (_, v) => v,
    }
}

fn cmp_op(field: &Field, rec: &Record, op: Op, lit: &Val) -> bool {
    let v = norm(field, rec.value(field));
    let lit = norm(field, lit.clone());
    match (&v, &lit, op) {
        (Val::Null, Val::Null, Op::Eq) => true,
        (Val::Null, Val::Null, Op::Ne) => false,
        (_, Val::Null, Op::Ne) | (Val::Null, _, Op::Ne) => true,
        (Val::Null, _, _) | (_, Val::Null, _) => false,
        _ => match v.partial_cmp(&lit) {
            Some(o) => match op {
                Op::Eq => o == Ordering::Equal,
                Op::Ne => o != Ordering::Equal,
                Op::Lt => o == Ordering::Less,
                Op::Le => o != Ordering::Greater,
                Op::Gt => o == Ordering::Greater,
                Op::Ge => o != Ordering::Less,
            },
            None => false,
        },
    }
}

fn check(c: &Check, rec: &Record) -> bool {
    match c {
        Check::And(v) => v.iter().all(|c| check(c, rec)),
        Check::Or(v) => v.iter().any(|c| check(c, rec)),
        Check::Cmp(f, op, lit) => cmp_op(f, rec, *op, lit),
        Check::In(f, vals) => vals.iter().any(|lit| cmp_op(f, rec, Op::Eq, lit)),
        Check::Like(f, pattern) => match rec.value(f) {
            Val::Text(s) => like(pattern, &s.to_lowercase().chars().collect::<Vec<_>>()),
            _ => false,
        },
    }
}

/// SOQL `LIKE`: `%` matches any run of characters, `_` exactly one (`\` escapes were resolved
/// by the lexer, so a literal `%` cannot be expressed; SOQL's own escapes are not modelled).
fn like(p: &[char], s: &[char]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some(('%', rest)) => (0..=s.len()).any(|i| like(rest, &s[i..])),
        Some(('_', rest)) => !s.is_empty() && like(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && like(rest, &s[1..]),
    }
}

fn collect<'a>(c: &'a Check, out: &mut Vec<&'a Field>) {
    match c {
        Check::And(v) | Check::Or(v) => v.iter().for_each(|c| collect(c, out)),
        Check::Cmp(f, ..) | Check::In(f, _) | Check::Like(f, _) => out.push(f),
    }
}

impl Plan {
    /// The fields the `WHERE` clause filters on.
    pub fn filter_fields(&self) -> Vec<&Field> {
        let mut out = Vec::new();
        if let Some(c) = &self.filter {
            collect(c, &mut out);
        }
        out
    }

    /// Filters, sorts (ORDER BY, then Id for a stable result) and limits `records`.
    pub fn run<'a>(&self, records: impl Iterator<Item = &'a Record>) -> Vec<&'a Record> {
        let mut rows: Vec<&Record> = records
            .filter(|r| r.object == self.object)
            .filter(|r| self.filter.as_ref().is_none_or(|c| check(c, r)))
            .collect();
        rows.sort_by(|a, b| {
            for (f, asc, nulls_first) in &self.order {
                let (va, vb) = (norm(f, a.value(f)), norm(f, b.value(f)));
                let o = match (&va, &vb) {
                    (Val::Null, Val::Null) => Ordering::Equal,
                    (Val::Null, _) => {
                        if *nulls_first {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        }
                    }
                    (_, Val::Null) => {
                        if *nulls_first {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        }
                    }
                    _ => {
                        let o = va.partial_cmp(&vb).unwrap_or(Ordering::Equal);
                        if *asc { o } else { o.reverse() }
                    }
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            a.id.cmp(&b.id)
        });
        if let Some(n) = self.limit {
            rows.truncate(n);
        }
        rows
    }
}
