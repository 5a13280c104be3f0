//! The control API under `/_sim/` (not part of HubSpot's API; no auth, no faults, no rate limits,
//! not logged) and the same operations as `SimState` methods for in-process tests.
//!
//! Routes: `POST seed`, `POST edit`, `POST bulk-touch`, `POST search-lag`, `GET|POST behaviour`,
//! `POST clock`, `POST faults`, `POST quirks`, `POST rate-limits`, `POST merge`, `POST archive`,
//! `POST restore`, `GET|DELETE requests`, `GET records?object=`, `GET webhooks`,
//! `POST webhooks/deliver`, `GET|PUT schema`, `POST schema/properties`,
//! `DELETE schema/properties/{object}/{name}`, `POST scopes`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Duration;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sim_core::{FaultConfig, LoggedRequest};

use crate::SimState;
use crate::error::{ApiError, ApiResult};
use crate::gate::Quirks;
use crate::model::{ObjectType, Record};
use crate::ratelimit::RateLimitConfig;
use crate::schema::{PropertyDef, Schema};
use crate::store::{Behaviour, Source};
use crate::webhooks::{SignedBatch, WebhookEvent, post_batch};

/// Where the control API lives.
pub const PREFIX: &str = "/_sim";

impl SimState {
    /// Seeds records (validated like creates, visible to search at once, no webhook events).
    pub fn seed(&self, object: ObjectType, records: &[Map<String, Value>]) -> ApiResult<Vec<u64>> {
        let now = self.now_ms();
        let mut inner = self.lock();
        records.iter().map(|p| inner.store.create(object, p, now, Source::Seed).map(|r| r.id)).collect()
    }

    /// A human edit in the HubSpot UI: bumps the modified time and emits `propertyChange` events.
    pub fn external_edit(
        &self,
        object: ObjectType,
        id: u64,
        props: &Map<String, Value>,
    ) -> ApiResult<Record> {
        let now = self.now_ms();
        self.lock().store.update(object, id, props, now, Source::External)
    }

    /// Stamps `count` live records with one identical millisecond timestamp; returns it and the ids.
    pub fn bulk_touch(&self, object: ObjectType, count: usize) -> (i64, Vec<u64>) {
        let now = self.now_ms();
        (now, self.lock().store.bulk_touch(object, count, now))
    }

    /// Sets the search-index lag and jitter (ms).
    pub fn set_search_lag(&self, lag_ms: i64, jitter_ms: i64) {
        let mut inner = self.lock();
        inner.store.behaviour.search_lag_ms = lag_ms;
        inner.store.behaviour.search_lag_jitter_ms = jitter_ms;
    }

    /// Current behaviour knobs.
    pub fn behaviour(&self) -> Behaviour {
        self.lock().store.behaviour.clone()
    }

    /// Replaces the behaviour knobs.
    pub fn set_behaviour(&self, b: Behaviour) {
        self.lock().store.behaviour = b;
    }

    /// Moves a frozen clock forward (or shifts a system clock).
    pub fn advance(&self, ms: i64) {
        self.clock.advance(Duration::milliseconds(ms));
    }

    /// Sets the clock skew.
    pub fn set_clock_offset(&self, ms: i64) {
        self.clock.set_offset(Duration::milliseconds(ms));
    }

    /// Generic fault rates.
    pub fn set_faults(&self, cfg: FaultConfig) {
        self.faults.set(cfg);
    }

    /// HubSpot-specific fault rates.
    pub fn set_quirks(&self, q: Quirks) {
        self.lock().quirks = q;
    }

    /// Replaces the rate limits (counters kept).
    pub fn set_rate_limits(&self, cfg: RateLimitConfig) {
        self.lock().limiter.config = cfg;
    }

    /// A merge made in the UI (same effects as the API merge).
    pub fn merge(&self, object: ObjectType, primary: u64, merged: u64) -> ApiResult<Record> {
        let now = self.now_ms();
        self.lock().store.merge(object, primary, merged, now)
    }

    /// Archives a record as a human would.
    pub fn archive(&self, object: ObjectType, id: u64) -> ApiResult<()> {
        let now = self.now_ms();
        self.lock().store.archive(object, id, now, Source::External)
    }

    /// Restores a record from the recycle bin.
    pub fn restore(&self, object: ObjectType, id: u64) -> ApiResult<Record> {
        let now = self.now_ms();
        self.lock().store.restore(object, id, now)
    }

