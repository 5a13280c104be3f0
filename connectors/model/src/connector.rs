//! The [`Connector`] trait: everything the engine needs from one configured system.
//!
//! It is shaped to fit three very different sources: a cursor-only event feed (WhiteLabelCRO), a
//! timestamp-filtered search with a result cap (HubSpot) and a SQL-like query with paging
//! (Salesforce). The engine never sees the wire protocol: it pulls pages of [`Change`]s after an
//! opaque [`Checkpoint`], fetches and finds [`Record`]s, and applies batches of [`Write`]s with
//! one outcome per item.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ConnectorError;
use crate::record::{Change, Checkpoint, IdentityKey, Quarantined, Record};
use crate::schema::{AccessNeed, MissingScope, ObjectSchema};
use crate::write::{Write, WriteOutcome};

/// What a connector can do, so the engine can plan batches, sweeps and pacing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    /// The connector kind (`whitelabelcro`, `hubspot`, `salesforce`, `memory`).
    pub kind: String,
    /// The object types this system exposes.
    pub objects: Vec<ObjectCaps>,
    /// The remote's rate-limit buckets, as configured for this instance.
    pub rate_buckets: Vec<RateBucket>,
}

impl Capabilities {
    /// The capabilities of one object, if the system has it.
    pub fn object(&self, name: &str) -> Option<&ObjectCaps> {
        self.objects.iter().find(|o| o.name == name)
    }
}

/// What one object type supports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectCaps {
    /// The object's name in the system.
    pub name: String,
    /// The most writes one `apply` call may carry (HubSpot 100, Salesforce 200, WhiteLabelCRO 1).
    pub max_batch: usize,
    /// The largest page a pull returns.
    pub max_page: usize,
    /// False when some edits produce no change in the pull (WhiteLabelCRO emits no event for a
    /// plain field update): the engine then runs a budgeted verification sweep with `fetch`.
    pub pull_sees_every_edit: bool,
    /// True when records and changes carry the time the record was last modified. False when the
    /// API cannot say (WhiteLabelCRO's searches return no modified time, so a record's
    /// `modified_at` is the time it was read): the engine then never lets that time decide a
    /// `newest` conflict.
    pub modified_times: bool,
    /// True when pulls report deletes.
    pub reports_deletes: bool,
    /// True when pulls report merges.
    pub reports_merges: bool,
    /// The fields `find` can search on.
    pub identity_fields: Vec<String>,
    /// Fields the system takes in writes but never returns in reads (WhiteLabelCRO's address and
    /// `external_id`: absent from its searches and events). Their value is unknown, not blank:
    /// the engine never writes over one because it "looked empty", and `check` refuses rules
    /// that would need to read them.
    #[serde(default)]
    pub unreadable_fields: Vec<String>,
    /// The record space the object belongs to: two objects of one system with the same space
    /// hold the same records (WhiteLabelCRO's `leads`, `clients` and `people` are one
    /// `client_id` space), so two pairs syncing them against one object would duplicate people.
    #[serde(default)]
    pub record_space: String,
}

/// One rate-limit bucket of the remote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateBucket {
    /// The bucket's name (`read`, `write`, `burst`, `search`, `daily`).
    pub name: String,
    /// Requests allowed per window.
    pub limit: u32,
    /// The window.
    pub window: Duration,
}

/// A request for one page of changes.
#[derive(Debug, Clone)]
pub struct PullRequest<'a> {
    /// The object type to pull.
    pub object: &'a str,
    /// Where to continue from; `None` means from the beginning of the stream.
    pub checkpoint: Option<&'a Checkpoint>,
    /// `Some(overlap)` on the first page of a run: re-read that far behind the checkpoint
    /// (changes re-read this way are recognised downstream and cost nothing). `None` on the
    /// following pages of the same run, which continue exactly where the last page ended.
    pub rewind: Option<Duration>,
    /// The run's horizon (run start minus a safety margin). The checkpoint a page returns must
    /// never claim more than `min(horizon, newest change seen)`.
    pub horizon: DateTime<Utc>,
    /// Only changes at or after this time (backfill ranges); `None` for incremental pulls.
    pub since: Option<DateTime<Utc>>,
    /// Only changes at or before this time (backfill ranges); `None` for incremental pulls.
    pub until: Option<DateTime<Utc>>,
    /// The largest page wanted; the connector may return fewer.
    pub limit: usize,
}

