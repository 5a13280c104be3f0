//! `crosswalk check --remote`: one read-only probe per configured system that verifies what the
//! configuration and the mappings need from it — credentials and scopes, then every mapped field
//! against the object's schema as the remote describes it ([`fields`]). Each problem is one line
//! naming the system, object and field and what to do.

mod fields;
mod needs;

use std::collections::BTreeMap;
use std::sync::Arc;

use connector_api::{Connector, ConnectorError, ObjectSchema};

use crate::mapping::PairMapping;

pub use needs::{ObjectNeeds, needs_by_system};

/// One thing a remote system lacks for the configuration.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The configured system.
    pub system: String,
    /// The object, when the problem is about one.
    pub object: Option<String>,
    /// The field, when the problem is about one.
    pub field: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl Problem {
    fn system(system: &str, message: String) -> Self {
        Self { system: system.into(), object: None, field: None, message }
    }

    fn field(system: &str, object: &str, field: &str, message: String) -> Self {
        Self { system: system.into(), object: Some(object.into()), field: Some(field.into()), message }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.system)?;
        match (&self.object, &self.field) {
            (Some(o), Some(field)) => write!(f, " {o}.{field}")?,
            (Some(o), None) => write!(f, " {o}")?,
            _ => {}
        }
        write!(f, ": {}", self.message)
    }
}

/// What the probe found: problems, and the objects whose schema the remote could not describe.
#[derive(Debug, Default)]
pub struct Report {
    /// Every problem, sorted by system, object, field.
    pub problems: Vec<Problem>,
    /// `system object: why` for objects whose fields were not checked.
    pub unchecked: Vec<String>,
    /// How many systems were probed.
    pub systems: usize,
}

/// Probes every system that a pair uses.
pub async fn probe(pairs: &[PairMapping], connectors: &BTreeMap<String, Arc<dyn Connector>>) -> Report {
    let mut report = Report::default();
    let needs = needs_by_system(pairs);
    let mut schemas: BTreeMap<(String, String), ObjectSchema> = BTreeMap::new();
    for (system, objects) in &needs {
        let Some(connector) = connectors.get(system) else { continue };
        report.systems += 1;
        let Some(scopes_missing) =
            probe_access(system, connector.as_ref(), objects, &mut report.problems).await
        else {
            continue;
        };
        for object in objects.keys() {
            match connector.schema(object).await {
                Ok(Some(schema)) => {
                    schemas.insert((system.clone(), object.clone()), schema);
                }
                Ok(None) => {
                    report.unchecked.push(format!("{system} {object}: the system cannot describe its fields"))
                }
                Err(ConnectorError::Auth { .. }) if scopes_missing => {
                    report.unchecked.push(format!(
                        "{system} {object}: the missing scopes keep its fields from being read"
                    ));
                }
                Err(e) => report.problems.push(Problem {
                    object: Some(object.clone()),
                    ..Problem::system(
                        system,
                        format!("could not read the object's fields ({e}); {}", advice(&e)),
                    )
                }),
            }
        }
    }
    for (system, objects) in &needs {
        for (object, need) in objects {
            if let Some(schema) = schemas.get(&(system.clone(), object.clone())) {
                fields::check(system, need, schema, &schemas, &mut report.problems);
            }
        }
    }
    report.problems.sort();
    report.problems.dedup();
    report
}

/// Checks credentials and scopes. Answers whether the system can be probed further and whether
/// scopes are missing (a schema read refused for it then needs no line of its own).
async fn probe_access(
    system: &str,
    connector: &dyn Connector,
    objects: &BTreeMap<String, ObjectNeeds>,
    problems: &mut Vec<Problem>,
) -> Option<bool> {
    let access: Vec<_> = objects.values().map(ObjectNeeds::access).collect();
    match connector.missing_scopes(&access).await {
        Ok(missing) => {
            let fix = scope_fix(&connector.capabilities().kind, system);
            for m in &missing {
                let message = format!(
                    "the credentials lack the scope `{}` (needed for {}); {fix}",
                    m.scope, m.needed_for
                );
                problems.push(Problem::system(system, message));
            }
            Some(!missing.is_empty())
        }
        Err(e) => {
            problems.push(Problem::system(system, format!("the probe failed: {e}; {}", advice(&e))));
            None
        }
    }
}

/// How scopes are granted on each kind of system.
fn scope_fix(kind: &str, system: &str) -> String {
    match kind {
        "whitelabelcro" => format!(
            "scopes cannot be added to a WhiteLabelCRO key: create a new key with it and configure it as \
             systems.{system}.api_key"
        ),
        "hubspot" => {
            "add it to the private app's scopes in HubSpot (Settings > Integrations > Private Apps)".into()
        }
        "salesforce" => "add it to the connected app's OAuth scopes in Salesforce".into(),
        _ => format!("grant it to the credentials configured under [systems.{system}]"),
    }
}

/// What to do about a failed probe request.
fn advice(e: &ConnectorError) -> String {
    match e {
        ConnectorError::Auth { .. } => "fix the credentials configured for this system".into(),
        ConnectorError::Transient { .. } | ConnectorError::Throttled { .. } => {
            "check the system's URL and that it is reachable, then run the check again".into()
        }
        ConnectorError::QuotaExhausted { .. } => "wait for the API quota to reset".into(),
        _ => "check the system's URL and API version in the config".into(),
    }
}

#[cfg(test)]
mod tests;
