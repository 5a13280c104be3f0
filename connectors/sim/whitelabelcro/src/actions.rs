//! The 9 actions (spec §5): create/update lead and client, status updates by name or id, Add Client
//! Note, create/update affiliate. Scope `integrations:write`, write bucket. Paths for notes and
//! affiliates are the spec's SUGGESTIONs.

use axum::Router;
use axum::extract::Path;
use axum::response::Response;
use axum::routing::{patch, post};
use bytes::Bytes;
use http::StatusCode;
use serde_json::json;

use crate::auth::Scope;
use crate::body::{Obj, opt_f64, opt_int, opt_str, patch_int, patch_required_str, patch_str, req_str};
use crate::call::{Call, Reply, json_object};
use crate::error::ApiError;
use crate::model::{Source, Store, ts};
use crate::ratelimit::Bucket;
use crate::records::{AffiliateFields, ClientPatch, NewClient, NewNote};
use crate::state::SimState;

/// Status of a new lead (spec §5 fact).
pub const LEAD_NEW: &str = "Lead - New";
/// Status of a new client when the body names none (simulator choice).
pub const DEFAULT_CLIENT_STATUS: &str = "Active Client";

/// The action routes.
pub fn routes() -> Router<SimState> {
    Router::new()
        .route("/api/v1/integrations/leads", post(create_lead))
        .route("/api/v1/integrations/leads/{client_id}", patch(update_record))
        .route("/api/v1/integrations/leads/{client_id}/status", patch(lead_status))
        .route("/api/v1/integrations/clients", post(create_client))
        .route("/api/v1/integrations/clients/{client_id}", patch(update_record))
        .route("/api/v1/integrations/clients/{client_id}/status", patch(client_status))
        .route("/api/v1/integrations/clients/{client_id}/notes", post(add_note))
        .route("/api/v1/integrations/affiliates", post(create_affiliate))
        .route("/api/v1/integrations/affiliates/{employee_id}", patch(update_affiliate))
}

fn path_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::invalid("path id must be an integer"))
}

fn new_client(b: &Obj, status_id: i64) -> Result<NewClient, ApiError> {
    Ok(NewClient {
        first_name: req_str(b, "first_name")?,
        last_name: req_str(b, "last_name")?,
        email: req_str(b, "email")?,
        phone: opt_str(b, "phone")?,
        city: opt_str(b, "city")?,
        state: opt_str(b, "state")?,
        zip: opt_str(b, "zip")?,
        package_keyword: opt_str(b, "package_keyword")?,
        employee_id: opt_int(b, "employee_id")?,
        affiliate_id: opt_int(b, "affiliate_id")?,
        external_id: opt_str(b, "external_id")?,
        status_id,
    })
}

fn created_reply(store: &Store, company: i64, id: i64, created: bool) -> Result<Reply, ApiError> {
    let c = store.client(company, id)?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(Reply::with(
        status,
        json!({"client_id": id, "status": store.status_name(c), "created_utc": ts(c.created_utc)}),
    ))
}

/// Create Lead: always starts in "Lead - New"; `external_id` replay → 200, no event.
async fn create_lead(call: Call, body: Bytes) -> Response {
    call.run(Scope::IntegrationsWrite, Bucket::Write, |ctx, inner| {
        let b = json_object(&body)?;
        let status = inner.store.status_by_name(LEAD_NEW).map(|s| s.status_id).unwrap_or(1);
        let new = new_client(&b, status)?;
        let company = ctx.who.company_id;
        let (id, created) =
            inner.store.create_client(company, new, Some(("lead.created", Source::Api)), ctx.now)?;
        created_reply(&inner.store, company, id, created)
    })
}

