//! The simulator's stored data: clients/leads, notes, employees/affiliates, statuses, events,
//! webhook subscriptions and deliveries, plus the id counters. Pure data; operations live in
//! `records`, `events` and `delivery`.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};

/// The 10 approved v1 event types (spec §2.2).
pub const EVENT_TYPES: [&str; 10] = [
    "invoice.created",
    "invoice.status_changed",
    "payment.succeeded",
    "payment.failed",
    "client.created",
    "client.status_changed",
    "lead.created",
    "affiliate.created",
    "document.uploaded",
    "agreement.signed",
];

/// `YYYY-MM-DDTHH:MM:SSZ` (spec §2.1/§9 suggestion: whole seconds everywhere).
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Truncates to the whole second, as the platform stamps `createdUtc`.
pub fn whole_second(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// A client status (spec §9 suggestion for the seed list).
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Numeric id.
    pub status_id: i64,
    /// Display name.
    pub status_name: String,
}

impl Status {
    /// A lead is a client whose status name matches `'Lead%'` (spec §6, §9).
    pub fn is_lead(&self) -> bool {
        self.status_name.starts_with("Lead")
    }
}

/// An employee record; affiliates are employees with `is_approved_affiliate` (spec §9).
#[derive(Debug, Clone, Serialize)]
pub struct Employee {
    /// Id in the employee space (affiliates included).
    pub employee_id: i64,
    /// Owning company.
    pub company_id: i64,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Email, if any.
    pub email: Option<String>,
    /// Phone, if any.
    pub phone: Option<String>,
    /// Whether this employee is an approved affiliate.
    pub is_approved_affiliate: bool,
    /// Affiliate code (affiliates only).
    pub affiliate_code: Option<String>,
    /// Commission rate (affiliates only).
    pub commission_rate: Option<f64>,
    /// Idempotency key in the affiliate namespace.
    pub external_id: Option<String>,
    /// Created.
    pub created_utc: DateTime<Utc>,
    /// Last modified.
    pub updated_utc: DateTime<Utc>,
}

impl Employee {
    /// `first last`.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// A client or lead (one entity, one `client_id` space; spec §9).
#[derive(Debug, Clone, Serialize)]
pub struct Client {
    /// Id shared by leads and clients.
    pub client_id: i64,
    /// Owning company.
    pub company_id: i64,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Email (required, cannot be cleared).
    pub email: String,
    /// Optional fields.
    pub phone: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State.
    pub state: Option<String>,
    /// Zip.
    pub zip: Option<String>,
    /// Package keyword (Create Lead only).
    pub package_keyword: Option<String>,
    /// Assigned employee.
    pub employee_id: Option<i64>,
    /// Referring affiliate (an employee id).
    pub affiliate_id: Option<i64>,
    /// Cross-system key, unique per company among clients and leads.
    pub external_id: Option<String>,
    /// Current status.
    pub status_id: i64,
    /// Created (whole seconds).
    pub created_utc: DateTime<Utc>,
    /// Last modified (bumped by every edit, with or without an event).
    pub updated_utc: DateTime<Utc>,
}

impl Client {
    /// `first last`.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// A client note (Add Client Note, spec §5).
#[derive(Debug, Clone, Serialize)]
pub struct Note {
    /// Note id.
    pub client_note_id: i64,
    /// The client it is attached to.
    pub client_id: i64,
    /// Owning company.
    pub company_id: i64,
    /// Text.
    pub text: String,
    /// Optional type.
    pub note_type: Option<String>,
    /// Optional visibility.
    pub visibility: Option<String>,
    /// Optional external id (not deduplicated: the spec only makes record creates idempotent).
    pub external_id: Option<String>,
    /// Created.
    pub created_utc: DateTime<Utc>,
}

/// One stored event (append-only, spec §2.1).
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Strictly increasing per store; never assume no gaps.
    pub id: i64,
    /// One of [`EVENT_TYPES`].
    #[serde(rename = "type")]
    pub kind: String,
    /// Whole-second timestamp.
    #[serde(rename = "createdUtc", serialize_with = "ser_ts")]
    pub created_utc: DateTime<Utc>,
    /// Owning company.
    #[serde(rename = "companyId")]
    pub company_id: i64,
    /// Type-specific data.
    pub payload: Value,
    /// `{source, user_id}`.
    pub metadata: Value,
}

fn ser_ts<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&ts(*t))
}

