//! SOQL text and Salesforce value formats: string-literal escaping, dateTime literals and
//! response timestamps (`+0000`), 15→18-char ids, and percent-encoding for URLs and forms.

use chrono::{DateTime, SubsecRound, Utc};

/// A SOQL string literal for `value`, quoted, with `\` and `'` escaped (and control characters
/// spelled out), so a value that looks like SOQL is matched literally.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// An unquoted SOQL dateTime literal, truncated to the second (the platform's precision), so a
/// `>=` bound built from it never excludes a row the exact instant would include.
pub fn datetime_literal(t: DateTime<Utc>) -> String {
    t.trunc_subsecs(0).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses a response dateTime: `2013-05-08T21:20:00.000+0000` (no colon in the offset), and
/// for robustness `…Z` or `…+00:00`.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.to_utc())
}

/// A record id in its 18-char form: a 15-char id gets the case-checksum suffix (spec §13), an
/// 18-char id is returned as is. Anything else is not an id.
pub fn normalize_id(id: &str) -> Option<String> {
    if !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    match id.len() {
        18 => Some(id.to_string()),
        15 => {
            const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
            let bytes = id.as_bytes();
            let mut out = id.to_string();
            for block in bytes.chunks(5) {
                let bits = block
                    .iter()
                    .enumerate()
                    .fold(0usize, |acc, (i, b)| if b.is_ascii_uppercase() { acc | (1 << i) } else { acc });
                out.push(char::from(ALPHABET[bits]));
            }
            Some(out)
        }
        _ => None,
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (safe for query strings and
/// `application/x-www-form-urlencoded` bodies alike: a space becomes `%20`, never `+`).
pub fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_escape_injection_attempts() {
        assert_eq!(quote("x' OR Name != '"), r"'x\' OR Name != \''");
        assert_eq!(quote(r"a\b"), r"'a\\b'");
        assert_eq!(quote("plain@example.com"), "'plain@example.com'");
    }

    #[test]
    fn parses_salesforce_offsets_and_renders_literals() {
        let t = parse_datetime("2013-05-08T21:20:00.000+0000").unwrap();
        assert_eq!(t, DateTime::parse_from_rfc3339("2013-05-08T21:20:00Z").unwrap().to_utc());
        assert_eq!(parse_datetime("2013-05-08T23:20:00.000+0200").unwrap(), t);
        assert_eq!(parse_datetime("2013-05-08T21:20:00Z").unwrap(), t);
        assert!(parse_datetime("yesterday").is_none());
        let frac = DateTime::parse_from_rfc3339("2013-05-08T21:20:00.900Z").unwrap().to_utc();
        assert_eq!(datetime_literal(frac), "2013-05-08T21:20:00Z");
    }

    #[test]
    fn normalizes_15_char_ids_with_the_case_checksum() {
        // Known pair from the spec's references: 001A0000006Vm9r → 001A0000006Vm9rIAC.
        assert_eq!(normalize_id("001A0000006Vm9r").as_deref(), Some("001A0000006Vm9rIAC"));
        assert_eq!(normalize_id("001A0000006Vm9rIAC").as_deref(), Some("001A0000006Vm9rIAC"));
        assert_eq!(normalize_id("003000000000001").as_deref(), Some("003000000000001AAA"));
        assert!(normalize_id("x' OR 1=1").is_none());
        assert!(normalize_id("short").is_none());
    }

    #[test]
    fn percent_encodes_plus_and_spaces() {
        assert_eq!(pct("a b+c'"), "a%20b%2Bc%27");
    }
}