/// Create Client: optional `status` by name (unknown → 422), default "Active Client".
async fn create_client(call: Call, body: Bytes) -> Response {
    call.run(Scope::IntegrationsWrite, Bucket::Write, |ctx, inner| {
        let b = json_object(&body)?;
        let name = opt_str(&b, "status")?.unwrap_or_else(|| DEFAULT_CLIENT_STATUS.to_string());
        let new = new_client(&b, 0)?;
        let status_id = inner
            .store
            .status_by_name(&name)
            .map(|s| s.status_id)
            .ok_or_else(|| ApiError::validation("status", "unknown status"))?;
        let company = ctx.who.company_id;
        let new = NewClient { status_id, ..new };
        let (id, created) =
            inner.store.create_client(company, new, Some(("client.created", Source::Api)), ctx.now)?;
        created_reply(&inner.store, company, id, created)
    })
}

/// Update Lead / Update Client (same record space): absent = unchanged, `null` = clear, `email`
/// cannot be cleared, empty body → 400. No event. Works on leads and clients alike (the spec does
/// not restrict Update Lead to lead records).
async fn update_record(call: Call, Path(raw): Path<String>, body: Bytes) -> Response {
    call.run(Scope::IntegrationsWrite, Bucket::Write, |ctx, inner| {
        let id = path_id(&raw)?;
        let b = json_object(&body)?;
        let p = client_patch(&b)?;
        let before = inner.store.clients.get(&id).map(|c| json!(c));
        let at = inner.store.update_client(ctx.who.company_id, id, p, ctx.now)?;
        let after = inner.store.clients.get(&id).map(|c| json!(c));
        let changed = match (&before, &after) {
            (Some(b), Some(a)) => sim_core::log::changed(b, a, &["updated_utc"]),
            _ => true,
        };
        Ok(Reply::ok(json!({"success": true, "updated_utc": ts(at), "client_id": id}))
            .written(changed, b.keys()))
    })
}

/// Reads a client PATCH body; no known field → 400.
pub fn client_patch(b: &Obj) -> Result<ClientPatch, ApiError> {
    let p = ClientPatch {
        first_name: patch_required_str(b, "first_name")?,
        last_name: patch_required_str(b, "last_name")?,
        email: patch_required_str(b, "email")?,
        phone: patch_str(b, "phone")?,
        city: patch_str(b, "city")?,
        state: patch_str(b, "state")?,
        zip: patch_str(b, "zip")?,
        employee_id: patch_int(b, "employee_id")?,
        affiliate_id: patch_int(b, "affiliate_id")?,
        external_id: patch_str(b, "external_id")?,
    };
    let empty = [
        p.first_name.is_none() && p.last_name.is_none() && p.email.is_none(),
        p.phone.is_none() && p.city.is_none() && p.state.is_none() && p.zip.is_none(),
        p.employee_id.is_none() && p.affiliate_id.is_none() && p.external_id.is_none(),
    ];
    if empty.iter().all(|e| *e) {
        return Err(ApiError::invalid("empty update: no known field given"));
    }
    Ok(p)
}

/// Resolves `new_status_id` (wins) or `new_status` (name, case-insensitive); neither → 400.
fn target_status(store: &Store, b: &Obj) -> Result<(i64, bool), ApiError> {
    let by_id = opt_int(b, "new_status_id")?;
    let by_name = opt_str(b, "new_status")?;
    let s = match (by_id, by_name) {
        (Some(id), _) => store.status(id).ok_or_else(|| ApiError::validation("new_status_id", "unknown"))?,
        (None, Some(n)) => {
            store.status_by_name(&n).ok_or_else(|| ApiError::validation("new_status", "unknown"))?
        }
        (None, None) => return Err(ApiError::invalid("'new_status' or 'new_status_id' is required")),
    };
    Ok((s.status_id, s.is_lead()))
}

fn status_change(call: Call, raw: String, body: Bytes, lead_only: bool) -> Response {
    call.run(Scope::IntegrationsWrite, Bucket::Write, |ctx, inner| {
        let id = path_id(&raw)?;
        let b = json_object(&body)?;
        let (status_id, is_lead) = target_status(&inner.store, &b)?;
        if lead_only && !is_lead {
            return Err(ApiError::validation("new_status", "Update Lead Status needs a Lead status"));
        }
        let company = ctx.who.company_id;
        if let Some(e) = opt_int(&b, "changed_by_employee_id")?
            && inner.store.employees.get(&e).is_none_or(|x| x.company_id != company)
        {
            return Err(ApiError::validation("changed_by_employee_id", "unknown employee"));
        }
        opt_str(&b, "status_note")?;
        let (prev, next, at) = inner.store.change_status(company, id, status_id, Source::Api, ctx.now)?;
        let changed = prev != next;
        Ok(Reply::ok(json!({"previous_status": prev, "new_status": next, "updated_utc": ts(at)}))
            .written(changed, b.keys()))
    })
}

