//! Value transforms between a remote field's JSON and the canonical text form.
//!
//! Every transform is oriented left → right (as written in the mapping file) and knows how to
//! `decode` each side's remote values into the canonical form and `encode` the canonical form
//! back. Normalisers (email, phone) make equal-meaning values compare equal; a transform that
//! cannot encode a side (a value map that is not one-to-one, towards the left) says so through
//! [`Transform::can_encode`], and the loader rejects rules that would need it.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate};
use serde_json::Value;

use super::Side;

/// Canonical date form used by [`Transform::Date`].
const CANON_DATE: &str = "%Y-%m-%d";

/// Why a canonical value could not be encoded for a side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// The transform has no inverse towards this side (e.g. a many-to-one value map).
    #[error("transform `{kind}` cannot write to the {side} side")]
    NotInvertible {
        /// The transform's kind name.
        kind: &'static str,
        /// The side that was asked for.
        side: Side,
    },
}

/// One field's transform, validated at load.
#[derive(Debug, Clone, PartialEq)]
pub enum Transform {
    /// Rename only: the value is carried as text unchanged.
    Identity,
    /// Trim and lowercase, on both sides.
    Email,
    /// E.164 when the number parses (with `region` for national numbers), else the trimmed text.
    Phone {
        /// Region used for numbers without a country code.
        region: Option<phonenumber::country::Id>,
    },
    /// Left value → right value; the canonical form is the right side's value.
    ValueMap {
        /// Left → right.
        map: BTreeMap<String, String>,
        /// Right → left, present only when `map` is one-to-one and has no default.
        inverse: Option<BTreeMap<String, String>>,
        /// Right value for left values missing from `map`.
        default: Option<String>,
    },
    /// Several left fields ↔ one right field (first + last ↔ full name).
    Join {
        /// Put between parts; a split cuts at its first occurrence(s).
        separator: String,
    },
    /// One left field ↔ several right fields.
    Split {
        /// As for [`Transform::Join`].
        separator: String,
    },
    /// Left holds integer cents, right a decimal amount; canonical is `"12.34"`.
    CentsToDecimal,
    /// Left holds a decimal amount, right integer cents; canonical is `"12.34"`.
    DecimalToCents,
    /// Dates in a chrono format (or `epoch_ms`) per side; canonical is `YYYY-MM-DD`.
    Date {
        /// Left side's format.
        left: String,
        /// Right side's format.
        right: String,
    },
}

impl Transform {
    /// The kind's name as written in mapping files.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Identity => "rename",
            Self::Email => "email",
            Self::Phone { .. } => "phone",
            Self::ValueMap { .. } => "value_map",
            Self::Join { .. } => "join",
            Self::Split { .. } => "split",
            Self::CentsToDecimal => "cents_to_decimal",
            Self::DecimalToCents => "decimal_to_cents",
            Self::Date { .. } => "date",
        }
    }

    /// Whether canonical values can be written to `side`.
    pub fn can_encode(&self, side: Side) -> bool {
        match (self, side) {
            (Self::ValueMap { inverse, .. }, Side::Left) => inverse.is_some(),
            _ => true,
        }
    }

    /// True when canonical values can be written to both sides.
    pub fn is_invertible(&self) -> bool {
        self.can_encode(Side::Left) && self.can_encode(Side::Right)
    }

    /// How many remote fields `side` uses: `None` means "one or more" (the joined side).
    pub fn multi_field_side(&self) -> Option<Side> {
        match self {
            Self::Join { .. } => Some(Side::Left),
            Self::Split { .. } => Some(Side::Right),
            _ => None,
        }
    }

    /// Remote values of `side` (one per remote field, `None` when absent) → canonical value.
    pub fn decode(&self, side: Side, values: &[Option<&Value>]) -> Option<String> {
        if self.multi_field_side() == Some(side) {
            return join_parts(values, self.separator());
        }
        let text = value_text(values.first().copied().flatten()?)?;
        match self {
            Self::Identity | Self::Join { .. } | Self::Split { .. } => Some(text),
            Self::Email => normalise_email(&text),
            Self::Phone { region } => normalise_phone(&text, *region),
            Self::ValueMap { map, default, .. } => Some(match side {
                Side::Left => map.get(&text).or(default.as_ref()).cloned().unwrap_or(text),
                Side::Right => text,
            }),
            Self::CentsToDecimal | Self::DecimalToCents => {
                let cents = if self.cents_side() == side { text.parse().ok() } else { parse_decimal(&text) };
                Some(cents.map(format_cents).unwrap_or(text))
            }
            Self::Date { left, right } => {
                let fmt = if side == Side::Left { left } else { right };
                Some(parse_date(&text, fmt).map(|d| d.format(CANON_DATE).to_string()).unwrap_or(text))
            }
        }
    }

    /// Canonical value → the remote values for `side` (`arity` values for the joined side, one
    /// otherwise). A blank canonical value becomes JSON null on every remote field.
    pub fn encode(
        &self,
        side: Side,
        canon: Option<&str>,
        arity: usize,
    ) -> Result<Vec<Value>, TransformError> {
        if !self.can_encode(side) {
            return Err(TransformError::NotInvertible { kind: self.kind(), side });
        }
        if self.multi_field_side() == Some(side) {
            return Ok(split_parts(canon, self.separator(), arity));
        }
        let Some(canon) = canon else { return Ok(vec![Value::Null]) };
        let value = match self {
            Self::ValueMap { inverse: Some(inverse), .. } if side == Side::Left => {
                Value::String(inverse.get(canon).cloned().unwrap_or_else(|| canon.to_owned()))
            }
            Self::CentsToDecimal | Self::DecimalToCents if self.cents_side() == side => {
                match parse_decimal(canon) {
                    Some(cents) => Value::from(cents),
                    None => Value::String(canon.to_owned()),
                }
            }
            Self::Date { left, right } => {
                let fmt = if side == Side::Left { left } else { right };
                match NaiveDate::parse_from_str(canon, CANON_DATE) {
                    Ok(date) => Value::String(format_date(date, fmt)),
                    Err(_) => Value::String(canon.to_owned()),
                }
            }
            _ => Value::String(canon.to_owned()),
        };
        Ok(vec![value])
    }

    fn separator(&self) -> &str {
        match self {
            Self::Join { separator } | Self::Split { separator } => separator,
            _ => " ",
        }
    }

    fn cents_side(&self) -> Side {
        if matches!(self, Self::CentsToDecimal) { Side::Left } else { Side::Right }
    }
}

