//! `fetch` and `find` through the two searches (§6): Find Client
//! (`/api/v1/integrations/clients/search`, path configurable for the §10 `/find` conflict) and
//! Find Lead (`/api/v1/integrations/leads/search`, leads only). One request per id: the searches
//! take one `client_id` at a time. A 404 or an empty answer means "not found".
//!
//! `people` is every record (through Find Client, which answers leads and clients alike);
//! `leads` keeps records whose status matches `'Lead%'`, `clients` the others, so a converted
//! lead leaves `leads` and joins `clients`.
//! The search answer has no `updated_utc` in the spec; when the server sends none the record's
//! `modified_at` is the time it was read (the edit happened at or before it).

use connector_api::http::RequestSpec;
use connector_api::{ConnectorError, FieldMap, IdentityKey, Record};
use http::StatusCode;
use serde_json::Value;

use crate::pull::encode;
use crate::wire;
use crate::{Object, WlcroConnector};

/// The query parameters the searches accept (§6).
pub const SEARCH_FIELDS: &[&str] = &["email", "external_id", "phone", "client_id"];

impl WlcroConnector {
    fn search_path(&self, object: Object) -> String {
        match object {
            Object::People | Object::Clients => {
                format!("/api/v1/integrations/clients/{}", self.cfg.client_search)
            }
            Object::Leads => "/api/v1/integrations/leads/search".to_string(),
        }
    }

    /// One search call; records of the other kind are dropped.
    async fn search(&self, object: Object, field: &str, value: &str) -> Result<Vec<Record>, ConnectorError> {
        let path = self.search_path(object);
        let url = format!("{}{path}?{field}={}", self.base(), encode(value));
        let spec =
            RequestSpec::get(url).bucket("read").accept(StatusCode::NOT_FOUND).log_as(format!("GET {path}"));
        let resp = self.http.send(self.authed(spec)).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        let protocol = |e: wire::WireError| ConnectorError::Protocol { message: format!("GET {path}: {e}") };
        let items = wire::search_items(resp.body()).map_err(protocol)?;
        let now = self.clock.now();
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            let wire::SearchHit { id, fields, updated, .. } = wire::search_record(item).map_err(protocol)?;
            let is_lead = fields.get("status").and_then(Value::as_str).is_some_and(wire::is_lead_status);
            self.remember_kind(id, is_lead);
            if !object.holds(is_lead) {
                continue;
            }
            out.push(Record {
                object: object.name().to_string(),
                id: id.to_string(),
                modified_at: updated.unwrap_or(now),
                fields: fields.into_iter().collect::<FieldMap>(),
                deleted: false,
            });
        }
        Ok(out)
    }
}

/// Reads records by id; ids that are not integers cannot exist and are left out.
pub(crate) async fn fetch(
    c: &WlcroConnector,
    object: Object,
    ids: &[String],
) -> Result<Vec<Record>, ConnectorError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Ok(n) = id.trim().parse::<i64>() else { continue };
        let found = c.search(object, "client_id", &n.to_string()).await?;
        out.extend(found.into_iter().filter(|r| r.id == n.to_string()));
    }
    Ok(out)
}

/// Finds records by one of the search fields (exact match; email case-insensitively server-side).
pub(crate) async fn find(
    c: &WlcroConnector,
    object: Object,
    key: &IdentityKey,
) -> Result<Vec<Record>, ConnectorError> {
    if !SEARCH_FIELDS.contains(&key.field.as_str()) {
        return Err(ConnectorError::Invalid {
            message: format!(
                "whitelabelcro cannot search on `{}` (email, external_id, phone, client_id)",
                key.field
            ),
            code: Some("unsupported_identity_field".into()),
            field: Some(key.field.clone()),
        });
    }
    if key.value.trim().is_empty() {
        return Ok(Vec::new());
    }
    c.search(object, &key.field, &key.value).await
}
