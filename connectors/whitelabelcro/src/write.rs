//! `apply`: the one-record actions of §5. Create Lead / Create Client carry `external_id`, so a
//! replay answers 200 with the existing record (`created: false`) and the POST is safe to retry;
//! Update Lead / Update Client take the other fields; a `status` goes through Update Lead Status /
//! Update Client Status by name (lead statuses only for leads). Each write gets its own outcome.
//! No delete action exists, so deletes are rejected per item.
//!
//! For `people` the action follows the record: a create with a Lead status (or none) is Create
//! Lead, any other status Create Client; an update goes through Update Lead or Update Client by
//! the record's current kind (known from the reads that came before it; one Find Client when
//! not); a status change to a Lead status of a lead is Update Lead Status, every other one
//! Update Client Status — so a lead → client conversion is one status change of the same record.

use chrono::{DateTime, Utc};
use connector_api::http::RequestSpec;
use connector_api::write::Written;
use connector_api::{ConnectorError, FieldMap, Write, WriteOp, WriteOutcome};
use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::wire::{self, CreateResponse, UpdateResponse};
use crate::{Object, WlcroConnector};

/// The status every new lead starts in (§5).
pub const LEAD_NEW: &str = "Lead - New";

pub(crate) const LEAD_CREATE: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "city",
    "state",
    "zip",
    "package_keyword",
    "affiliate_id",
    "external_id",
];
pub(crate) const CLIENT_CREATE: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "city",
    "state",
    "zip",
    "employee_id",
    "affiliate_id",
    "external_id",
    "status",
];
pub(crate) const UPDATE: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "city",
    "state",
    "zip",
    "employee_id",
    "affiliate_id",
    "external_id",
];

fn invalid(message: impl Into<String>, code: &str, field: Option<&str>) -> ConnectorError {
    ConnectorError::Invalid {
        message: message.into(),
        code: Some(code.into()),
        field: field.map(str::to_string),
    }
}

/// Splits `status` out and checks every other field is one the action takes.
fn split(
    fields: &FieldMap,
    allowed: &[&str],
) -> Result<(Map<String, Value>, Option<String>), ConnectorError> {
    let mut body = Map::new();
    let mut status = None;
    for (k, v) in fields {
        if k == "status" {
            let s = v.as_str().map(str::trim).filter(|s| !s.is_empty());
            status =
                Some(s.ok_or_else(|| {
                    invalid("status must be a status name", "invalid_status", Some("status"))
                })?);
        } else if allowed.contains(&k.as_str()) {
            body.insert(k.clone(), v.clone());
        } else {
            return Err(invalid(
                format!("whitelabelcro does not take field `{k}`"),
                "unknown_field",
                Some(k),
            ));
        }
    }
    Ok((body, status.map(str::to_string)))
}

