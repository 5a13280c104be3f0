//! The Salesforce connector (Contact, Lead, Account), written from specs/salesforce-api.md.
//!
//! Authentication is the OAuth client-credentials flow with one re-login on 401
//! `INVALID_SESSION_ID` ([`api`]). Pulls are tie-safe `SystemModstamp` queries over `queryAll`
//! that report edits, deletes, merges and undeletes in one ordered stream ([`pull`]). Writes go
//! through sObject Collections, creates as upserts on the external-id field ([`apply`]). The
//! daily API allocation is read from `Sforce-Limit-Info` on every answer and a configured share
//! is kept in reserve ([`budget`]). All HTTP goes through the shared [`HttpClient`].

pub mod api;
pub mod apply;
pub mod budget;
mod describe;
mod lookup;
pub mod pull;
pub mod soql;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use connector_api::http::{BucketPolicy, ClientPolicy, HttpClient, HttpTransport, Redactor};
use connector_api::{
    AccessNeed, Capabilities, Connector, ConnectorError, FieldMap, IdentityKey, MissingScope, ObjectCaps,
    ObjectSchema, PullPage, PullRequest, Record, SharedClock, Write, WriteOutcome,
};
use secrecy::SecretString;
use serde_json::{Map, Value};

use api::Api;
use budget::{Budget, BudgetObserver};
use pull::{Position, SYSTEM_FIELDS};
use soql::{normalize_id, parse_datetime, quote};

/// The connector kind in configuration.
pub const KIND: &str = "salesforce";
/// The objects this connector syncs.
pub const OBJECTS: &[&str] = &["Contact", "Lead", "Account"];
/// Ids per `fetch` query (keeps the URL far below the 414 limit).
const FETCH_CHUNK: usize = 200;

/// How to reach and read one Salesforce org.
#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    /// The host the token request goes to (the org's My Domain for client credentials).
    pub login_url: String,
    /// The connected app's consumer key.
    pub client_id: String,
    /// The connected app's consumer secret.
    pub client_secret: SecretString,
    /// The REST version, `v62.0` or `62.0` (upsert results need v46+).
    pub api_version: String,
    /// The unique custom field carrying the other system's id (e.g. `WLCRO_Id__c`).
    pub external_id_field: String,
    /// Fields read and offered per object (system fields are added by the connector).
    pub fields: BTreeMap<String, Vec<String>>,
    /// Share (0–1) of the daily allocation left for others; the connector stops before it.
    pub reserve_share: f64,
    /// The shared client's retry/timeout policy (Salesforce has no per-second buckets).
    pub policy: ClientPolicy,
    /// Hosts besides Salesforce's own https domains that a token response may name as its
    /// `instance_url` (a proxy, a simulator): `http://127.0.0.1` or a bare host for https.
    /// Scheme and host are compared, not the port.
    pub allowed_instance_hosts: Vec<String>,
}

impl SalesforceConfig {
    /// A config with the usual fields for Contact, Lead and Account and a 20 % reserve.
    pub fn new(login_url: impl Into<String>, client_id: impl Into<String>, secret: SecretString) -> Self {
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let fields = BTreeMap::from([
            ("Contact".to_string(), f(&["FirstName", "LastName", "Email", "Phone", "AccountId", "Title"])),
            ("Lead".to_string(), f(&["FirstName", "LastName", "Company", "Email", "Phone", "Status"])),
            ("Account".to_string(), f(&["Name", "Phone", "Website", "Industry"])),
        ]);
        Self {
            login_url: login_url.into(),
            client_id: client_id.into(),
            client_secret: secret,
            api_version: "v62.0".into(),
            external_id_field: "WLCRO_Id__c".into(),
            fields,
            reserve_share: 0.2,
            policy: ClientPolicy::default(),
            allowed_instance_hosts: Vec::new(),
        }
    }
}

/// One configured Salesforce org.
#[derive(Debug)]
pub struct SalesforceConnector {
    config: SalesforceConfig,
    api: Api,
    /// Configured fields the latest describe of each object did not list (schema drift): left
    /// out of every query, since one unknown field fails a whole SOQL query.
    unlisted: std::sync::Mutex<BTreeMap<String, Vec<String>>>,
}

impl SalesforceConnector {
    /// A connector sending through `transport`, waiting on `clock`, jitter from `seed`.
    pub fn new(
        config: SalesforceConfig,
        transport: Arc<dyn HttpTransport>,
        clock: SharedClock,
        seed: u64,
    ) -> Self {
        let budget = Budget::new(config.reserve_share);
        let mut policy = config.policy.clone();
        if !policy.buckets.iter().any(|b| b.name == api::BUCKET) {
            // Salesforce has no per-second limit (spec §8); the bucket is effectively unlimited
            // and exists so a `Retry-After` (a proxy's 429/503) holds back every later request.
            policy.buckets.push(BucketPolicy::new(api::BUCKET, 10_000, Duration::from_secs(1)));
        }
        let http = HttpClient::new(transport, clock, seed, policy)
            .with_system("Salesforce")
            .with_redactor(Redactor::default())
            .with_classifier(Arc::new(BudgetObserver(budget.clone())));
        let api = Api::new(http, budget, config.clone());
        Self { config, api, unlisted: Default::default() }
    }

