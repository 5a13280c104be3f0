//! Serde types for the parts of the Salesforce REST wire format the connector reads, written
//! from specs/salesforce-api.md (§2 token, §3 query, §6 collections, §9 errors).

use serde::Deserialize;
use serde_json::{Map, Value};

/// The OAuth token response (§2). There is no `expires_in`: a session lives until the org's
/// timeout and is refreshed on 401 `INVALID_SESSION_ID`.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
    /// The org's own host; every later call goes there.
    pub instance_url: String,
    /// The granted scopes, space-separated (`api refresh_token`), when the server says.
    #[serde(default)]
    pub scope: Option<String>,
}

/// One page of a SOQL answer (§3).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryResponse {
    /// Rows in the whole result.
    #[serde(default)]
    pub total_size: u64,
    /// True when no further batch exists.
    pub done: bool,
    /// Path (under the instance URL) of the next batch.
    #[serde(default)]
    pub next_records_url: Option<String>,
    /// The rows: `attributes` plus the selected fields.
    pub records: Vec<Map<String, Value>>,
}

/// One item of an sObject Collections answer (§6): `SaveResult`, `UpsertResult` or
/// `DeleteResult`, in input order.
#[derive(Debug, Clone, Deserialize)]
pub struct SaveResult {
    /// The record id (absent or null on most failures).
    #[serde(default)]
    pub id: Option<String>,
    /// Whether this item was written.
    pub success: bool,
    /// Why not: error objects (`statusCode`, `message`, `fields`), kept whole for
    /// [`ErrorInfo`](connector_api::http::ErrorInfo), which reads their codes and field names.
    #[serde(default)]
    pub errors: Vec<Value>,
    /// Upsert only: a record was created.
    #[serde(default)]
    pub created: Option<bool>,
}

/// One error object (§9). Collections items name the code `statusCode`; top-level error
/// arrays name it `errorCode`. The message is kept out of everything we log or return
/// (it may quote field values).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorItem {
    /// The code, in collections items.
    #[serde(default)]
    pub status_code: Option<String>,
    /// The code, in top-level error bodies.
    #[serde(default)]
    pub error_code: Option<String>,
    /// The fields the error names.
    #[serde(default)]
    pub fields: Vec<String>,
}

impl ErrorItem {
    /// The error code under either name.
    pub fn code(&self) -> Option<&str> {
        self.status_code.as_deref().or(self.error_code.as_deref())
    }
}
