//! The oracle (scenarios §H.5): invariants judged from the simulators' stored records and the
//! wire log, never from the engine's counters. Each check returns every violation it finds, as
//! a readable line.

use std::collections::{BTreeMap, BTreeSet};

use crosswalk::demo::Sims;
use crosswalk::side::Side;
use crosswalk::store::{ReviewFilter, ReviewItem, ReviewState, Store};
use serde_json::Value;
use sim_hubspot::ObjectType;

use crate::net::WireEntry;

/// The demo pairs' names.
pub const HS_PAIR: &str = "wlcro-people__hubspot-contacts";
/// The Salesforce pair.
pub const SF_PAIR: &str = "wlcro-people__salesforce-contacts";

/// How a field's two values compare.
#[derive(Debug, Clone, Copy)]
enum Norm {
    Exact,
    Email,
    Phone,
    /// WhiteLabelCRO status → HubSpot lifecycle stage.
    Stage,
}

/// One pair as the oracle sees it. Only fields crosswalk can read on both sides are judged:
/// WhiteLabelCRO's API returns no `city`, `state`, `zip` (spec §6: the searches' response
/// fields), so those are write-only there and cannot be held to convergence.
struct PairSpec {
    name: &'static str,
    system: &'static str,
    back_link: &'static str,
    fields: &'static [(&'static str, &'static str, &'static str, Norm)],
}

const PAIRS: [PairSpec; 2] = [
    PairSpec {
        name: HS_PAIR,
        system: "hubspot",
        back_link: "wlcro_client_id",
        fields: &[
            ("email", "email", "email", Norm::Email),
            ("first_name", "first_name", "firstname", Norm::Exact),
            ("last_name", "last_name", "lastname", Norm::Exact),
            ("phone", "phone", "phone", Norm::Phone),
            ("status", "status_name", "lifecyclestage", Norm::Stage),
        ],
    },
    PairSpec {
        name: SF_PAIR,
        system: "salesforce",
        back_link: "WLCRO_Id__c",
        fields: &[
            ("email", "email", "Email", Norm::Email),
            ("first_name", "first_name", "FirstName", Norm::Exact),
            ("last_name", "last_name", "LastName", Norm::Exact),
            ("phone", "phone", "Phone", Norm::Phone),
            ("status", "status_name", "WLCRO_Status__c", Norm::Exact),
        ],
    },
];

fn stage(status: &str) -> &str {
    match status {
        "Lead - New" | "Lead - Contacted" => "lead",
        "Lead - Qualified" => "salesqualifiedlead",
        "Active Client" | "On Hold" | "Completed" => "customer",
        "Cancelled" => "other",
        other => other,
    }
}

fn norm(n: Norm, left: bool, v: &str) -> String {
    let v = v.trim();
    match n {
        Norm::Exact => v.to_string(),
        Norm::Email => v.to_lowercase(),
        Norm::Phone => {
            let digits: String = v.chars().filter(char::is_ascii_digit).collect();
            digits.strip_prefix('1').filter(|d| d.len() == 10).unwrap_or(&digits).to_string()
        }
        Norm::Stage if left => stage(v).to_string(),
        Norm::Stage => v.to_string(),
    }
}

/// One remote record, live or not.
#[derive(Debug, Clone)]
pub struct Remote {
    /// Its id.
    pub id: String,
    /// Whether it is live (not archived / deleted / merged away).
    pub live: bool,
    /// Its fields.
    pub fields: BTreeMap<String, String>,
}

/// The simulators' ground truth at one moment.
#[derive(Debug, Clone)]
pub struct Truth {
    /// Live WhiteLabelCRO clients (not leads), by id, fields as strings (`status_name` included).
    pub clients: BTreeMap<i64, BTreeMap<String, String>>,
    /// Every HubSpot contact.
    pub hubspot: Vec<Remote>,
    /// Every Salesforce Contact.
    pub salesforce: Vec<Remote>,
}

