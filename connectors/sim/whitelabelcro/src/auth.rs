//! API keys and scopes (spec §1): key parsing (both documented formats), the key table, and the
//! 401-then-403 check. Keys are matched by value; the simulator never logs them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The five documented scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// Polling and reading events.
    #[serde(rename = "events:read")]
    EventsRead,
    /// Managing webhook subscriptions.
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
    /// Searches and lookups.
    #[serde(rename = "integrations:read")]
    IntegrationsRead,
    /// Actions (create/update records).
    #[serde(rename = "integrations:write")]
    IntegrationsWrite,
    /// Admin operations (test events).
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    /// All scopes.
    pub const ALL: [Scope; 5] = [
        Scope::EventsRead,
        Scope::WebhooksWrite,
        Scope::IntegrationsRead,
        Scope::IntegrationsWrite,
        Scope::Admin,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::EventsRead => "events:read",
            Scope::WebhooksWrite => "webhooks:write",
            Scope::IntegrationsRead => "integrations:read",
            Scope::IntegrationsWrite => "integrations:write",
            Scope::Admin => "admin",
        }
    }

    /// Parses a comma-separated scope string as a key record stores it (spec §1). Unknown names
    /// are ignored.
    pub fn parse_list(s: &str) -> Vec<Scope> {
        s.split(',').filter_map(|p| Scope::ALL.into_iter().find(|sc| sc.as_str() == p.trim())).collect()
    }
}

/// A key the simulator accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyConfig {
    /// The full key, `wlcro_live_{companyId}_{secret}` or `wlcro_{companyId}_{secret}`.
    pub key: String,
    /// Its scopes.
    pub scopes: Vec<Scope>,
}

impl ApiKeyConfig {
    /// A key for `company_id` with the given secret part and scopes.
    pub fn new(company_id: i64, secret: &str, scopes: &[Scope]) -> Self {
        Self { key: format!("wlcro_live_{company_id}_{secret}"), scopes: scopes.to_vec() }
    }
}

/// Takes `companyId` from a key in either documented format (spec §1, §10): `None` when malformed.
pub fn parse_key(key: &str) -> Option<i64> {
    let rest = key.strip_prefix("wlcro_")?;
    let rest = rest.strip_prefix("live_").unwrap_or(rest);
    let (company, secret) = rest.split_once('_')?;
    let valid_secret =
        !secret.is_empty() && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if company.is_empty() || !company.bytes().all(|b| b.is_ascii_digit()) || !valid_secret {
        return None;
    }
    company.parse().ok()
}

#[derive(Debug, Clone)]
struct KeyEntry {
    company_id: i64,
    scopes: Vec<Scope>,
    revoked: bool,
}

/// Who a request is authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key (used only as a rate-limit map key, never logged).
    pub key: String,
    /// The company the key belongs to.
    pub company_id: i64,
}

/// The outcome of checking a key for a scope.
#[derive(Debug)]
pub enum AuthOutcome {
    /// Valid key with the scope.
    Ok(Principal),
    /// Valid key without the scope: 403, but the request still counts against the bucket.
    Forbidden(Principal, ApiError),
    /// 401: not counted.
    Unauthorized(ApiError),
}

/// The accepted keys.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    entries: BTreeMap<String, KeyEntry>,
}

impl Keys {
    /// A table from config; malformed keys are skipped with a warning.
    pub fn new(keys: &[ApiKeyConfig]) -> Self {
        let mut k = Keys::default();
        for c in keys {
            k.add(c);
        }
        k
    }

    /// Adds (or replaces) a key. Returns false when the key is malformed.
    pub fn add(&mut self, c: &ApiKeyConfig) -> bool {
        let Some(company_id) = parse_key(&c.key) else {
            tracing::warn!("ignoring a malformed simulator API key");
            return false;
        };
        self.entries.insert(c.key.clone(), KeyEntry { company_id, scopes: c.scopes.clone(), revoked: false });
        true
    }

    /// Revokes a key: it gets 401 on every request from now on. Returns false if unknown.
    pub fn revoke(&mut self, key: &str) -> bool {
        self.entries.get_mut(key).map(|e| e.revoked = true).is_some()
    }

    /// 401 first (missing, malformed, unknown, revoked), then 403 (spec §1 suggestion).
    pub fn check(&self, key: Option<&str>, scope: Scope) -> AuthOutcome {
        let Some(key) = key else {
            return AuthOutcome::Unauthorized(ApiError::unauthorized("missing X-Api-Key header"));
        };
        if parse_key(key).is_none() {
            return AuthOutcome::Unauthorized(ApiError::unauthorized("malformed API key"));
        }
        let Some(entry) = self.entries.get(key) else {
            return AuthOutcome::Unauthorized(ApiError::unauthorized("unknown API key"));
        };
        if entry.revoked {
            return AuthOutcome::Unauthorized(ApiError::unauthorized("API key revoked"));
        }
        let p = Principal { key: key.to_string(), company_id: entry.company_id };
        if entry.scopes.contains(&scope) {
            AuthOutcome::Ok(p)
        } else {
            AuthOutcome::Forbidden(p, ApiError::insufficient_scope(scope.as_str()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_key_formats_parse_and_malformed_ones_do_not() {
        assert_eq!(parse_key("wlcro_live_92_abc123def456"), Some(92));
        assert_eq!(parse_key("wlcro_92_abc123def456ghi789jkl012mno345"), Some(92));
        assert_eq!(parse_key("wlcro_live_x_abc"), None);
        assert_eq!(parse_key("wlcro_live_92_"), None);
        assert_eq!(parse_key("Bearer wlcro_live_92_abc"), None);
    }

    #[test]
    fn scope_list_parses_comma_separated() {
        assert_eq!(Scope::parse_list("events:read, admin,bogus"), vec![Scope::EventsRead, Scope::Admin]);
    }
}
