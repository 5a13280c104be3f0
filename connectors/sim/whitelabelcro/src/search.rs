//! Find Client / Find Lead (spec §6) and the lookups. Scope `integrations:read`, read bucket.
//! Searches answer a JSON array of 0 or 1 records (SUGGESTION), exact match, AND of the criteria,
//! email case-insensitive, phone by digits (leading `+1` ignored), lowest `client_id` first.

use axum::Router;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use crate::auth::Scope;
use crate::call::{Call, Ctx, Reply};
use crate::error::ApiError;
use crate::model::{Client, Store, ts};
use crate::ratelimit::Bucket;
use crate::state::SimState;

/// The search and lookup routes (`/clients/find` is the §10 alias of `/clients/search`).
pub fn routes() -> Router<SimState> {
    Router::new()
        .route("/api/v1/integrations/clients/search", get(find_client))
        .route("/api/v1/integrations/clients/find", get(find_client))
        .route("/api/v1/integrations/leads/search", get(find_lead))
        .route("/api/v1/integrations/lookups/clients", get(lookup_clients))
        .route("/api/v1/integrations/lookups/employees", get(lookup_employees))
        .route("/api/v1/integrations/lookups/affiliates", get(lookup_affiliates))
        .route("/api/v1/integrations/lookups/client-statuses", get(lookup_statuses))
}

/// Digits only, without a leading US country code.
pub fn phone_digits(p: &str) -> String {
    let d: String = p.chars().filter(char::is_ascii_digit).collect();
    match d.strip_prefix('1') {
        Some(rest) if d.len() == 11 => rest.to_string(),
        _ => d,
    }
}

/// The search response object of one record (spec §6 field list).
pub fn search_row(store: &Store, c: &Client) -> Value {
    let name = |id: Option<i64>| id.and_then(|i| store.employees.get(&i)).map(|e| e.full_name());
    let status = store.status_name(c);
    json!({
        "client_id": c.client_id, "first_name": c.first_name, "last_name": c.last_name,
        "full_name": c.full_name(), "email": c.email, "phone": c.phone,
        "status": status, "status_id": c.status_id, "status_name": status,
        "employee_id": c.employee_id, "employee_name": name(c.employee_id),
        "affiliate_id": c.affiliate_id, "affiliate_name": name(c.affiliate_id),
        "created_utc": ts(c.created_utc),
    })
}

fn search(ctx: &Ctx, store: &Store, leads_only: bool) -> Result<Reply, ApiError> {
    ctx.only_params(&["email", "phone", "client_id", "external_id"])?;
    if ctx.query.is_empty() {
        return Err(ApiError::invalid("give at least one of email, phone, client_id, external_id"));
    }
    let client_id = match ctx.param("client_id") {
        Some(v) => Some(v.parse::<i64>().map_err(|_| ApiError::invalid("client_id must be an integer"))?),
        None => None,
    };
    let email = ctx.param("email");
    let phone = ctx.param("phone").map(phone_digits);
    let ext = ctx.param("external_id");
    let hit = store.clients.values().find(|c| {
        c.company_id == ctx.who.company_id
            && (!leads_only || store.is_lead(c))
            && client_id.is_none_or(|id| c.client_id == id)
            && email.is_none_or(|e| c.email.eq_ignore_ascii_case(e.trim()))
            && phone.as_ref().is_none_or(|p| c.phone.as_deref().is_some_and(|cp| phone_digits(cp) == *p))
            && ext.is_none_or(|x| c.external_id.as_deref() == Some(x))
    });
    Ok(Reply::ok(Value::Array(hit.map(|c| search_row(store, c)).into_iter().collect())))
}

async fn find_client(call: Call) -> Response {
    call.run(Scope::IntegrationsRead, Bucket::Read, |ctx, inner| search(ctx, &inner.store, false))
}

/// Find Lead: only records whose status name matches `'Lead%'`.
async fn find_lead(call: Call) -> Response {
    call.run(Scope::IntegrationsRead, Bucket::Read, |ctx, inner| search(ctx, &inner.store, true))
}

/// `/lookups/clients?q=`: case-insensitive substring of full name or email; no `q` lists all.
async fn lookup_clients(call: Call) -> Response {
    call.run(Scope::IntegrationsRead, Bucket::Read, |ctx, inner| {
        ctx.only_params(&["q"])?;
        let q = ctx.param("q").unwrap_or("").trim().to_lowercase();
        let rows: Vec<Value> = inner
            .store
            .clients
            .values()
            .filter(|c| c.company_id == ctx.who.company_id)
            .filter(|c| {
                q.is_empty()
                    || c.full_name().to_lowercase().contains(&q)
                    || c.email.to_lowercase().contains(&q)
            })
            .map(|c| json!({"client_id": c.client_id, "full_name": c.full_name(), "email": c.email}))
            .collect();
        Ok(Reply::ok(json!({"count": rows.len(), "clients": rows})))
    })
}

fn employees(ctx: &Ctx, store: &Store, affiliates: bool) -> Result<Reply, ApiError> {
    ctx.only_params(&[])?;
    let rows: Vec<Value> = store
        .employees
        .values()
        .filter(|e| e.company_id == ctx.who.company_id && e.is_approved_affiliate == affiliates)
        .map(|e| json!({"employee_id": e.employee_id, "full_name": e.full_name()}))
        .collect();
    let key = if affiliates { "affiliates" } else { "employees" };
    Ok(Reply::ok(json!({ key: rows, "count": rows.len() })))
}

/// `/lookups/employees`: active employees, affiliates excluded (spec fact).
async fn lookup_employees(call: Call) -> Response {
    call.run(Scope::IntegrationsRead, Bucket::Read, |ctx, inner| employees(ctx, &inner.store, false))
}

/// `/lookups/affiliates`: approved affiliates.
async fn lookup_affiliates(call: Call) -> Response {
    call.run(Scope::IntegrationsRead, Bucket::Read, |ctx, inner| employees(ctx, &inner.store, true))
}

/// `/lookups/client-statuses`: `{statuses: [{status_id, status_name, is_lead}], count}`.
async fn lookup_statuses(call: Call) -> Response {
    call.run(Scope::IntegrationsRead, Bucket::Read, |ctx, inner| {
        ctx.only_params(&[])?;
        let rows: Vec<Value> = inner
            .store
            .statuses
            .iter()
            .map(|s| json!({"status_id": s.status_id, "status_name": s.status_name, "is_lead": s.is_lead()}))
            .collect();
        Ok(Reply::ok(json!({"count": rows.len(), "statuses": rows})))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_digits_ignore_punctuation_and_country_code() {
        assert_eq!(phone_digits("+1 (512) 555-0100"), "5125550100");
        assert_eq!(phone_digits("512.555.0100"), "5125550100");
        assert_eq!(phone_digits("15"), "15");
    }
}
