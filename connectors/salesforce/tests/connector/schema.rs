//! The describe as the connector reads it: the schema `check --remote` compares against, the
//! token's scopes, and schema drift: a custom field deleted from the org is left out of every
//! query (one unknown field fails a whole SOQL query) and reported by `missing_fields`.

use std::sync::Arc;
use std::time::Duration;

use connector_api::http::{ClientPolicy, ReqwestTransport};
use connector_api::{AccessNeed, Connector, FieldType, ManualClock};
use connector_salesforce::{SalesforceConfig, SalesforceConnector};
use secrecy::SecretString;
use serde_json::json;
use sim_salesforce::{ObjectKind, SimConfig};

use crate::support::{EXT, World, t0};

async fn world(config: SimConfig) -> World {
    let config = SimConfig { seed: 11, start_time: Some(t0()), ..config };
    let (handle, sim) = sim_salesforce::start(config).await.unwrap();
    let clock = ManualClock::new(t0());
    let mut cfg = SalesforceConfig::new(
        handle.base_url(),
        "sim-consumer-key",
        SecretString::from("sim-consumer-secret"),
    );
    cfg.external_id_field = EXT.into();
    // The simulator's token responses name http://localhost as the instance.
    cfg.allowed_instance_hosts = vec!["http://localhost".to_string()];
    cfg.policy = ClientPolicy { max_attempts: 3, ..ClientPolicy::default() };
    let fields = ["LastName", "Email", "WLCRO_Status__c"].map(String::from).to_vec();
    cfg.fields.insert("Contact".into(), fields);
    let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(10)).unwrap());
    let sf = SalesforceConnector::new(cfg, transport, clock.shared(), 5);
    World { handle, sim, clock, sf }
}

#[tokio::test]
async fn the_describe_names_external_ids_picklists_lengths_and_the_cursor() {
    let w = world(SimConfig::default()).await;
    let schema = w.sf.schema("Contact").await.unwrap().expect("salesforce describes its objects");
    let ext = schema.field(EXT).unwrap();
    assert!(ext.external_id && ext.unique && ext.filterable);
    let status = schema.field("WLCRO_Status__c").unwrap();
    assert_eq!(status.field_type, FieldType::Enumeration);
    assert!(status.options.iter().any(|o| o == "Active Client") && status.restricted);
    assert_eq!(schema.field("LastName").unwrap().length, Some(80));
    assert!(!schema.field("Id").unwrap().updatable);
    assert_eq!(schema.cursor.as_deref(), Some("SystemModstamp"));
    assert!(schema.field("SystemModstamp").unwrap().filterable);
}

#[tokio::test]
async fn a_token_without_the_api_scope_is_reported() {
    let needs = [AccessNeed { object: "Contact".into(), write: true }];
    let w = world(SimConfig::default()).await;
    assert!(w.sf.missing_scopes(&needs).await.unwrap().is_empty());
    let w = world(SimConfig { scopes: vec!["refresh_token".into()], ..SimConfig::default() }).await;
    let missing: Vec<String> =
        w.sf.missing_scopes(&needs).await.unwrap().into_iter().map(|m| m.scope).collect();
    assert_eq!(missing, ["api"]);
}

#[tokio::test]
async fn a_deleted_custom_field_is_left_out_of_queries_and_reported() {
    let w = world(SimConfig::default()).await;
    let id = w.seed(ObjectKind::Contact, json!({"LastName": "Lovelace", "WLCRO_Status__c": "Active Client"}));
    w.advance(5);
    let page = w.pull("Contact", None, Some(Duration::from_secs(60)), 100).await;
    assert_eq!(page.changes.len(), 1);
    assert_eq!(page.changes[0].fields["WLCRO_Status__c"], "Active Client");
    assert!(w.sf.missing_fields("Contact").is_empty());

    let mut schema = w.sim.schema();
    schema.fields.retain(|f| f.name != "WLCRO_Status__c");
    w.sim.set_schema(&schema).unwrap();
    w.advance(5);
    // The next run's first page reads the describe and still pulls (no INVALID_FIELD).
    let again = w.pull("Contact", None, Some(Duration::from_secs(60)), 100).await;
    let record = again.changes.iter().find(|c| c.id == id).unwrap();
    assert!(!record.fields.contains_key("WLCRO_Status__c"), "{:?}", record.fields);
    assert_eq!(record.fields["LastName"], "Lovelace");
    assert_eq!(w.sf.missing_fields("Contact"), ["WLCRO_Status__c"]);
}