impl Event {
    /// The wire envelope.
    pub fn envelope(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Who made a change, for `metadata` (spec §2.1 suggestion: `web_portal`, `api`, `system`, `test`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A human in the web UI (`user_id` set).
    WebPortal(i64),
    /// An Integration API call.
    Api,
    /// A seed or system job.
    System,
    /// `POST /events/test`.
    Test,
}

impl Source {
    /// The `metadata` object.
    pub fn metadata(self) -> Value {
        match self {
            Source::WebPortal(u) => json!({"source": "web_portal", "user_id": u}),
            Source::Api => json!({"source": "api", "user_id": null}),
            Source::System => json!({"source": "system", "user_id": null}),
            Source::Test => json!({"source": "test", "user_id": null}),
        }
    }
}

/// A webhook subscription (spec §4.1 suggestions).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Integer id.
    pub id: i64,
    /// Owning company.
    pub company_id: i64,
    /// Where deliveries go.
    pub target_url: String,
    /// Subscribed types (matched case-sensitively).
    pub event_types: Vec<String>,
    /// Disabled subscriptions receive nothing.
    pub is_active: bool,
    /// Optional description.
    pub description: Option<String>,
    /// `zapier|n8n|make` or none; managed subscriptions cannot be PATCHed (409).
    pub managed_by: Option<String>,
    /// Created.
    #[serde(serialize_with = "ser_ts")]
    pub created_utc: DateTime<Utc>,
    /// Signing secret; never serialized.
    #[serde(skip)]
    pub secret: String,
    /// Failed attempts in a row (circuit breaker).
    #[serde(skip)]
    pub failed_attempts_in_row: u32,
    /// Events that exhausted their retries in a row (circuit breaker).
    #[serde(skip)]
    pub exhausted_in_row: u32,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for `next_at`.
    Pending,
    /// A 2xx was received.
    Delivered,
    /// 1 + 10 attempts all failed.
    Exhausted,
    /// The subscription was disabled or deleted before it got through.
    Dropped,
}

/// One event queued for one subscription.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// Delivery id.
    pub id: i64,
    /// Subscription.
    pub subscription_id: i64,
    /// Event.
    pub event_id: i64,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_at: DateTime<Utc>,
    /// State.
    pub state: DeliveryState,
    /// The exact body sent on every attempt (the envelope).
    #[serde(skip)]
    pub body: Vec<u8>,
}

/// One logged delivery attempt (spec §4.2: status, body, elapsed time).
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// Delivery id.
    pub delivery_id: i64,
    /// Subscription id.
    pub subscription_id: i64,
    /// Event id.
    pub event_id: i64,
    /// 1-based attempt number (`X-Webhook-Attempt`).
    pub attempt: u32,
    /// When it was sent (simulator clock).
    pub at: DateTime<Utc>,
    /// Receiver's status, if it answered.
    pub status: Option<u16>,
    /// Transport error class, if it did not.
    pub error: Option<String>,
    /// Wall-clock time the receiver took.
    pub elapsed_ms: u64,
    /// True for an injected duplicate send.
    pub duplicate: bool,
}

/// Everything the simulator stores. Ids come from counters, so same seed/ops → same ids.
#[derive(Debug, Default)]
pub struct Store {
    /// Clients and leads by id.
    pub clients: BTreeMap<i64, Client>,
    /// Notes by id.
    pub notes: BTreeMap<i64, Note>,
    /// Employees and affiliates by id.
    pub employees: BTreeMap<i64, Employee>,
    /// Status list.
    pub statuses: Vec<Status>,
    /// Events in insertion (id) order.
    pub events: Vec<Event>,
    /// Subscriptions by id.
    pub subscriptions: BTreeMap<i64, Subscription>,
    /// Deliveries by id.
    pub deliveries: BTreeMap<i64, Delivery>,
    /// Attempt log.
    pub attempts: Vec<Attempt>,
    /// Next ids.
    pub next_client_id: i64,
    /// Next note id.
    pub next_note_id: i64,
    /// Next employee id.
    pub next_employee_id: i64,
    /// Next event id.
    pub next_event_id: i64,
    /// Next subscription id.
    pub next_subscription_id: i64,
    /// Next delivery id.
    pub next_delivery_id: i64,
}

impl Store {
    /// A store with the seed statuses (spec §9 suggestion) and three employees (one affiliate).
    pub fn seeded(company_id: i64, now: DateTime<Utc>) -> Self {
        let names = ["Lead - New", "Lead - Contacted", "Lead - Qualified", "Active Client", "On Hold"];
        let statuses = names
            .iter()
            .chain(["Cancelled", "Completed"].iter())
            .zip(1..)
            .map(|(n, id)| Status { status_id: id, status_name: (*n).to_string() })
            .collect();
        let mut s = Store {
            statuses,
            next_client_id: 901,
            next_note_id: 5001,
            next_employee_id: 1,
            next_event_id: 40001,
            next_subscription_id: 1,
            next_delivery_id: 1,
            ..Store::default()
        };
        for (first, last, aff) in [("Dana", "Reyes", false), ("Sam", "Okafor", false), ("Pat", "Lee", true)] {
            let id = s.next_employee_id;
            s.next_employee_id += 1;
            s.employees.insert(
                id,
                Employee {
                    employee_id: id,
                    company_id,
                    first_name: first.into(),
                    last_name: last.into(),
                    email: None,
                    phone: None,
                    is_approved_affiliate: aff,
                    affiliate_code: aff.then(|| format!("AFF{id}")),
                    commission_rate: None,
                    external_id: None,
                    created_utc: whole_second(now),
                    updated_utc: whole_second(now),
                },
            );
        }
        s
    }

    /// Status by id.
    pub fn status(&self, id: i64) -> Option<&Status> {
        self.statuses.iter().find(|s| s.status_id == id)
    }

    /// Status by name: exact after trimming, ignoring case (spec §9 suggestion).
    pub fn status_by_name(&self, name: &str) -> Option<&Status> {
        let n = name.trim();
        self.statuses.iter().find(|s| s.status_name.eq_ignore_ascii_case(n))
    }

    /// The status name of a client (empty if the id is dangling, which cannot happen).
    pub fn status_name(&self, c: &Client) -> String {
        self.status(c.status_id).map(|s| s.status_name.clone()).unwrap_or_default()
    }

    /// Whether a client is currently a lead.
    pub fn is_lead(&self, c: &Client) -> bool {
        self.status(c.status_id).is_some_and(Status::is_lead)
    }
}
