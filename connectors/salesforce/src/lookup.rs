//! Batched identity lookups (`find_many`): one SOQL `WHERE <field> IN ('a', 'b', …)` query per
//! chunk of values instead of one `find` per value, answering per value exactly what `find`
//! would.
//!
//! Values are quoted with [`quote`], as `find` quotes them, so a value that looks like SOQL is
//! matched literally. A chunk holds at most [`MAX_IN_VALUES`] values and its percent-encoded
//! query at most [`MAX_QUERY_CHARS`] characters. The query travels in the URL (`GET
//! /query?q=`), and the spec's evidence of the URL limit is a 414 at about 800 18-character ids
//! (§6, ~16 KB); Salesforce's own statement limit (100,000 characters, its SOQL limits page) is
//! far above. SOQL compares text case-insensitively, so emails match in any case, as in `find`.
//!
//! The answer does not say which value a row was found for: rows are matched to values by
//! the field, case-insensitively. A row this matching cannot place (the server compared
//! differently) sends the chunk's values that found nothing to `find` one by one, so a
//! mismatch costs requests, never a wrong answer.

use std::collections::{BTreeMap, BTreeSet};

use connector_api::{Connector, ConnectorError, IdentityKey, Record};
use serde_json::Value;

use crate::SalesforceConnector;
use crate::soql::{pct, quote};

/// Values per query (as `fetch`'s ids per query).
pub(crate) const MAX_IN_VALUES: usize = 200;
/// The longest percent-encoded SOQL text one query sends (see the module docs).
pub(crate) const MAX_QUERY_CHARS: usize = 10_000;
/// `find` answers at most this many records per value (its `LIMIT`).
pub(crate) const FIND_LIMIT: usize = 200;

/// Records found per requested value.
type Found = BTreeMap<String, Vec<Record>>;

/// A row's value of `field` as comparable text (SOQL compares text case-insensitively).
fn row_key(row: &serde_json::Map<String, Value>, field: &str) -> Option<String> {
    let v = row.iter().find(|(k, _)| k.eq_ignore_ascii_case(field)).map(|(_, v)| v)?;
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.to_lowercase()),
        other => Some(other.to_string().to_lowercase()),
    }
}

/// Splits the values into chunks whose `prefix IN (…) suffix` query stays within the limits.
/// A single value longer than the limit goes alone (as `find` would send it).
pub(crate) fn chunks<'a>(prefix: &str, suffix: &str, values: &[&'a String]) -> Vec<Vec<&'a String>> {
    let base = pct(prefix).len() + pct(suffix).len();
    let sep = pct(", ").len();
    let mut out: Vec<Vec<&String>> = Vec::new();
    let (mut current, mut len): (Vec<&String>, usize) = (Vec::new(), base);
    for v in values {
        let item = pct(&quote(v)).len();
        if !current.is_empty() && (current.len() >= MAX_IN_VALUES || len + sep + item > MAX_QUERY_CHARS) {
            out.push(std::mem::take(&mut current));
            len = base;
        }
        len += item + if current.is_empty() { 0 } else { sep };
        current.push(v);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

impl SalesforceConnector {
    pub(crate) async fn lookup_many(
        &self,
        object: &'static str,
        field: &str,
        values: &[String],
    ) -> Result<Found, ConnectorError> {
        let column = self.find_field(object, field)?;
        // Values equal to SOQL's eyes are looked up once, under their lowercase key.
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for v in values.iter().collect::<BTreeSet<_>>() {
            groups.entry(v.to_lowercase()).or_default().push(v.clone());
        }
        let mut select = self.select(object);
        if !select.iter().any(|s| s.eq_ignore_ascii_case(&column)) {
            select.push(column.clone());
        }
        let prefix = format!("SELECT {} FROM {object} WHERE {column} IN (", select.join(", "));
        let suffix = ") ORDER BY Id ASC";
        let sent: Vec<&String> = groups.values().map(|vs| &vs[0]).collect();
        let mut found = Found::new();
        for chunk in chunks(&prefix, suffix, &sent) {
            let list: Vec<String> = chunk.iter().map(|v| quote(v)).collect();
            let rows = self.api.query_pages(&format!("{prefix}{}{suffix}", list.join(", ")), false).await?;
            let keys: BTreeSet<String> = chunk.iter().map(|v| v.to_lowercase()).collect();
            let mut stray = false;
            for row in &rows {
                let Some(record) = self.to_record(object, row) else { continue };
                match row_key(row, &column).filter(|k| keys.contains(k)) {
                    Some(k) => {
                        let list = found.entry(k).or_default();
                        // Rows come in Id order, so the first ones are `find`'s page.
                        if list.len() < FIND_LIMIT {
                            list.push(record);
                        }
                    }
                    None => stray = true,
                }
            }
            for key in keys {
                if found.contains_key(&key) {
                    continue;
                }
                let records = if stray {
                    let value = groups[&key][0].clone();
                    Connector::find(self, object, &IdentityKey { field: field.to_string(), value }).await?
                } else {
                    Vec::new()
                };
                found.insert(key, records);
            }
        }
        Ok(groups
            .into_iter()
            .flat_map(|(key, values)| {
                let records = found.remove(&key).unwrap_or_default();
                values.into_iter().map(move |v| (v, records.clone()))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_the_value_count_and_the_encoded_length() {
        let prefix = "SELECT Id FROM Contact WHERE Email IN (";
        let short: Vec<String> = (0..450).map(|i| format!("u{i}@example.com")).collect();
        let refs: Vec<&String> = short.iter().collect();
        let got = chunks(prefix, ")", &refs);
        assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), vec![200, 200, 50]);

        let long: Vec<String> = (0..100).map(|i| format!("{i}-{}", "x'y".repeat(100))).collect();
        let refs: Vec<&String> = long.iter().collect();
        let got = chunks(prefix, ")", &refs);
        assert!(got.len() > 1, "the length limit splits long values");
        assert_eq!(got.iter().map(Vec::len).sum::<usize>(), 100, "every value is sent once");
        for c in &got {
            let list: Vec<String> = c.iter().map(|v| quote(v)).collect();
            let q = format!("{prefix}{})", list.join(", "));
            assert!(pct(&q).len() <= MAX_QUERY_CHARS, "{} > {MAX_QUERY_CHARS}", pct(&q).len());
        }

        let huge = "z".repeat(MAX_QUERY_CHARS * 2);
        let got = chunks(prefix, ")", &[&huge, &short[0]]);
        assert_eq!(got.len(), 2, "an over-long value goes alone");
    }
}