    /// Requests left today before the reserve, once any answer has reported usage (for `status`).
    pub fn remaining_budget(&self) -> Option<u64> {
        self.api.budget().remaining()
    }

    fn object(&self, object: &str) -> Result<&'static str, ConnectorError> {
        OBJECTS.iter().copied().find(|o| *o == object).ok_or_else(|| ConnectorError::Invalid {
            message: format!("unknown object {object}; known: {}", OBJECTS.join(", ")),
            code: None,
            field: None,
        })
    }

    /// The configured fields of `object` plus the external-id field, less those the org's
    /// describe no longer lists.
    fn fields(&self, object: &str) -> Vec<String> {
        let mut v = self.config.fields.get(object).cloned().unwrap_or_default();
        let ext = &self.config.external_id_field;
        if !v.iter().any(|f| f.eq_ignore_ascii_case(ext)) {
            v.push(ext.clone());
        }
        let gone = self.unlisted_fields(object);
        let skip = SYSTEM_FIELDS.iter().copied().chain(gone.iter().map(String::as_str));
        let skip: Vec<&str> = skip.collect();
        v.retain(|f| !skip.iter().any(|s| s.eq_ignore_ascii_case(f)));
        v
    }

    fn unlisted_fields(&self, object: &str) -> Vec<String> {
        let unlisted = self.unlisted.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        unlisted.get(object).cloned().unwrap_or_default()
    }

    /// Reads `object`'s describe and notes which configured fields it no longer lists. A failed
    /// describe keeps the previous answer and never fails a pull.
    async fn refresh_unlisted(&self, object: &str) {
        match describe::describe(&self.api, object, &self.config.external_id_field).await {
            Ok(found) => {
                let mut wanted = self.config.fields.get(object).cloned().unwrap_or_default();
                wanted.push(self.config.external_id_field.clone());
                let gone = wanted.into_iter().filter(|f| found.field(f).is_none()).collect();
                let mut unlisted = self.unlisted.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                unlisted.insert(object.to_string(), gone);
            }
            Err(e) => tracing::debug!(object, error = %e, "salesforce describe not read"),
        }
    }

    fn select(&self, object: &str) -> Vec<String> {
        SYSTEM_FIELDS.iter().map(|s| s.to_string()).chain(self.fields(object)).collect()
    }

    fn to_record(&self, object: &str, row: &Map<String, Value>) -> Option<Record> {
        let id = row.get("Id")?.as_str().and_then(normalize_id)?;
        let modified_at = row.get("SystemModstamp")?.as_str().and_then(parse_datetime)?;
        let fields: FieldMap = self
            .fields(object)
            .into_iter()
            .map(|f| (f.clone(), row.get(&f).cloned().unwrap_or(Value::Null)))
            .collect();
        let deleted = row.get("IsDeleted").and_then(Value::as_bool).unwrap_or(false);
        Some(Record { object: object.to_string(), id, modified_at, fields, deleted })
    }

    /// The SOQL field `find` searches for `key.field`.
    fn find_field(&self, object: &str, field: &str) -> Result<String, ConnectorError> {
        let ext = &self.config.external_id_field;
        if field.eq_ignore_ascii_case("email") {
            return Ok("Email".into());
        }
        if field == "external_id" || field.eq_ignore_ascii_case(ext) {
            return Ok(ext.clone());
        }
        self.fields(object).into_iter().find(|f| f.eq_ignore_ascii_case(field)).ok_or_else(|| {
            ConnectorError::Invalid {
                message: format!("{object} cannot be searched on {field}"),
                code: None,
                field: Some(field.to_string()),
            }
        })
    }
}

#[async_trait]
impl Connector for SalesforceConnector {
    fn capabilities(&self) -> Capabilities {
        let objects = OBJECTS
            .iter()
            .map(|o| ObjectCaps {
                name: o.to_string(),
                max_batch: apply::MAX_BATCH,
                max_page: pull::MAX_PAGE,
                pull_sees_every_edit: true,
                modified_times: true,
                reports_deletes: true,
                reports_merges: true,
                identity_fields: vec!["Email".into(), self.config.external_id_field.clone()],
                unreadable_fields: Vec::new(),
                record_space: o.to_string(),
            })
            .collect();
        Capabilities { kind: KIND.into(), objects, rate_buckets: Vec::new() }
    }