impl Truth {
    /// Reads it from the simulators.
    pub fn read(sims: &Sims) -> Truth {
        let w = sims.wlcro.records();
        let clients = w["clients"]
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|c| c["is_lead"] == Value::Bool(false))
            .filter_map(|c| {
                let id = c["client_id"].as_i64()?;
                let fields = c
                    .as_object()?
                    .iter()
                    .filter_map(|(k, v)| match v {
                        Value::String(s) => Some((k.clone(), s.clone())),
                        Value::Number(n) => Some((k.clone(), n.to_string())),
                        _ => None,
                    })
                    .collect();
                Some((id, fields))
            })
            .collect();
        let hubspot = sims
            .hubspot
            .records(ObjectType::Contacts)
            .into_iter()
            .map(|r| Remote {
                id: r.id.to_string(),
                live: !r.archived() && r.merged_into.is_none(),
                fields: r.properties.clone(),
            })
            .collect();
        let salesforce = sims
            .salesforce
            .records()
            .into_iter()
            .filter(|r| r.object == sim_salesforce::ObjectKind::Contact)
            .map(|r| Remote { id: r.id.clone(), live: r.deleted_at.is_none(), fields: r.fields.clone() })
            .collect();
        Truth { clients, hubspot, salesforce }
    }

    fn remotes(&self, system: &str) -> &[Remote] {
        if system == "hubspot" { &self.hubspot } else { &self.salesforce }
    }

    /// A digest of everything (for comparing states).
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(format!("{:?}{:?}{:?}", self.clients, self.hubspot, self.salesforce).as_bytes());
        hex::encode(h.finalize())
    }
}

/// What the scenario knows beyond ground truth (its own deliberate oddities).
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Emails the scenario seeded twice on purpose (ambiguous identities).
    pub duplicate_emails: BTreeSet<String>,
    /// Remote records people created or seeded that must still exist: (system, id).
    pub must_live: BTreeSet<(String, String)>,
    /// Clients the scenario removed from sync on purpose (deletes under review).
    pub exempt_clients: BTreeSet<i64>,
    /// Total requests allowed over the whole scenario, if bounded.
    pub request_budget: Option<usize>,
}

/// Every invariant of the final state, judged from ground truth plus the store's review queue
/// (the only place a deliberate difference may be explained).
pub async fn check_state(truth: &Truth, store: &dyn Store, expect: &Expect) -> Vec<String> {
    let mut v = Vec::new();
    let open = store
        .list_review(&ReviewFilter { state: Some(ReviewState::Open), ..ReviewFilter::default() })
        .await
        .unwrap_or_else(|e| {
            v.push(format!("oracle: cannot list the review queue: {e}"));
            Vec::new()
        });
    let dead = store.list_dead_letters(10_000).await.unwrap_or_default();
    // At most one open item per (pair, record, field).
    let mut per_key: BTreeMap<(String, String, String), Vec<i64>> = BTreeMap::new();
    for i in &open {
        let rec = i.link_id.map(|l| format!("link:{l}")).or_else(|| i.left_id.clone()).unwrap_or_default();
        if i.link_id.is_some() || i.field.is_some() {
            per_key.entry((i.pair.clone(), rec, i.field.clone().unwrap_or_default())).or_default().push(i.id);
        }
    }
    for ((pair, rec, field), ids) in per_key.iter().filter(|(_, ids)| ids.len() > 1) {
        v.push(format!("review: {} open items for ({pair}, {rec}, field `{field}`): {ids:?}", ids.len()));
    }
    for spec in &PAIRS {
        check_pair(spec, truth, store, expect, &open, &dead, &mut v).await;
    }
    for (system, id) in &expect.must_live {
        if !truth.remotes(system).iter().any(|r| &r.id == id && r.live) {
            v.push(format!("no loss: {system} record {id}, made by people, no longer exists"));
        }
    }
    v
}

fn explained(
    open: &[ReviewItem],
    pair: &str,
    client: i64,
    remote: Option<&str>,
    field: Option<&str>,
) -> bool {
    let c = client.to_string();
    open.iter().any(|i| {
        i.pair == pair
            && (i.left_id.as_deref() == Some(c.as_str())
                || (remote.is_some() && i.right_id.as_deref() == remote))
            && (field.is_none() || i.field.is_none() || i.field.as_deref() == field)
    })
}

