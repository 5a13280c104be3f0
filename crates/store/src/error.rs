//! `StoreError`, the store's error classes, and `redact_url`, which keeps database passwords
//! out of every message.

/// What went wrong in the store. Callers match on the variant, never on the text.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or connected to. `url` is already redacted.
    #[error("cannot reach the state store at {url}: {reason}; {hint}")]
    Unreachable { url: String, reason: String, hint: &'static str },
    /// The URL names no supported backend. `url` is already redacted.
    #[error("unsupported state store URL {url}: use sqlite:<path>, sqlite::memory: or postgres://…")]
    BadUrl { url: String },
    /// The lease's token is no longer current (another worker claimed it, or it was
    /// released). Nothing was written.
    #[error("the lease was lost to another worker; nothing was written")]
    LeaseLost,
    /// Applying the embedded migrations failed.
    #[error("migrating the state store failed: {0}")]
    Migration(String),
    /// The row a mutation refers to does not exist (e.g. `review item 42`).
    #[error("{0} not found")]
    NotFound(String),
    /// A uniqueness rule was violated (e.g. a record linked twice); nothing was written.
    #[error("store conflict: {0}")]
    Conflict(String),
    /// Any other database failure.
    #[error("store query failed: {0}")]
    Query(String),
}

impl StoreError {
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        StoreError::NotFound(what.into())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if let Some(db) = err.as_database_error()
            && db.is_unique_violation()
        {
            return StoreError::Conflict(db.message().to_owned());
        }
        StoreError::Query(err.to_string())
    }
}

impl From<super::types::UnknownValue> for StoreError {
    fn from(err: super::types::UnknownValue) -> Self {
        StoreError::Query(err.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migration(err.to_string())
    }
}

/// `url` with any password replaced by `***`, both in the user-info part
/// (`postgres://user:secret@host`) and in a `password=` query parameter.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let auth_start = scheme_end + 3;
        let auth_end = out[auth_start..].find(['/', '?', '#']).map_or(out.len(), |i| auth_start + i);
        if let Some(at) = out[auth_start..auth_end].rfind('@') {
            let userinfo = auth_start..auth_start + at;
            if let Some(colon) = out[userinfo.clone()].find(':') {
                out.replace_range(userinfo.start + colon + 1..userinfo.end, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

/// The password in `url`, if any, so it can be scrubbed from driver messages too.
pub(crate) fn url_password(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let auth = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &auth[..auth.rfind('@')?];
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// `message` with every occurrence of the URL's password replaced by `***`.
pub(crate) fn scrub(message: String, url: &str) -> String {
    match url_password(url) {
        Some(password) => message.replace(password, "***"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo_password() {
        assert_eq!(
            redact_url("postgres://app:s3cr%40t@db.example:5432/crosswalk?sslmode=require"),
            "postgres://app:***@db.example:5432/crosswalk?sslmode=require"
        );
    }

    #[test]
    fn redacts_password_parameter_and_keeps_the_rest() {
        assert_eq!(
            redact_url("postgres://db/x?user=app&password=hunter2&sslmode=require"),
            "postgres://db/x?user=app&password=***&sslmode=require"
        );
    }

    #[test]
    fn leaves_urls_without_password_alone() {
        for url in ["postgres://postgres@127.0.0.1:5432/test", "sqlite:state.db", "sqlite::memory:"] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn password_with_at_sign_is_fully_hidden() {
        let url = "postgres://app:p@ss@host/db";
        assert_eq!(redact_url(url), "postgres://app:***@host/db");
        assert_eq!(url_password(url), Some("p@ss"));
        assert_eq!(scrub("auth failed for p@ss".into(), url), "auth failed for ***");
    }
}