    /// One `query` without `LIMIT`: its `totalSize` counts the whole result (the first batch of
    /// ids that comes with it is ignored).
    async fn estimate(
        &self,
        object: &str,
        since: Option<chrono::DateTime<chrono::Utc>>,
        until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Option<u64>, ConnectorError> {
        let object = self.object(object)?;
        let mut conds = Vec::new();
        if let Some(t) = since {
            conds.push(format!("SystemModstamp >= {}", soql::datetime_literal(t)));
        }
        if let Some(t) = until {
            conds.push(format!("SystemModstamp <= {}", soql::datetime_literal(t)));
        }
        let filter = if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) };
        let page = self.api.query(&format!("SELECT Id FROM {object}{filter}"), false).await?;
        Ok(Some(page.total_size))
    }

    async fn pull(&self, req: PullRequest<'_>) -> Result<PullPage, ConnectorError> {
        let object = self.object(req.object)?;
        let saved = Position::from_checkpoint(req.checkpoint)?;
        let (mut start, resume) = match req.rewind {
            Some(overlap) => (saved.rewound(overlap), Some(&saved)),
            None => (saved.clone(), None),
        };
        let stream = format!("salesforce {object} pull");
        start.trail.request(self.api.pull_ceiling(), &stream)?;
        let mark = start.mark();
        start.trail.visit(&mark, &stream)?;
        if req.rewind.is_some() {
            self.refresh_unlisted(object).await;
            // The server's own horizon, asked before reading: unknown (an error) leaves the
            // read horizon where it was, so the next overlap is measured from the last row.
            start.covered = match self.api.latest_covered(object, req.horizon).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(object, error = %e, "salesforce latestDateCovered unavailable");
                    None
                }
            };
        }
        let limit = req.limit.clamp(1, pull::MAX_PAGE);
        let q = pull::page_query(object, &self.select(object), &start, &req, limit);
        let page = self.api.query(&q, true).await?;
        if page.records.is_empty() && !page.done {
            // The next page would ask exactly the same query again.
            return Err(connector_api::progress::stalled(&stream, "a page with no rows said `done: false`"));
        }
        // A batch cut short by the server (`done: false`) ends this page early; the next page
        // re-queries from the last row, so no server cursor is ever needed.
        let full = !page.done || page.records.len() >= limit;
        let page = pull::to_page(
            object,
            &self.fields(object),
            start,
            resume,
            page.records,
            full,
            pull::upper_bound(&req),
        );
        tracing::debug!(object, changes = page.changes.len(), done = page.done, "salesforce pull page");
        Ok(page)
    }

    async fn fetch(&self, object: &str, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        let object = self.object(object)?;
        let ids: Vec<String> = ids.iter().filter_map(|i| normalize_id(i)).collect();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(FETCH_CHUNK) {
            let list: Vec<String> = chunk.iter().map(|i| quote(i)).collect();
            let q = format!(
                "SELECT {} FROM {object} WHERE Id IN ({})",
                self.select(object).join(", "),
                list.join(", ")
            );
            let rows = self.api.query_pages(&q, false).await?;
            out.extend(rows.iter().filter_map(|r| self.to_record(object, r)));
        }
        Ok(out)
    }

    async fn find(&self, object: &str, key: &IdentityKey) -> Result<Vec<Record>, ConnectorError> {
        let object = self.object(object)?;
        let field = self.find_field(object, &key.field)?;
        let q = format!(
            "SELECT {} FROM {object} WHERE {field} = {} ORDER BY Id ASC LIMIT {}",
            self.select(object).join(", "),
            quote(&key.value),
            lookup::FIND_LIMIT
        );
        let rows = self.api.query_pages(&q, false).await?;
        Ok(rows.iter().filter_map(|r| self.to_record(object, r)).collect())
    }

    async fn find_many(
        &self,
        object: &str,
        field: &str,
        values: &[String],
    ) -> Result<BTreeMap<String, Vec<Record>>, ConnectorError> {
        self.lookup_many(self.object(object)?, field, values).await
    }

    async fn apply(&self, object: &str, writes: Vec<Write>) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let object = self.object(object)?;
        apply::apply(&self.api, object, &self.config.external_id_field, writes).await
    }

    /// The configured fields the latest describe (read on each run's first page) did not list.
    fn missing_fields(&self, object: &str) -> Vec<String> {
        self.unlisted_fields(object)
    }

    async fn schema(&self, object: &str) -> Result<Option<ObjectSchema>, ConnectorError> {
        describe::describe(&self.api, self.object(object)?, &self.config.external_id_field).await.map(Some)
    }

    async fn missing_scopes(&self, needs: &[AccessNeed]) -> Result<Vec<MissingScope>, ConnectorError> {
        describe::missing_scopes(&self.api, needs).await
    }

    fn stop_on(&self, stop: connector_api::StopToken) {
        self.api.http.stop_on(stop);
    }

    async fn health(&self) -> Result<(), ConnectorError> {
        self.api
            .send(api::Target::Data("/limits"), |u| {
                connector_api::http::RequestSpec::get(u).log_as("GET limits")
            })
            .await
            .map(|_| ())
    }
}
