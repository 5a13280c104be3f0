//! What WhiteLabelCRO's fields are. The API has no metadata endpoint, so the fields are the ones
//! the spec documents (§5 actions, §6 searches), answered statically; only the status list comes
//! from the API (`GET /api/v1/integrations/lookups/client-statuses`, which differs per company).
//! Scopes are probed with two reads: the events feed (`events:read`) and that lookup
//! (`integrations:read`); `integrations:write` cannot be seen without writing.

use connector_api::http::{ErrorInfo, RequestSpec};
use connector_api::{AccessNeed, ConnectorError, FieldSchema, FieldType, MissingScope, ObjectSchema};
use http::StatusCode;
use serde_json::Value;

use crate::write::{CLIENT_CREATE, LEAD_CREATE, UPDATE};
use crate::{Object, WlcroConnector, wire};

const STATUSES: &str = "/api/v1/integrations/lookups/client-statuses";

/// The documented fields with their kinds (§5, §6).
const FIELDS: &[(&str, FieldType)] = &[
    ("client_id", FieldType::Id),
    ("first_name", FieldType::Text),
    ("last_name", FieldType::Text),
    ("full_name", FieldType::Text),
    ("email", FieldType::Email),
    ("phone", FieldType::Phone),
    ("city", FieldType::Text),
    ("state", FieldType::Text),
    ("zip", FieldType::Text),
    ("status", FieldType::Enumeration),
    ("status_id", FieldType::Number),
    ("status_name", FieldType::Text),
    ("employee_id", FieldType::Id),
    ("employee_name", FieldType::Text),
    ("affiliate_id", FieldType::Id),
    ("affiliate_name", FieldType::Text),
    ("package_keyword", FieldType::Text),
    ("external_id", FieldType::Text),
    ("created_utc", FieldType::DateTime),
];

/// The documented schema of `object`, with `statuses` as the status options.
pub(crate) fn documented(object: Object, statuses: Vec<String>) -> ObjectSchema {
    // A person is created through Create Lead or Create Client, by its status.
    let creatable = |name: &str| match object {
        Object::Leads => LEAD_CREATE.contains(&name),
        Object::Clients => CLIENT_CREATE.contains(&name),
        Object::People => LEAD_CREATE.contains(&name) || CLIENT_CREATE.contains(&name),
    };
    let fields = FIELDS.iter().map(|(name, kind)| {
        let mut f = FieldSchema::new(*name, *kind, "documented");
        // `status` is changed through Update Lead / Client Status (§5).
        f.updatable = UPDATE.contains(name) || *name == "status";
        f.creatable = creatable(name);
        f.filterable = crate::records::SEARCH_FIELDS.contains(name);
        // A create replayed with the same `external_id` answers the existing record (§5).
        f.unique = matches!(*name, "client_id" | "external_id");
        f.external_id = *name == "external_id";
        if *name == "status" {
            f.options = statuses.clone();
            f.restricted = true;
        }
        f
    });
    let mut schema = ObjectSchema::new(object.name(), fields);
    schema.upsert_key = Some("external_id".into());
    schema
}

/// The statuses `object` may hold: lead statuses for leads, the others for clients, all of them
/// for people.
pub(crate) async fn statuses(c: &WlcroConnector, object: Object) -> Result<Vec<String>, ConnectorError> {
    let url = format!("{}{STATUSES}", c.base());
    let spec = RequestSpec::get(url).bucket("read").log_as(format!("GET {STATUSES}"));
    let resp = c.http.send(c.authed(spec)).await?;
    let v: Value = serde_json::from_slice(resp.body()).map_err(|e| ConnectorError::Protocol {
        message: format!("GET {STATUSES}: unreadable answer: {e}"),
    })?;
    let rows = v.get("statuses").or_else(|| v.get("data")).unwrap_or(&v);
    let names = rows.as_array().into_iter().flatten().filter_map(|r| r.get("status_name")?.as_str());
    let fits = |n: &&str| match object {
        Object::People => true,
        Object::Leads => wire::is_lead_status(n),
        Object::Clients => !wire::is_lead_status(n),
    };
    Ok(names.filter(fits).map(str::to_string).collect())
}

/// The read scopes the key lacks for `needs`.
pub(crate) async fn missing_scopes(
    c: &WlcroConnector,
    needs: &[AccessNeed],
) -> Result<Vec<MissingScope>, ConnectorError> {
    let objects: Vec<&str> = needs.iter().map(|n| n.object.as_str()).collect();
    let objects = objects.join(", ");
    let probes = [
        ("/api/v1/events?limit=1", "events:read", format!("pulling changes of {objects}")),
        (STATUSES, "integrations:read", format!("reading and matching {objects}")),
    ];
    let mut missing = Vec::new();
    for (path, scope, needed_for) in probes {
        let spec = RequestSpec::get(format!("{}{path}", c.base()))
            .bucket("read")
            .accept(StatusCode::FORBIDDEN)
            .log_as(format!("GET {}", path.split('?').next().unwrap_or(path)));
        let resp = c.http.send(c.authed(spec)).await?;
        if resp.status() == StatusCode::FORBIDDEN {
            let scope = ErrorInfo::parse(resp.body()).scope.unwrap_or_else(|| scope.to_string());
            missing.push(MissingScope { scope, needed_for });
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_schema_knows_what_each_action_writes() {
        let leads = documented(Object::Leads, vec!["Lead - New".into()]);
        let status = leads.field("status").unwrap();
        assert!(status.updatable && !status.creatable && status.restricted);
        assert_eq!(status.options, ["Lead - New"]);
        assert!(leads.field("package_keyword").unwrap().creatable);
        let clients = documented(Object::Clients, Vec::new());
        assert!(clients.field("status").unwrap().creatable);
        assert!(!clients.field("full_name").unwrap().updatable);
        assert!(clients.field("external_id").unwrap().external_id);
        assert!(clients.field("mobile_phone").is_none());
        let people = documented(Object::People, Vec::new());
        assert!(
            people.field("status").unwrap().creatable && people.field("package_keyword").unwrap().creatable
        );
    }
}
