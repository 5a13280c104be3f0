//! Salesforce date/time formats: `2013-05-08T21:20:00.000+0000` on output (offset without a
//! colon), lenient ISO parsing of request parameters, and second/minute truncation.

use chrono::{DateTime, DurationRound, NaiveDate, TimeDelta, Utc};

/// Renders a dateTime as the API does: milliseconds and a colon-less `+0000` offset.
pub fn render(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Renders a date field.
pub fn render_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Drops sub-second precision: stamps are second-precision (spec §4).
pub fn to_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::seconds(1)).unwrap_or(t)
}

/// Drops the seconds: the replication API works at minute granularity (spec §4).
pub fn to_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::minutes(1)).unwrap_or(t)
}

/// Parses `YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm|±hhmm)`. Anything else (including a bare
/// datetime whose `+` was decoded to a space) is `None`.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if s.len() < 20 || s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let normalised = if let Some(body) = s.strip_suffix('Z') {
        format!("{body}+0000")
    } else {
        let split = s.len().checked_sub(6)?;
        let (body, zone) = s.split_at(split);
        match zone.as_bytes() {
            [b'+' | b'-', _, _, b':', _, _] => format!("{body}{}", zone.replace(':', "")),
            _ => s.to_string(),
        }
    };
    DateTime::parse_from_str(&normalised, "%Y-%m-%dT%H:%M:%S%.f%z").ok().map(|t| t.to_utc())
}

/// Parses a `YYYY-MM-DD` date literal.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_without_colon_and_parses_all_offset_forms() {
        let t = parse_datetime("2026-01-01T10:20:30Z").unwrap();
        assert_eq!(render(t), "2026-01-01T10:20:30.000+0000");
        assert_eq!(parse_datetime("2026-01-01T12:20:30+02:00"), Some(t));
        assert_eq!(parse_datetime("2026-01-01T10:20:30.000+0000"), Some(t));
        assert_eq!(parse_datetime("2026-01-01T10:20:30 00:00"), None);
        assert_eq!(parse_datetime("2026-01-01"), None);
        assert_eq!(render(to_minute(t)), "2026-01-01T10:20:00.000+0000");
    }
}
