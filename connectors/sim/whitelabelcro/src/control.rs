//! The test-control operations as Rust methods on [`SimState`] (the `/_sim/` routes call these):
//! seeding, "UI edits" with the real platform's side-effects, same-second bursts, faults, clock,
//! rate-limit config, keys, and ground-truth reads. These bypass auth, limits and the fault gate.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sim_core::{FaultConfig, LoggedRequest};

use crate::actions::{DEFAULT_CLIENT_STATUS, LEAD_NEW, client_patch};
use crate::auth::ApiKeyConfig;
use crate::delivery::WebhookFaults;
use crate::error::ApiError;
use crate::model::{Attempt, Delivery, EVENT_TYPES, Event, Source, Subscription, whole_second};
use crate::ratelimit::RateLimitConfig;
use crate::records::NewClient;
use crate::state::SimState;

/// The `metadata.user_id` of UI edits that name no user.
pub const DEFAULT_UI_USER: i64 = 8;

/// Why a control operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ControlError {
    /// No such record.
    #[error("not found: {0}")]
    NotFound(String),
    /// Bad input.
    #[error("invalid: {0}")]
    Invalid(String),
}

impl From<ApiError> for ControlError {
    fn from(e: ApiError) -> Self {
        if e.status == http::StatusCode::NOT_FOUND {
            ControlError::NotFound(e.message)
        } else {
            ControlError::Invalid(format!("{}: {}", e.code, e.message))
        }
    }
}

/// A record to seed. `status` defaults to "Lead - New" for leads, "Active Client" for clients.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRecord {
    /// Required.
    pub first_name: String,
    /// Required.
    pub last_name: String,
    /// Required.
    pub email: String,
    /// Optional fields.
    #[serde(default)]
    pub phone: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// State.
    #[serde(default)]
    pub state: Option<String>,
    /// Zip.
    #[serde(default)]
    pub zip: Option<String>,
    /// Status name.
    #[serde(default)]
    pub status: Option<String>,
    /// External id.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Assigned employee.
    #[serde(default)]
    pub employee_id: Option<i64>,
    /// Referring affiliate.
    #[serde(default)]
    pub affiliate_id: Option<i64>,
    /// Company (default: the config's).
    #[serde(default)]
    pub company_id: Option<i64>,
}

impl SimState {
    fn company(&self, c: Option<i64>) -> i64 {
        c.unwrap_or_else(|| self.lock().default_company)
    }

    /// Seeds one client or lead at `at` (default: now). With `emit_event` it emits
    /// `lead.created`/`client.created` (source `system`), otherwise nothing.
    pub fn seed_at(
        &self,
        r: SeedRecord,
        lead: bool,
        emit_event: bool,
        at: Option<DateTime<Utc>>,
    ) -> Result<i64, ControlError> {
        let company = self.company(r.company_id);
        let at = at.unwrap_or_else(|| self.now());
        let mut inner = self.lock();
        let default = if lead { LEAD_NEW } else { DEFAULT_CLIENT_STATUS };
        let name = r.status.unwrap_or_else(|| default.to_string());
        let status_id = inner
            .store
            .status_by_name(&name)
            .map(|s| s.status_id)
            .ok_or_else(|| ControlError::Invalid("unknown status".into()))?;
        let new = NewClient {
            first_name: r.first_name,
            last_name: r.last_name,
            email: r.email,
            phone: r.phone,
            city: r.city,
            state: r.state,
            zip: r.zip,
            package_keyword: None,
            employee_id: r.employee_id,
            affiliate_id: r.affiliate_id,
            external_id: r.external_id,
            status_id,
        };
        let kind = if lead { "lead.created" } else { "client.created" };
        let event = emit_event.then_some((kind, Source::System));
        Ok(inner.store.create_client(company, new, event, at)?.0)
    }

    /// Seeds a client (`lead = false`) or lead without an event.
    pub fn seed(&self, r: SeedRecord, lead: bool) -> Result<i64, ControlError> {
        self.seed_at(r, lead, false, None)
    }

    /// A human edits fields in the web UI: the record's `updated_utc` moves, and no event is
    /// emitted (the platform has no event type for it). `fields` uses the PATCH body names.
    pub fn ui_edit(&self, client_id: i64, fields: &Map<String, Value>) -> Result<(), ControlError> {
        let p = client_patch(fields)?;
        let now = self.now();
        let mut inner = self.lock();
        let company = inner.store.clients.get(&client_id).map(|c| c.company_id);
        let company = company.ok_or_else(|| ControlError::NotFound("client".into()))?;
        inner.store.update_client(company, client_id, p, now)?;
        Ok(())
    }