fn time(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(wire::parse_time)
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ConnectorError> {
    serde_json::from_slice(body).map_err(|e| ConnectorError::Protocol { message: format!("{what}: {e}") })
}

impl WlcroConnector {
    async fn create(
        &self,
        object: Object,
        fields: &FieldMap,
        external_id: Option<&str>,
    ) -> Result<Written, ConnectorError> {
        let object = match object {
            Object::People
                if fields.get("status").and_then(Value::as_str).is_some_and(|s| !wire::is_lead_status(s)) =>
            {
                Object::Clients
            }
            Object::People => Object::Leads,
            other => other,
        };
        let allowed = if object == Object::Leads { LEAD_CREATE } else { CLIENT_CREATE };
        let (mut body, status) = split(fields, allowed)?;
        if let Some(x) = external_id {
            body.insert("external_id".into(), json!(x));
        }
        let mut follow_up = None;
        if let Some(s) = status {
            match object {
                Object::Clients | Object::People => {
                    body.insert("status".into(), json!(s));
                }
                Object::Leads if !wire::is_lead_status(&s) => {
                    return Err(invalid(
                        "a lead's status must be a Lead status",
                        "not_a_lead_status",
                        Some("status"),
                    ));
                }
                Object::Leads if !s.eq_ignore_ascii_case(LEAD_NEW) => follow_up = Some(s),
                Object::Leads => {}
            }
        }
        let path = format!("/api/v1/integrations/{}", object.name());
        let replayable = body.get("external_id").is_some_and(|v| v.is_string());
        let spec = RequestSpec::post(format!("{}{path}", self.base()))
            .json(&Value::Object(body))?
            .bucket("write")
            .idempotent(replayable);
        let resp = self.http.send(self.authed(spec)).await?;
        let created = resp.status() == StatusCode::CREATED;
        let r: CreateResponse = parse(resp.body(), &format!("POST {path}"))?;
        let id = wire::strict_id(Some(&r.client_id)).ok_or_else(|| ConnectorError::Protocol {
            message: format!("POST {path}: client_id is not an integer"),
        })?;
        let mut written =
            Written { id: id.to_string(), created, modified_at: time(r.created_utc.as_deref()) };
        self.remember_kind(id, object == Object::Leads);
        if let Some(s) = follow_up {
            written.modified_at = self.set_status(object, id, &s).await?.or(written.modified_at);
        }
        Ok(written)
    }

    async fn update(&self, object: Object, id: &str, fields: &FieldMap) -> Result<Written, ConnectorError> {
        let id: i64 =
            id.trim().parse().map_err(|_| invalid("whitelabelcro ids are integers", "invalid_id", None))?;
        let (body, status) = split(fields, UPDATE)?;
        let object = match object {
            Object::People => self.kind_of(id).await?,
            other => other,
        };
        if object == Object::Leads && status.as_deref().is_some_and(|s| !wire::is_lead_status(s)) {
            return Err(invalid(
                "a lead's status must be a Lead status",
                "not_a_lead_status",
                Some("status"),
            ));
        }
        let mut modified_at = None;
        if !body.is_empty() {
            let path = format!("/api/v1/integrations/{}/{{client_id}}", object.name());
            let url = format!("{}/api/v1/integrations/{}/{id}", self.base(), object.name());
            let spec = RequestSpec::patch(url)
                .json(&Value::Object(body))?
                .bucket("write")
                .idempotent(true)
                .log_as(format!("PATCH {path}"));
            let resp = self.http.send(self.authed(spec)).await?;
            let r: UpdateResponse = parse(resp.body(), &format!("PATCH {path}")).unwrap_or_default();
            modified_at = time(r.updated_utc.as_deref());
        }
        if let Some(s) = status {
            // A lead moving to a client status is a conversion: Update Client Status (§5).
            let via = if wire::is_lead_status(&s) { object } else { Object::Clients };
            modified_at = self.set_status(via, id, &s).await?.or(modified_at);
            self.remember_kind(id, wire::is_lead_status(&s));
        }
        Ok(Written { id: id.to_string(), created: false, modified_at })
    }

    /// The kind of record `id` (`Leads` or `Clients`): remembered from an earlier read, else one
    /// Find Client. A record the search cannot find is updated as a client, whose answer (404)
    /// then says so.
    async fn kind_of(&self, id: i64) -> Result<Object, ConnectorError> {
        if self.known_kind(id).is_none() {
            crate::records::fetch(self, Object::People, &[id.to_string()]).await?;
        }
        Ok(match self.known_kind(id) {
            Some(true) => Object::Leads,
            _ => Object::Clients,
        })
    }

    async fn set_status(
        &self,
        object: Object,
        id: i64,
        status: &str,
    ) -> Result<Option<DateTime<Utc>>, ConnectorError> {
        let path = format!("/api/v1/integrations/{}/{{client_id}}/status", object.name());
        let url = format!("{}/api/v1/integrations/{}/{id}/status", self.base(), object.name());
        let spec = RequestSpec::patch(url)
            .json(&json!({ "new_status": status }))?
            .bucket("write")
            .idempotent(true)
            .log_as(format!("PATCH {path}"));
        let resp = self.http.send(self.authed(spec)).await.map_err(status_field)?;
        let r: UpdateResponse = parse(resp.body(), &format!("PATCH {path}")).unwrap_or_default();
        Ok(time(r.updated_utc.as_deref()))
    }
}

/// Update Lead / Client Status names its body fields (`new_status`, `new_status_id`, §5); the
/// record's field they carry is `status`.
fn status_field(e: ConnectorError) -> ConnectorError {
    match e {
        ConnectorError::Invalid { message, code, field: Some(f) }
            if f == "new_status" || f == "new_status_id" =>
        {
            ConnectorError::Invalid { message, code, field: Some("status".into()) }
        }
        other => other,
    }
}

/// Applies writes one by one; each answers for itself.
pub(crate) async fn apply(
    c: &WlcroConnector,
    object: Object,
    writes: Vec<Write>,
) -> Result<Vec<WriteOutcome>, ConnectorError> {
    let mut out = Vec::with_capacity(writes.len());
    for w in writes {
        let result = match &w.op {
            WriteOp::Create { fields, external_id } => {
                c.create(object, fields, external_id.as_ref().map(|k| k.value.as_str())).await
            }
            WriteOp::Update { id, fields } => c.update(object, id, fields).await,
            WriteOp::Delete { .. } => Err(invalid("whitelabelcro has no delete action", "unsupported", None)),
        };
        if let Err(e) = &result {
            tracing::debug!(object = object.name(), key = %w.key, class = ?e.class(), "whitelabelcro write failed");
        }
        out.push(WriteOutcome { key: w.key, result });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_separates_status_and_rejects_unknown_fields() {
        let f = FieldMap::from([("email".into(), json!("a@x.test")), ("status".into(), json!(" On Hold "))]);
        let (body, status) = split(&f, UPDATE).unwrap();
        assert_eq!(body.get("email"), Some(&json!("a@x.test")));
        assert_eq!(status.as_deref(), Some("On Hold"));
        let f = FieldMap::from([("shoe_size".into(), json!(44))]);
        let e = split(&f, UPDATE).unwrap_err();
        assert!(matches!(&e, ConnectorError::Invalid { field: Some(k), .. } if k == "shoe_size"));
        let f = FieldMap::from([("status".into(), Value::Null)]);
        assert!(split(&f, UPDATE).is_err());
    }
}