    /// The custom properties, as a schema document.
    pub fn schema(&self) -> Schema {
        self.lock().store.catalog.custom()
    }

    /// Replaces every custom property (built-in ones stay); a clash is a 400.
    pub fn set_schema(&self, schema: &Schema) -> ApiResult<Schema> {
        let catalog = schema.catalog().map_err(|(object, name, why)| {
            ApiError::validation(format!("property {object:?}.{name} is {why}"))
        })?;
        self.lock().store.catalog = catalog;
        Ok(self.schema())
    }

    /// Adds or replaces one custom property (an admin creating or editing it in HubSpot).
    pub fn put_property(&self, def: PropertyDef) -> ApiResult<()> {
        let name = def.name.clone();
        self.lock()
            .store
            .catalog
            .put(def)
            .map_err(|why| ApiError::validation(format!("property {name} is {why} and cannot be replaced")))
    }

    /// Deletes one custom property (stored values stop being readable, writes are refused).
    pub fn remove_property(&self, object: ObjectType, name: &str) -> ApiResult<()> {
        if self.lock().store.catalog.remove(object, name) {
            return Ok(());
        }
        Err(ApiError::not_found(name))
    }

    /// The request log.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.log.entries()
    }

    /// Ground truth: every record of a type, archived included, in id order.
    pub fn records(&self, object: ObjectType) -> Vec<Record> {
        self.lock().store.all(object).cloned().collect()
    }

    /// Webhook events not yet delivered.
    pub fn pending_webhooks(&self) -> Vec<WebhookEvent> {
        self.lock().store.outbox.pending().to_vec()
    }

    /// Drains pending events into signed batches (≤ 100 events) addressed to `uri`.
    pub fn take_webhook_batches(&self, uri: &str) -> Vec<SignedBatch> {
        let now = self.now_ms();
        self.lock().store.outbox.take_batches(&self.config.client_secret, uri, now)
    }

    /// POSTs every pending batch to `url`; failed batches are re-queued with `attemptNumber` + 1.
    /// Returns (delivered, failed) batch counts.
    pub async fn deliver_webhooks(&self, url: &str) -> (usize, usize) {
        let client = reqwest::Client::new();
        let (mut ok, mut failed) = (0, 0);
        for batch in self.take_webhook_batches(url) {
            if post_batch(&client, &batch).await {
                ok += 1;
            } else {
                failed += 1;
                self.lock().store.outbox.requeue(batch);
            }
        }
        (ok, failed)
    }
}

#[derive(Deserialize)]
struct SeedBody {
    object: ObjectType,
    records: Vec<Map<String, Value>>,
}

#[derive(Deserialize)]
struct EditBody {
    object: ObjectType,
    id: u64,
    properties: Map<String, Value>,
}

#[derive(Deserialize)]
struct TouchBody {
    object: ObjectType,
    count: usize,
}

#[derive(Deserialize)]
struct LagBody {
    lag_ms: i64,
    #[serde(default)]
    jitter_ms: i64,
}

#[derive(Deserialize)]
struct ClockBody {
    #[serde(default)]
    advance_ms: Option<i64>,
    #[serde(default)]
    offset_ms: Option<i64>,
}

#[derive(Deserialize)]
struct MergeBody {
    object: ObjectType,
    primary: u64,
    merged: u64,
}

#[derive(Deserialize)]
struct IdBody {
    object: ObjectType,
    id: u64,
}

#[derive(Deserialize)]
struct ScopesBody {
    token: String,
    scopes: Vec<String>,
}

#[derive(Deserialize)]
struct DeliverBody {
    url: String,
}

fn object_param(q: &HashMap<String, String>) -> ApiResult<ObjectType> {
    q.get("object")
        .and_then(|o| ObjectType::parse(o))
        .ok_or_else(|| ApiError::validation("object=contacts|companies is required"))
}

fn schema_routes() -> Router<SimState> {
    Router::new()
        .route(
            "/schema",
            get(|State(s): State<SimState>| async move { Json(s.schema()) }).put(
                |State(s): State<SimState>, Json(b): Json<Schema>| async move { s.set_schema(&b).map(Json) },
            ),
        )
        .route(
            "/schema/properties",
            post(|State(s): State<SimState>, Json(b): Json<PropertyDef>| async move {
                s.put_property(b).map(|()| Json(s.schema()))
            }),
        )
        .route(
            "/schema/properties/{object}/{name}",
            axum::routing::delete(
                |State(s): State<SimState>, Path((object, name)): Path<(String, String)>| async move {
                    let object = ObjectType::parse(&object)
                        .ok_or_else(|| ApiError::validation("object must be contacts or companies"))?;
                    s.remove_property(object, &name).map(|()| Json(s.schema()))
                },
            ),
        )
}

