//! Business rules on stored records (spec §5, §9): creates with `external_id` replay, PATCH
//! semantics, status changes and the events each operation emits (creates and status changes only;
//! plain field updates and notes emit nothing).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::model::{Client, Employee, Note, Source, Store, ts, whole_second};

/// The fields of a new client or lead.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    /// Required.
    pub first_name: String,
    /// Required.
    pub last_name: String,
    /// Required.
    pub email: String,
    /// Optional fields.
    pub phone: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State.
    pub state: Option<String>,
    /// Zip.
    pub zip: Option<String>,
    /// Package keyword.
    pub package_keyword: Option<String>,
    /// Assigned employee.
    pub employee_id: Option<i64>,
    /// Referring affiliate.
    pub affiliate_id: Option<i64>,
    /// Idempotency / cross-system key.
    pub external_id: Option<String>,
    /// Initial status id.
    pub status_id: i64,
}

/// A PATCH: `None` = leave unchanged, `Some(None)` = clear.
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    /// First name (cannot be cleared).
    pub first_name: Option<String>,
    /// Last name (cannot be cleared).
    pub last_name: Option<String>,
    /// Email (cannot be cleared).
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<Option<String>>,
    /// City.
    pub city: Option<Option<String>>,
    /// State.
    pub state: Option<Option<String>>,
    /// Zip.
    pub zip: Option<Option<String>>,
    /// Assigned employee.
    pub employee_id: Option<Option<i64>>,
    /// Referring affiliate.
    pub affiliate_id: Option<Option<i64>>,
    /// External id.
    pub external_id: Option<Option<String>>,
}

/// The fields of a new note.
#[derive(Debug, Clone, Default)]
pub struct NewNote {
    /// Required text.
    pub text: String,
    /// Optional type.
    pub note_type: Option<String>,
    /// Optional visibility.
    pub visibility: Option<String>,
    /// Optional external id.
    pub external_id: Option<String>,
}

/// The fields of an affiliate create or update.
#[derive(Debug, Clone, Default)]
pub struct AffiliateFields {
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Affiliate code (generated when absent on create).
    pub affiliate_code: Option<String>,
    /// Commission rate.
    pub commission_rate: Option<f64>,
    /// External id (affiliate namespace).
    pub external_id: Option<String>,
}

/// The `*.created` payload of a client or lead.
pub fn created_payload(store: &Store, c: &Client) -> Value {
    json!({
        "client_id": c.client_id, "first_name": c.first_name, "last_name": c.last_name,
        "email": c.email, "phone": c.phone, "status": store.status_name(c),
        "created_date": ts(c.created_utc),
    })
}

impl Store {
    fn check_refs(
        &self,
        company: i64,
        employee: Option<i64>,
        affiliate: Option<i64>,
    ) -> Result<(), ApiError> {
        if let Some(e) = employee
            && self.employees.get(&e).is_none_or(|x| x.company_id != company)
        {
            return Err(ApiError::validation("employee_id", "unknown employee"));
        }
        if let Some(a) = affiliate
            && !self.employees.get(&a).is_some_and(|x| x.company_id == company && x.is_approved_affiliate)
        {
            return Err(ApiError::validation("affiliate_id", "unknown affiliate"));
        }
        Ok(())
    }

    /// A client/lead of `company` by `external_id`.
    pub fn client_by_external_id(&self, company: i64, ext: &str) -> Option<&Client> {
        self.clients.values().find(|c| c.company_id == company && c.external_id.as_deref() == Some(ext))
    }

    /// A client/lead of `company` by id (another company's record is "not found").
    pub fn client(&self, company: i64, id: i64) -> Result<&Client, ApiError> {
        self.clients.get(&id).filter(|c| c.company_id == company).ok_or_else(|| ApiError::not_found("client"))
    }

    /// Creates a client or lead. An existing `external_id` returns that record's id and
    /// `created = false` without touching it or emitting anything (spec §5 SUGGESTION).
    /// `event` is `Some((type, source))` to emit `lead.created`/`client.created`.
    pub fn create_client(
        &mut self,
        company: i64,
        new: NewClient,
        event: Option<(&str, Source)>,
        now: DateTime<Utc>,
    ) -> Result<(i64, bool), ApiError> {
        if let Some(ext) = new.external_id.as_deref()
            && let Some(existing) = self.client_by_external_id(company, ext)
        {
            return Ok((existing.client_id, false));
        }
        self.check_refs(company, new.employee_id, new.affiliate_id)?;
        if self.status(new.status_id).is_none() {
            return Err(ApiError::validation("status", "unknown status"));
        }
        let id = self.next_client_id;
        self.next_client_id += 1;
        let at = whole_second(now);
        let c = Client {
            client_id: id,
            company_id: company,
            first_name: new.first_name,
            last_name: new.last_name,
            email: new.email,
            phone: new.phone,
            city: new.city,
            state: new.state,
            zip: new.zip,
            package_keyword: new.package_keyword,
            employee_id: new.employee_id,
            affiliate_id: new.affiliate_id,
            external_id: new.external_id,
            status_id: new.status_id,
            created_utc: at,
            updated_utc: at,
        };
        let payload = created_payload(self, &c);
        self.clients.insert(id, c);
        if let Some((kind, source)) = event {
            self.emit(company, kind, payload, source, at);
        }
        Ok((id, true))
    }