/// JSON → text; null and whitespace-only strings are blank (`None`).
pub fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// Trim and lowercase; blank stays blank.
pub fn normalise_email(text: &str) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_lowercase())
}

/// E.164 when the number parses, else the trimmed text (never loses what the user typed).
pub fn normalise_phone(text: &str, region: Option<phonenumber::country::Id>) -> Option<String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    match phonenumber::parse(region, trimmed) {
        Ok(number) => Some(number.format().mode(phonenumber::Mode::E164).to_string()),
        Err(_) => Some(trimmed.to_owned()),
    }
}

/// A region code from a mapping file (`US`, `GB`).
pub fn parse_region(code: &str) -> Option<phonenumber::country::Id> {
    phonenumber::country::Id::from_str(code).ok()
}

fn join_parts(values: &[Option<&Value>], separator: &str) -> Option<String> {
    let parts: Vec<String> = values.iter().filter_map(|v| v.and_then(value_text)).collect();
    (!parts.is_empty()).then(|| parts.join(separator))
}

/// Cut at the first `arity - 1` separators; the last part takes the remainder.
fn split_parts(canon: Option<&str>, separator: &str, arity: usize) -> Vec<Value> {
    let mut out = vec![Value::Null; arity.max(1)];
    if let Some(canon) = canon {
        for (slot, part) in out.iter_mut().zip(canon.splitn(arity.max(1), separator)) {
            if !part.trim().is_empty() {
                *slot = Value::String(part.to_owned());
            }
        }
    }
    out
}

/// `"12.3"` → 1230 cents, exactly (no floats); more than two decimals is not money.
fn parse_decimal(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if (whole.is_empty() && frac.is_empty()) || frac.len() > 2 {
        return None;
    }
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(frac) {
        return None;
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    let cents = whole.checked_mul(100)?.checked_add(frac)?;
    Some(if negative { -cents } else { cents })
}

fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

fn parse_date(text: &str, fmt: &str) -> Option<NaiveDate> {
    match fmt {
        "epoch_ms" => DateTime::from_timestamp_millis(text.trim().parse().ok()?).map(|t| t.date_naive()),
        "rfc3339" => DateTime::parse_from_rfc3339(text.trim()).ok().map(|t| t.date_naive()),
        _ => NaiveDate::parse_from_str(text.trim(), fmt).ok(),
    }
}

fn format_date(date: NaiveDate, fmt: &str) -> String {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    match fmt {
        "epoch_ms" => midnight.timestamp_millis().to_string(),
        "rfc3339" => midnight.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        _ => date.format(fmt).to_string(),
    }
}

/// Whether a chrono date format string is usable (rejects formats that cannot print a date).
pub fn date_format_ok(fmt: &str) -> bool {
    if matches!(fmt, "epoch_ms" | "rfc3339") {
        return true;
    }
    let probe = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap_or_default();
    let mut out = String::new();
    use std::fmt::Write as _;
    write!(out, "{}", probe.format(fmt)).is_ok() && NaiveDate::parse_from_str(&out, fmt) == Ok(probe)
}

#[cfg(test)]
#[path = "transform_tests.rs"]
mod tests;