/// Update Lead Status: the target must be a Lead status (else 422).
async fn lead_status(call: Call, Path(raw): Path<String>, body: Bytes) -> Response {
    status_change(call, raw, body, true)
}

/// Update Client Status: any status; moving a lead to a client status is a conversion and emits
/// only `client.status_changed` (no `client.created`; spec §5 SUGGESTION).
async fn client_status(call: Call, Path(raw): Path<String>, body: Bytes) -> Response {
    status_change(call, raw, body, false)
}

/// Add Client Note → 201 `{client_note_id, created_utc}`; unknown client → 404. No event.
async fn add_note(call: Call, Path(raw): Path<String>, body: Bytes) -> Response {
    call.run(Scope::IntegrationsWrite, Bucket::Write, |ctx, inner| {
        let id = path_id(&raw)?;
        let b = json_object(&body)?;
        let n = NewNote {
            text: req_str(&b, "text")?,
            note_type: opt_str(&b, "note_type")?,
            visibility: opt_str(&b, "visibility")?,
            external_id: opt_str(&b, "external_id")?,
        };
        let (note_id, at) = inner.store.add_note(ctx.who.company_id, id, n, ctx.now)?;
        Ok(Reply::with(StatusCode::CREATED, json!({"client_note_id": note_id, "created_utc": ts(at)})))
    })
}

fn affiliate_fields(b: &Obj) -> Result<AffiliateFields, ApiError> {
    Ok(AffiliateFields {
        first_name: opt_str(b, "first_name")?,
        last_name: opt_str(b, "last_name")?,
        email: opt_str(b, "email")?,
        phone: opt_str(b, "phone")?,
        affiliate_code: opt_str(b, "affiliate_code")?,
        commission_rate: opt_f64(b, "commission_rate")?,
        external_id: opt_str(b, "external_id")?,
    })
}

/// Create Affiliate → 201 `{employee_id, affiliate_code, created_utc}` + `affiliate.created`.
async fn create_affiliate(call: Call, body: Bytes) -> Response {
    call.run(Scope::IntegrationsWrite, Bucket::Write, |ctx, inner| {
        let b = json_object(&body)?;
        for f in ["email", "first_name", "last_name"] {
            req_str(&b, f)?;
        }
        let f = affiliate_fields(&b)?;
        let (id, code, created, at) =
            inner.store.create_affiliate(ctx.who.company_id, f, Source::Api, ctx.now);
        let status = if created { StatusCode::CREATED } else { StatusCode::OK };
        Ok(Reply::with(status, json!({"employee_id": id, "affiliate_code": code, "created_utc": ts(at)})))
    })
}

/// Update Affiliate → 200 `{success, updated_utc, employee_id}`; empty body → 400. No event.
async fn update_affiliate(call: Call, Path(raw): Path<String>, body: Bytes) -> Response {
    call.run(Scope::IntegrationsWrite, Bucket::Write, |ctx, inner| {
        let id = path_id(&raw)?;
        let b = json_object(&body)?;
        let f = affiliate_fields(&b)?;
        let any = f.first_name.is_some()
            || f.last_name.is_some()
            || f.email.is_some()
            || f.phone.is_some()
            || f.affiliate_code.is_some()
            || f.commission_rate.is_some()
            || f.external_id.is_some();
        if !any {
            return Err(ApiError::invalid("empty update: no known field given"));
        }
        let at = inner.store.update_affiliate(ctx.who.company_id, id, f, ctx.now)?;
        Ok(Reply::ok(json!({"success": true, "updated_utc": ts(at), "employee_id": id})))
    })
}