    /// A human changes a status in the web UI: emits `client.status_changed` with
    /// `metadata.source = "web_portal"`. Returns the event id (`None` if the status did not change).
    pub fn ui_status(
        &self,
        client_id: i64,
        status: &str,
        user_id: Option<i64>,
    ) -> Result<Option<i64>, ControlError> {
        let now = self.now();
        let mut inner = self.lock();
        let company = inner.store.clients.get(&client_id).map(|c| c.company_id);
        let company = company.ok_or_else(|| ControlError::NotFound("client".into()))?;
        let sid = inner.store.status_by_name(status).map(|s| s.status_id);
        let sid = sid.ok_or_else(|| ControlError::Invalid("unknown status".into()))?;
        let before = inner.store.events.len();
        let src = Source::WebPortal(user_id.unwrap_or(DEFAULT_UI_USER));
        inner.store.change_status(company, client_id, sid, src, now)?;
        Ok(inner.store.events.get(before).map(|e| e.id))
    }

    /// Emits any v1 event as the platform would (e.g. `invoice.created` from billing).
    pub fn inject_event(
        &self,
        kind: &str,
        payload: Value,
        company: Option<i64>,
    ) -> Result<Event, ControlError> {
        if !EVENT_TYPES.contains(&kind) {
            return Err(ControlError::Invalid("unknown event type".into()));
        }
        let company = self.company(company);
        let now = self.now();
        Ok(self.lock().store.emit(company, kind, payload, Source::System, now))
    }

    /// Creates `count` leads whose `lead.created` events all share one `createdUtc` second (a tie
    /// storm, even on a running clock). Returns the event ids.
    pub fn burst(&self, count: usize, company: Option<i64>) -> Result<Vec<i64>, ControlError> {
        let at = whole_second(self.now());
        let first = self.lock().store.next_event_id;
        for i in 0..count {
            let r = SeedRecord {
                first_name: "Burst".into(),
                last_name: format!("Lead{i}"),
                email: format!("burst{first}-{i}@example.test"),
                company_id: company,
                ..SeedRecord::default()
            };
            self.seed_at(r, true, true, Some(at))?;
        }
        let inner = self.lock();
        Ok(inner.store.events.iter().filter(|e| e.id >= first).map(|e| e.id).collect())
    }

    /// Sets injected HTTP faults (429/503/500 rates, latency, maintenance).
    pub fn set_faults(&self, cfg: FaultConfig) {
        self.faults.set(cfg);
    }

    /// Turns the 503 maintenance switch on or off.
    pub fn set_maintenance(&self, on: bool) {
        self.faults.set(FaultConfig { maintenance: on, ..self.faults.config() });
    }

    /// Sets the webhook faults (duplicates, reordering).
    pub fn set_webhook_faults(&self, f: WebhookFaults) {
        self.lock().hook_faults = f;
    }

    /// Moves a frozen clock forward (or adds to a running clock's offset).
    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    /// Sets the clock skew.
    pub fn set_clock_offset(&self, d: Duration) {
        self.clock.set_offset(d);
    }

    /// Replaces the rate limits (and forgets open windows).
    pub fn set_rate_limits(&self, cfg: RateLimitConfig) {
        self.lock().limiter.set_config(cfg);
    }

    /// Scales the rate-limit window (1.0 = one minute).
    pub fn set_window_scale(&self, scale: f64) {
        let mut inner = self.lock();
        let cfg = RateLimitConfig { window_scale: scale, ..inner.limiter.config.clone() };
        inner.limiter.set_config(cfg);
    }

    /// The current rate-limit config.
    pub fn rate_limits(&self) -> RateLimitConfig {
        self.lock().limiter.config.clone()
    }

    /// Accepts another key. False when malformed.
    pub fn add_key(&self, k: &ApiKeyConfig) -> bool {
        self.lock().keys.add(k)
    }

    /// Revokes a key (401 from now on). False when unknown.
    pub fn revoke_key(&self, key: &str) -> bool {
        self.lock().keys.revoke(key)
    }

    /// The request log.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.log.entries()
    }

    /// Ground truth: every client/lead (with `is_lead`, `status_name`), note and employee.
    pub fn records(&self) -> Value {
        let inner = self.lock();
        let s = &inner.store;
        let clients: Vec<Value> = s
            .clients
            .values()
            .map(|c| {
                let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
                v["status_name"] = json!(s.status_name(c));
                v["is_lead"] = json!(s.is_lead(c));
                v
            })
            .collect();
        json!({
            "clients": clients,
            "notes": s.notes.values().collect::<Vec<_>>(),
            "employees": s.employees.values().collect::<Vec<_>>(),
        })
    }

    /// Ground truth: every stored event, in id order.
    pub fn events(&self) -> Vec<Event> {
        self.lock().store.events.clone()
    }

    /// Ground truth: deliveries and the attempt log.
    pub fn deliveries(&self) -> (Vec<Delivery>, Vec<Attempt>) {
        let inner = self.lock();
        (inner.store.deliveries.values().cloned().collect(), inner.store.attempts.clone())
    }

    /// Ground truth: subscriptions (secrets omitted).
    pub fn subscriptions(&self) -> Vec<Subscription> {
        self.lock().store.subscriptions.values().cloned().collect()
    }
}