async fn check_pair(
    spec: &PairSpec,
    truth: &Truth,
    store: &dyn Store,
    expect: &Expect,
    open: &[ReviewItem],
    dead: &[crosswalk::store::DeadLetter],
    v: &mut Vec<String>,
) {
    let live: Vec<&Remote> = truth.remotes(spec.system).iter().filter(|r| r.live).collect();
    let mut by_back: BTreeMap<String, Vec<&Remote>> = BTreeMap::new();
    let mut by_email: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for r in &live {
        if let Some(b) = r.fields.get(spec.back_link).filter(|b| !b.is_empty()) {
            by_back.entry(b.clone()).or_default().push(r);
        }
        let email_field = if spec.system == "hubspot" { "email" } else { "Email" };
        if let Some(e) = r.fields.get(email_field) {
            by_email.entry(e.to_lowercase()).or_default().push(&r.id);
        }
    }
    for (b, rs) in by_back.iter().filter(|(_, rs)| rs.len() > 1) {
        let ids: Vec<_> = rs.iter().map(|r| r.id.as_str()).collect();
        v.push(format!(
            "no duplicates: {} live {} records carry {}={b}: {ids:?}",
            rs.len(),
            spec.system,
            spec.back_link
        ));
    }
    for (e, ids) in by_email.iter().filter(|(_, ids)| ids.len() > 1) {
        if !expect.duplicate_emails.contains(e) {
            v.push(format!(
                "no duplicates: {} live {} records share one email: {ids:?}",
                ids.len(),
                spec.system
            ));
        }
    }
    let mut linked_remotes: BTreeMap<String, i64> = BTreeMap::new();
    for (id, client) in &truth.clients {
        if expect.exempt_clients.contains(id) {
            continue;
        }
        let key = id.to_string();
        let carriers = by_back.get(&key).map(Vec::as_slice).unwrap_or_default();
        let dead_letter = dead.iter().any(|d| d.record_id.as_deref() == Some(key.as_str()));
        let link = match store.link_by_record(spec.name, Side::Left, &key).await {
            Ok(l) => l,
            Err(e) => {
                v.push(format!("oracle: link lookup failed: {e}"));
                continue;
            }
        };
        let Some(link) = link else {
            if !explained(open, spec.name, *id, carriers.first().map(|r| r.id.as_str()), None) && !dead_letter
            {
                v.push(format!(
                    "no loss: client {id} is not linked to any {} record ({} carry its id) and no open review item or dead letter says why",
                    spec.system,
                    carriers.len()
                ));
            }
            continue;
        };
        if let Some(other) = linked_remotes.insert(link.right_id.clone(), *id) {
            v.push(format!(
                "mapping: clients {other} and {id} are both linked to {} {}",
                spec.system, link.right_id
            ));
        }
        let Some(remote) = live.iter().find(|r| r.id == link.right_id) else {
            if !explained(open, spec.name, *id, Some(&link.right_id), None) && !dead_letter {
                v.push(format!(
                    "no loss: client {id} is linked to {} {}, which is not live, and no open review item says why",
                    spec.system, link.right_id
                ));
            }
            continue;
        };
        for c in carriers.iter().filter(|c| c.id != remote.id) {
            v.push(format!(
                "no duplicates: {} {} carries client {id}'s id but the client is linked to {}",
                spec.system, c.id, remote.id
            ));
        }
        for (field, lf, rf, n) in spec.fields {
            let l = norm(*n, true, client.get(*lf).map_or("", String::as_str));
            let r = norm(*n, false, remote.fields.get(*rf).map_or("", String::as_str));
            if l != r && !explained(open, spec.name, *id, Some(&remote.id), Some(field)) {
                v.push(format!(
                    "convergence: {} client {id} / {} {}: field `{field}` differs ({l:?} vs {r:?}) and no open review item explains it",
                    spec.name, spec.system, remote.id
                ));
            }
        }
    }
}

/// Politeness from the wire log: no attempt of a request before the deadline a `Retry-After`
/// on an earlier attempt of it set; the total within budget.
pub fn check_wire(wire: &[WireEntry], expect: &Expect) -> Vec<String> {
    let mut v = Vec::new();
    let mut deadlines: BTreeMap<&str, (chrono::DateTime<chrono::Utc>, u64)> = BTreeMap::new();
    for e in wire {
        if let Some((until, seq)) = deadlines.get(e.request_id.as_str())
            && e.at < *until
        {
            v.push(format!(
                "politeness: {} {} {} (request {}) sent at {} before the Retry-After deadline {} set by request #{seq}",
                e.system, e.method, e.path, e.seq, e.at, until
            ));
        }
        if let Some(until) = e.retry_until
            && !e.request_id.is_empty()
        {
            deadlines.insert(e.request_id.as_str(), (until, e.seq));
        }
    }
    if let Some(budget) = expect.request_budget
        && wire.len() > budget
    {
        v.push(format!("politeness: {} requests, over the budget of {budget}", wire.len()));
    }
    v
}

/// Termination: no write attempted in the given phases.
pub fn check_no_writes(wire: &[WireEntry], phases: &[&str]) -> Vec<String> {
    let writes: Vec<_> = wire.iter().filter(|e| e.write && phases.contains(&e.phase.as_str())).collect();
    let mut by: BTreeMap<(String, &str, &str, &str), usize> = BTreeMap::new();
    for e in &writes {
        *by.entry((e.phase.clone(), e.system, e.method.as_str(), e.path.as_str())).or_default() += 1;
    }
    by.into_iter()
        .map(|((phase, s, m, p), n)| format!("termination: {n} write(s) during `{phase}`: {s} {m} {p}"))
        .collect()
}
