//! The rules every URL setting must follow, checked by `crosswalk check` and before any command
//! starts: `http` or `https` only; `https` unless the host is loopback or the system says
//! `allow_insecure_http = true`; no user-info (`user:pw@`); a host name or a canonical IP
//! literal only (no `2130706434`, `0x7f.1`, `[::ffff:127.0.0.2]`), so what `check` shows is the
//! host that will be contacted.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::settings::{Settings, SystemSettings};

/// Why a URL setting is refused: the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRule {
    /// Not `http://` or `https://`.
    #[error("only http:// and https:// URLs are allowed (rule: scheme), not `{0}`")]
    Scheme(String),
    /// Carries `user:password@`.
    #[error(
        "user-info (`user:password@`) is not allowed in a URL (rule: no user-info); put credentials in a secret"
    )]
    UserInfo,
    /// No host at all.
    #[error("the URL has no host (rule: host)")]
    NoHost,
    /// A numeric host that is not a dotted-quad IPv4 in canonical form.
    #[error(
        "`{0}` is not a canonical IP literal (rule: canonical host); write the address as 127.0.0.2 or a host name"
    )]
    NonCanonicalIp(String),
    /// An IPv4-mapped (or IPv4-compatible) IPv6 literal.
    #[error("`{0}` is an IPv4 address dressed as IPv6 (rule: canonical host); write the IPv4 address itself")]
    MappedIpv6(String),
    /// A host that is neither a host name nor an IP literal.
    #[error("`{0}` is not a valid host name (rule: host); use letters, digits, `-` and `.`")]
    BadHost(String),
    /// A port that is not a number from 1 to 65535.
    #[error("`{0}` is not a port from 1 to 65535 (rule: port)")]
    BadPort(String),
    /// Plain http to a host that is not loopback.
    #[error(
        "plain http:// to `{0}`, which is not loopback (rule: https); use https://, or set `allow_insecure_http = true` for this system"
    )]
    Insecure(String),
}

/// Checks one URL; `insecure_ok` lifts the https rule.
pub fn check_url(url: &str, insecure_ok: bool) -> Result<(), UrlRule> {
    let Some((scheme, rest)) = url.split_once("://") else {
        let scheme = url.split_once(':').map_or(url, |(s, _)| s);
        return Err(UrlRule::Scheme(scheme.to_string()));
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(UrlRule::Scheme(scheme));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(UrlRule::UserInfo);
    }
    let (host, port) = split_authority(authority)?;
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Err(UrlRule::BadPort(port.to_string()));
    }
    let loopback = check_host(host)?;
    if scheme == "http" && !loopback && !insecure_ok {
        return Err(UrlRule::Insecure(host.to_string()));
    }
    Ok(())
}

/// `host[:port]` or `[v6][:port]` into its parts.
fn split_authority(authority: &str) -> Result<(&str, Option<&str>), UrlRule> {
    if authority.is_empty() {
        return Err(UrlRule::NoHost);
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let (inner, after) = rest.split_once(']').ok_or_else(|| UrlRule::BadHost(authority.to_string()))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| UrlRule::BadHost(authority.to_string()))?),
        };
        return Ok((&authority[..inner.len() + 2], port));
    }
    Ok(match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    })
}