/// One page of changes.
#[derive(Debug, Clone)]
pub struct PullPage {
    /// Changes in source order (oldest first, ties by id).
    pub changes: Vec<Change>,
    /// Items the connector could not parse, kept with their reason.
    pub quarantined: Vec<Quarantined>,
    /// Where the next page (or the next run, after rewinding) starts.
    pub next: Checkpoint,
    /// The newest change time seen on this page.
    pub newest: Option<DateTime<Utc>>,
    /// True when the stream had nothing more when this page was read.
    pub done: bool,
}

/// One configured system.
#[async_trait]
pub trait Connector: Send + Sync {
    /// What this system supports.
    fn capabilities(&self) -> Capabilities;

    /// Reads one page of changes.
    async fn pull(&self, req: PullRequest<'_>) -> Result<PullPage, ConnectorError>;

    /// Reads records by id. Missing ids are left out of the answer, not an error.
    async fn fetch(&self, object: &str, ids: &[String]) -> Result<Vec<Record>, ConnectorError>;

    /// Finds records whose `key.field` equals `key.value` (case-insensitively for emails).
    async fn find(&self, object: &str, key: &IdentityKey) -> Result<Vec<Record>, ConnectorError>;

    /// Finds records for many values of one identity field at once, with `find`'s matching
    /// (case-insensitive for emails). Answers, per requested value (as given), the records that
    /// match it; a value with no match may be absent or map to an empty list. The default calls
    /// `find` once per value.
    async fn find_many(
        &self,
        object: &str,
        field: &str,
        values: &[String],
    ) -> Result<std::collections::BTreeMap<String, Vec<Record>>, ConnectorError> {
        let mut out = std::collections::BTreeMap::new();
        for v in values {
            if out.contains_key(v) {
                continue;
            }
            let key = IdentityKey { field: field.to_string(), value: v.clone() };
            out.insert(v.clone(), self.find(object, &key).await?);
        }
        Ok(out)
    }

    /// Applies a batch of at most `max_batch` writes and answers one outcome per write, in any
    /// order, matched by key. `Err` means the whole call failed and no item is known to be done.
    async fn apply(&self, object: &str, writes: Vec<Write>) -> Result<Vec<WriteOutcome>, ConnectorError>;

    /// Checks the credentials and that the remote answers.
    async fn health(&self) -> Result<(), ConnectorError>;

    /// Stops on `stop` (the engine hands its SIGINT/SIGTERM stop here once): after it is
    /// cancelled no request is sent any more, and waits on rate limits, back-offs and reads in
    /// flight end at once with a transient error (see `HttpClient::stop_on`). A connector
    /// without waits of its own (an in-memory one) may ignore it, which is the default.
    fn stop_on(&self, stop: crate::StopToken) {
        let _ = stop;
    }

    /// The configured fields of `object` the remote stopped returning although they were asked
    /// for (a property deleted or renamed: schema drift), as of this connector's latest reads;
    /// a field is dropped from the list as soon as a read returns it again. The engine holds
    /// the mapped fields (neither read nor written) and names them in the review queue. Empty
    /// by default, for systems whose reads cannot tell "deleted" from "empty".
    fn missing_fields(&self, object: &str) -> Vec<String> {
        let _ = object;
        Vec::new()
    }

    /// What the remote says about `object`'s fields (one or two read-only requests), or `None`
    /// (the default) when the system has no metadata to offer. Used by `crosswalk check
    /// --remote`; never called on a run's hot path.
    async fn schema(&self, object: &str) -> Result<Option<ObjectSchema>, ConnectorError> {
        let _ = object;
        Ok(None)
    }

    /// Checks the credentials with read-only requests and answers the scopes they lack for
    /// `needs`, as far as the remote can tell. `Err(Auth)` when the credentials are refused
    /// outright. The default only runs [`health`](Self::health) and cannot name scopes.
    async fn missing_scopes(&self, needs: &[AccessNeed]) -> Result<Vec<MissingScope>, ConnectorError> {
        let _ = needs;
        self.health().await.map(|()| Vec::new())
    }

    /// How many records of `object` changed between `since` and `until` (all of them when
    /// both are `None`), if the system can say cheaply — one request at most. Used for the
    /// backfill's progress and ETA; `None` (the default) when it cannot.
    async fn estimate(
        &self,
        object: &str,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Option<u64>, ConnectorError> {
        let _ = (object, since, until);
        Ok(None)
    }
}
