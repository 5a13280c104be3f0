//! The Properties API as the connector reads it: the schema `check --remote` compares against,
//! the token's scopes, and schema drift read from the metadata on a run's first page.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use connector_api::http::ReqwestTransport;
use connector_api::{AccessNeed, Checkpoint, Connector, FieldType, ManualClock, PullRequest};
use connector_hubspot::{HubspotConfig, HubspotConnector};
use serde_json::json;
use sim_hubspot::{ObjectType, PropertyDef, SimConfig, SimState};

use crate::common::{TOKEN, t0};

fn status_property() -> PropertyDef {
    let def = json!({"object": "contacts", "name": "wlcro_status", "type": "string", "fieldType": "text"});
    serde_json::from_value(def).unwrap()
}

async fn start(config: SimConfig) -> (sim_core::SimHandle, SimState, ManualClock, HubspotConnector) {
    let config = SimConfig { start_time: Some(t0()), tokens: vec![TOKEN.to_string()], ..config };
    let (handle, sim) = sim_hubspot::start(config).await.unwrap();
    sim.set_search_lag(0, 0);
    sim.put_property(status_property()).unwrap();
    let clock = ManualClock::new(t0());
    let mut cfg = HubspotConfig::new(handle.base_url(), TOKEN.to_string().into(), "wlcro_client_id");
    let props = ["email", "firstname", "wlcro_status"].map(String::from).to_vec();
    cfg.properties = BTreeMap::from([("contacts".to_string(), props)]);
    let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(10)).unwrap());
    let conn = HubspotConnector::new(cfg, transport, clock.shared(), 3).unwrap();
    (handle, sim, clock, conn)
}

fn first_page<'a>(checkpoint: Option<&'a Checkpoint>, clock: &ManualClock) -> PullRequest<'a> {
    use connector_api::Clock;
    PullRequest {
        object: "contacts",
        checkpoint,
        rewind: Some(Duration::ZERO),
        horizon: clock.now(),
        since: None,
        until: None,
        limit: 100,
    }
}

fn properties_reads(sim: &SimState) -> usize {
    sim.requests().iter().filter(|r| r.path.starts_with("/crm/v3/properties/")).count()
}

#[tokio::test]
async fn the_schema_names_types_uniqueness_writability_and_options() {
    let (_h, _sim, _clock, conn) = start(SimConfig::default()).await;
    let schema = conn.schema("contacts").await.unwrap().expect("hubspot describes its properties");
    let id = schema.field("wlcro_client_id").expect("the default set-up has the unique property");
    assert!(id.unique && id.external_id && id.updatable);
    let stage = schema.field("lifecyclestage").unwrap();
    assert_eq!(stage.field_type, FieldType::Enumeration);
    assert!(stage.options.iter().any(|o| o == "customer") && stage.restricted);
    assert!(!schema.field("createdate").unwrap().updatable);
    assert_eq!(schema.cursor.as_deref(), Some("lastmodifieddate"));
    assert_eq!(schema.upsert_key.as_deref(), Some("wlcro_client_id"));
}

#[tokio::test]
async fn missing_scopes_come_from_the_token_info() {
    let mut config = SimConfig::default();
    config.token_scopes.insert(TOKEN.to_string(), vec!["crm.objects.contacts.read".into()]);
    let (_h, _sim, _clock, conn) = start(config).await;
    let needs = [AccessNeed { object: "contacts".into(), write: true }];
    let missing: Vec<String> =
        conn.missing_scopes(&needs).await.unwrap().into_iter().map(|m| m.scope).collect();
    assert_eq!(missing, ["crm.schemas.contacts.read", "crm.objects.contacts.write"]);
    let read_only = [AccessNeed { object: "contacts".into(), write: false }];
    let missing = conn.missing_scopes(&read_only).await.unwrap();
    assert_eq!(missing.len(), 1, "{missing:?}");
}

#[tokio::test]
async fn a_deleted_property_is_reported_from_the_metadata_even_when_no_record_is_read() {
    let (_h, sim, clock, conn) = start(SimConfig::default()).await;
    let page = conn.pull(first_page(None, &clock)).await.unwrap();
    assert!(page.changes.is_empty());
    assert!(conn.missing_fields("contacts").is_empty());

    sim.remove_property(ObjectType::Contacts, "wlcro_status").unwrap();
    // No record comes back, so a read cannot tell a deleted property from an empty one: only
    // the metadata can.
    let before = properties_reads(&sim);
    let empty = conn.pull(first_page(Some(&page.next), &clock)).await.unwrap();
    assert!(empty.changes.is_empty());
    assert_eq!(properties_reads(&sim), before + 1, "one properties read per run");
    assert_eq!(conn.missing_fields("contacts"), ["wlcro_status"]);

    let mut next = first_page(Some(&empty.next), &clock);
    next.rewind = None;
    conn.pull(next).await.unwrap();
    assert_eq!(properties_reads(&sim), before + 1, "a continuation page reads no metadata");

    sim.put_property(status_property()).unwrap();
    conn.pull(first_page(Some(&empty.next), &clock)).await.unwrap();
    assert!(conn.missing_fields("contacts").is_empty(), "a property created again is no longer missing");
}