/// Checks a host and says whether it is loopback.
fn check_host(host: &str) -> Result<bool, UrlRule> {
    if host.is_empty() {
        return Err(UrlRule::NoHost);
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ip: Ipv6Addr = inner.parse().map_err(|_| UrlRule::BadHost(host.to_string()))?;
        let compatible =
            ip.segments()[..6].iter().all(|s| *s == 0) && !ip.is_loopback() && !ip.is_unspecified();
        if ip.to_ipv4_mapped().is_some() || compatible {
            return Err(UrlRule::MappedIpv6(host.to_string()));
        }
        return Ok(ip.is_loopback());
    }
    let lower = host.to_ascii_lowercase();
    let last = lower.trim_end_matches('.').rsplit('.').next().unwrap_or_default();
    // WHATWG URL parsers read a host whose last label is numeric (or hex) as an IPv4 address in
    // any of its spellings; only the canonical dotted quad is let through.
    let numeric = last.chars().all(|c| c.is_ascii_digit()) || last.starts_with("0x");
    if numeric {
        return match lower.parse::<Ipv4Addr>() {
            Ok(ip) if ip.to_string() == lower => Ok(ip.is_loopback()),
            _ => Err(UrlRule::NonCanonicalIp(host.to_string())),
        };
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if lower.len() > 253 || !lower.trim_end_matches('.').split('.').all(label_ok) {
        return Err(UrlRule::BadHost(host.to_string()));
    }
    Ok(lower == "localhost" || lower.ends_with(".localhost"))
}

/// Takes `allow_insecure_http` out of a `[systems.NAME]` table (before its kind picks its keys)
/// and reads it.
pub fn take_insecure_flag(name: &str, value: &mut config::Value) -> Result<bool, (String, String)> {
    let config::ValueKind::Table(table) = &mut value.kind else { return Ok(false) };
    match table.remove("allow_insecure_http") {
        None => Ok(false),
        Some(v) => v.into_bool().map_err(|_| {
            (format!("systems.{name}.allow_insecure_http"), "must be true or false".to_string())
        }),
    }
}

/// Every URL setting with its dotted key.
fn url_settings(s: &Settings) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for (name, system) in &s.systems {
        let insecure = s.insecure_http.contains(name);
        let mut add =
            |key: &str, url: &str| out.push((format!("systems.{name}.{key}"), url.to_string(), insecure));
        match system {
            SystemSettings::Whitelabelcro(w) => add("base_url", &w.base_url),
            SystemSettings::Hubspot(h) => add("base_url", &h.base_url),
            SystemSettings::Salesforce(sf) => {
                add("login_url", &sf.login_url);
                for entry in &sf.allowed_instance_hosts {
                    let url = if entry.contains("://") { entry.clone() } else { format!("https://{entry}") };
                    add("allowed_instance_hosts", &url);
                }
            }
            SystemSettings::Memory(_) => {}
        }
    }
    for (name, hook) in &s.hubspot_webhooks {
        if let Some(url) = &hook.public_url {
            let insecure = s.insecure_http.contains(name);
            out.push((format!("systems.{name}.webhook.public_url"), url.clone(), insecure));
        }
    }
    for (i, target) in s.alerts.targets.iter().enumerate() {
        out.push((format!("alerts.targets.{i}.url"), target.url.clone(), false));
    }
    out
}

/// Reports every URL setting that breaks a rule, naming its key and the rule.
pub fn validate(s: &Settings, push: &mut impl FnMut(String, String)) {
    for (key, url, insecure) in url_settings(s) {
        if let Err(rule) = check_url(&url, insecure) {
            push(key, rule.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_urls_pass() {
        for url in [
            "https://api.hubapi.com",
            "https://acme.my.salesforce.com/",
            "http://127.0.0.1:8080",
            "http://localhost:9000/x?y=1",
            "http://[::1]:9000",
            "https://10.0.0.7:8443",
            "https://[2001:db8::1]",
        ] {
            assert_eq!(check_url(url, false), Ok(()), "{url}");
        }
        assert_eq!(check_url("http://crm.internal.example", true), Ok(()));
    }

    /// A bad URL and a test of the rule it must break.
    type Case = (&'static str, fn(&UrlRule) -> bool);

    #[test]
    fn each_bad_form_names_its_rule() {
        let cases: &[Case] = &[
            ("file:///etc/passwd", |r| matches!(r, UrlRule::Scheme(s) if s == "file")),
            ("ftp://example.com", |r| matches!(r, UrlRule::Scheme(_))),
            ("api.hubapi.com", |r| matches!(r, UrlRule::Scheme(_))),
            ("http://user:pw@127.0.0.1:9000", |r| matches!(r, UrlRule::UserInfo)),
            ("https://token@api.hubapi.com", |r| matches!(r, UrlRule::UserInfo)),
            ("http://2130706434:9000", |r| matches!(r, UrlRule::NonCanonicalIp(_))),
            ("http://0x7f000002", |r| matches!(r, UrlRule::NonCanonicalIp(_))),
            ("http://127.1", |r| matches!(r, UrlRule::NonCanonicalIp(_))),
            ("http://0177.0.0.1", |r| matches!(r, UrlRule::NonCanonicalIp(_))),
            ("http://[::ffff:127.0.0.2]:9000", |r| matches!(r, UrlRule::MappedIpv6(_))),
            ("http://[::127.0.0.2]", |r| matches!(r, UrlRule::MappedIpv6(_))),
            ("http://exa_mple.com", |r| matches!(r, UrlRule::BadHost(_))),
            ("http://%31%32%37.0.0.1", |r| matches!(r, UrlRule::NonCanonicalIp(_))),
            ("http://ex%41mple.com", |r| matches!(r, UrlRule::BadHost(_))),
            ("http://", |r| matches!(r, UrlRule::NoHost)),
            ("http://127.0.0.1:99999", |r| matches!(r, UrlRule::BadPort(_))),
            ("http://api.hubapi.com", |r| matches!(r, UrlRule::Insecure(_))),
            ("http://10.0.0.7", |r| matches!(r, UrlRule::Insecure(_))),
        ];
        for (url, rule) in cases {
            let err = check_url(url, false).expect_err(url);
            assert!(rule(&err), "{url}: {err:?}");
        }
    }
}