/// The control routes.
pub fn routes() -> Router<SimState> {
    Router::new()
        .merge(schema_routes())
        .route(
            "/scopes",
            post(|State(s): State<SimState>, Json(b): Json<ScopesBody>| async move {
                s.set_scopes(&b.token, b.scopes);
                Json(json!({ "scopes": s.scopes_of(&b.token) }))
            }),
        )
        .route(
            "/seed",
            post(|State(s): State<SimState>, Json(b): Json<SeedBody>| async move {
                s.seed(b.object, &b.records).map(|ids| Json(json!({ "ids": ids })))
            }),
        )
        .route(
            "/edit",
            post(|State(s): State<SimState>, Json(b): Json<EditBody>| async move {
                s.external_edit(b.object, b.id, &b.properties).map(|r| Json(json!(r)))
            }),
        )
        .route(
            "/bulk-touch",
            post(|State(s): State<SimState>, Json(b): Json<TouchBody>| async move {
                let (ts, ids) = s.bulk_touch(b.object, b.count);
                Json(json!({ "timestamp_ms": ts, "ids": ids }))
            }),
        )
        .route(
            "/search-lag",
            post(|State(s): State<SimState>, Json(b): Json<LagBody>| async move {
                s.set_search_lag(b.lag_ms, b.jitter_ms);
                Json(json!(s.behaviour()))
            }),
        )
        .route(
            "/behaviour",
            get(|State(s): State<SimState>| async move { Json(s.behaviour()) }).post(
                |State(s): State<SimState>, Json(b): Json<Behaviour>| async move {
                    s.set_behaviour(b);
                    Json(s.behaviour())
                },
            ),
        )
        .route(
            "/clock",
            post(|State(s): State<SimState>, Json(b): Json<ClockBody>| async move {
                if let Some(ms) = b.offset_ms {
                    s.set_clock_offset(ms);
                }
                if let Some(ms) = b.advance_ms {
                    s.advance(ms);
                }
                Json(json!({ "now_ms": s.now_ms() }))
            }),
        )
        .route(
            "/faults",
            post(|State(s): State<SimState>, Json(b): Json<FaultConfig>| async move {
                s.set_faults(b);
                Json(json!(s.faults.config()))
            }),
        )
        .route(
            "/quirks",
            post(|State(s): State<SimState>, Json(b): Json<Quirks>| async move {
                s.set_quirks(b.clone());
                Json(json!(b))
            }),
        )
        .route(
            "/rate-limits",
            post(|State(s): State<SimState>, Json(b): Json<RateLimitConfig>| async move {
                s.set_rate_limits(b.clone());
                Json(json!(b))
            }),
        )
        .route(
            "/merge",
            post(|State(s): State<SimState>, Json(b): Json<MergeBody>| async move {
                s.merge(b.object, b.primary, b.merged).map(|r| Json(json!(r)))
            }),
        )
        .route(
            "/archive",
            post(|State(s): State<SimState>, Json(b): Json<IdBody>| async move {
                s.archive(b.object, b.id).map(|()| Json(json!({ "archived": b.id })))
            }),
        )
        .route(
            "/restore",
            post(|State(s): State<SimState>, Json(b): Json<IdBody>| async move {
                s.restore(b.object, b.id).map(|r| Json(json!(r)))
            }),
        )
        .route(
            "/requests",
            get(|State(s): State<SimState>| async move { Json(json!(s.requests())) }).delete(
                |State(s): State<SimState>| async move {
                    s.log.clear();
                    Json(json!({ "cleared": true }))
                },
            ),
        )
        .route(
            "/records",
            get(|State(s): State<SimState>, Query(q): Query<HashMap<String, String>>| async move {
                object_param(&q).map(|o| Json(json!(s.records(o))))
            }),
        )
        .route("/webhooks", get(|State(s): State<SimState>| async move { Json(json!(s.pending_webhooks())) }))
        .route(
            "/webhooks/deliver",
            post(|State(s): State<SimState>, Json(b): Json<DeliverBody>| async move {
                let (delivered, failed) = s.deliver_webhooks(&b.url).await;
                Json(json!({ "delivered": delivered, "failed": failed }))
            }),
        )
}