    /// Applies a PATCH: bumps `updated_utc`, emits no event (no v1 type covers it).
    pub fn update_client(
        &mut self,
        company: i64,
        id: i64,
        p: ClientPatch,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, ApiError> {
        self.client(company, id)?;
        self.check_refs(company, p.employee_id.flatten(), p.affiliate_id.flatten())?;
        if let Some(Some(ext)) = &p.external_id
            && self.client_by_external_id(company, ext).is_some_and(|c| c.client_id != id)
        {
            return Err(ApiError::validation("external_id", "already used by another record"));
        }
        let at = whole_second(now);
        let c = self.clients.get_mut(&id).ok_or_else(|| ApiError::not_found("client"))?;
        if let Some(v) = p.first_name {
            c.first_name = v;
        }
        if let Some(v) = p.last_name {
            c.last_name = v;
        }
        if let Some(v) = p.email {
            c.email = v;
        }
        let opt = |slot: &mut Option<String>, v: Option<Option<String>>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        opt(&mut c.phone, p.phone);
        opt(&mut c.city, p.city);
        opt(&mut c.state, p.state);
        opt(&mut c.zip, p.zip);
        opt(&mut c.external_id, p.external_id);
        if let Some(v) = p.employee_id {
            c.employee_id = v;
        }
        if let Some(v) = p.affiliate_id {
            c.affiliate_id = v;
        }
        c.updated_utc = at;
        Ok(at)
    }

    /// Moves a record to `status_id`; emits `client.status_changed` (for leads too) when it
    /// actually changes. Returns (previous name, new name, updated time).
    pub fn change_status(
        &mut self,
        company: i64,
        id: i64,
        status_id: i64,
        source: Source,
        now: DateTime<Utc>,
    ) -> Result<(String, String, DateTime<Utc>), ApiError> {
        let c = self.client(company, id)?;
        let prev = self.status(c.status_id).cloned().ok_or_else(|| ApiError::not_found("status"))?;
        let next =
            self.status(status_id).cloned().ok_or_else(|| ApiError::validation("new_status", "unknown"))?;
        let at = whole_second(now);
        if let Some(c) = self.clients.get_mut(&id) {
            c.status_id = status_id;
            c.updated_utc = at;
        }
        if prev.status_id != next.status_id {
            let payload = json!({
                "client_id": id, "previous_status": prev.status_name, "new_status": next.status_name,
                "changed_date": ts(at),
                // simulator extension (spec §2.2 SUGGESTION): the ids as well as the names
                "previous_status_id": prev.status_id, "new_status_id": next.status_id,
            });
            self.emit(company, "client.status_changed", payload, source, at);
        }
        Ok((prev.status_name, next.status_name, at))
    }

    /// Adds a note (no event).
    pub fn add_note(
        &mut self,
        company: i64,
        client_id: i64,
        n: NewNote,
        now: DateTime<Utc>,
    ) -> Result<(i64, DateTime<Utc>), ApiError> {
        self.client(company, client_id)?;
        let id = self.next_note_id;
        self.next_note_id += 1;
        let at = whole_second(now);
        let note = Note {
            client_note_id: id,
            client_id,
            company_id: company,
            text: n.text,
            note_type: n.note_type,
            visibility: n.visibility,
            external_id: n.external_id,
            created_utc: at,
        };
        self.notes.insert(id, note);
        Ok((id, at))
    }

    /// Creates an approved affiliate and emits `affiliate.created`; an existing `external_id`
    /// (affiliate namespace) replays. Returns (employee id, affiliate code, created, time).
    pub fn create_affiliate(
        &mut self,
        company: i64,
        f: AffiliateFields,
        source: Source,
        now: DateTime<Utc>,
    ) -> (i64, String, bool, DateTime<Utc>) {
        if let Some(ext) = f.external_id.as_deref()
            && let Some(e) = self.employees.values().find(|e| {
                e.company_id == company && e.is_approved_affiliate && e.external_id.as_deref() == Some(ext)
            })
        {
            return (e.employee_id, e.affiliate_code.clone().unwrap_or_default(), false, e.created_utc);
        }
        let id = self.next_employee_id;
        self.next_employee_id += 1;
        let at = whole_second(now);
        let code = f.affiliate_code.unwrap_or_else(|| format!("AFF{id}"));
        let e = Employee {
            employee_id: id,
            company_id: company,
            first_name: f.first_name.unwrap_or_default(),
            last_name: f.last_name.unwrap_or_default(),
            email: f.email,
            phone: f.phone,
            is_approved_affiliate: true,
            affiliate_code: Some(code.clone()),
            commission_rate: f.commission_rate,
            external_id: f.external_id,
            created_utc: at,
            updated_utc: at,
        };
        let payload = json!({
            "employee_id": id, "full_name": e.full_name(), "email": e.email, "phone": e.phone,
            "is_approved_affiliate": true, "created_date": ts(at),
        });
        self.employees.insert(id, e);
        self.emit(company, "affiliate.created", payload, source, at);
        (id, code, true, at)
    }

    /// Updates an affiliate's given fields (no event).
    pub fn update_affiliate(
        &mut self,
        company: i64,
        id: i64,
        f: AffiliateFields,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, ApiError> {
        let at = whole_second(now);
        let e = self
            .employees
            .get_mut(&id)
            .filter(|e| e.company_id == company && e.is_approved_affiliate)
            .ok_or_else(|| ApiError::not_found("affiliate"))?;
        let set = |slot: &mut Option<String>, v: Option<String>| {
            if v.is_some() {
                *slot = v;
            }
        };
        if let Some(v) = f.first_name {
            e.first_name = v;
        }
        if let Some(v) = f.last_name {
            e.last_name = v;
        }
        set(&mut e.email, f.email);
        set(&mut e.phone, f.phone);
        set(&mut e.affiliate_code, f.affiliate_code);
        set(&mut e.external_id, f.external_id);
        if f.commission_rate.is_some() {
            e.commission_rate = f.commission_rate;
        }
        e.updated_utc = at;
        Ok(at)
    }
}
