//! The demo's seeded data: one deterministic mix of WhiteLabelCRO clients, HubSpot contacts and
//! Salesforce Contacts (pre-linked, email-only matches, true conflicts, an ambiguous duplicate,
//! records that exist on one side only), written through the simulators' control API.
//!
//! Every record is stamped five minutes in the past (the simulators' clocks are shifted back while
//! seeding): data that existed before crosswalk was installed, safely behind the engine's horizon.

use serde_json::{Map, Value, json};
use sim_hubspot::ObjectType;

/// Total WhiteLabelCRO clients.
pub const CLIENTS: usize = 200;
/// Clients pre-linked to HubSpot (both back-links set and agreeing); the last
/// [`HUBSPOT_CONFLICTS`] of them disagree on the first name.
pub const HUBSPOT_LINKED: usize = 60;
/// Pre-linked HubSpot contacts whose first name differs from the client's.
pub const HUBSPOT_CONFLICTS: usize = 4;
/// Clients matchable on HubSpot only by email (case differs).
pub const HUBSPOT_BY_EMAIL: usize = 40;
/// HubSpot contacts with no client (link-only pair: never created on WhiteLabelCRO).
pub const HUBSPOT_ONLY: usize = 8;
/// Salesforce Contacts pre-linked through `WLCRO_Id__c`; the last [`SALESFORCE_CONFLICTS`]
/// disagree on the first name.
pub const SALESFORCE_LINKED: usize = 40;
/// Pre-linked Salesforce Contacts whose first name differs.
pub const SALESFORCE_CONFLICTS: usize = 2;
/// Clients matchable on Salesforce only by email.
pub const SALESFORCE_BY_EMAIL: usize = 20;
/// Salesforce Contacts with no client.
pub const SALESFORCE_ONLY: usize = 5;

const FIRST: [&str; 16] = [
    "Ava", "Ben", "Cara", "Dev", "Elle", "Finn", "Gia", "Hugo", "Iris", "Jon", "Kira", "Liam", "Maya",
    "Noah", "Opal", "Ravi",
];
const LAST: [&str; 13] = [
    "Adams", "Brooks", "Chen", "Diaz", "Evans", "Foster", "Garcia", "Hayes", "Ito", "Jensen", "Khan",
    "Lopez", "Moreau",
];
const PLACES: [(&str, &str, &str); 6] = [
    ("Austin", "TX", "78701"),
    ("Denver", "CO", "80202"),
    ("Portland", "OR", "97201"),
    ("Raleigh", "NC", "27601"),
    ("Madison", "WI", "53703"),
    ("Tucson", "AZ", "85701"),
];
/// WhiteLabelCRO statuses (clients, not leads) with the HubSpot stage the mapping gives them.
const STATUSES: [(&str, &str); 4] = [
    ("Active Client", "customer"),
    ("On Hold", "customer"),
    ("Completed", "customer"),
    ("Cancelled", "other"),
];

/// One client as seeded, with what the other systems hold for it.
#[derive(Debug, Clone)]
pub struct Person {
    /// Index in the seed.
    pub index: usize,
    /// First name.
    pub first: String,
    /// Last name.
    pub last: String,
    /// Lower-case email.
    pub email: String,
    /// Phone as WhiteLabelCRO holds it (`(415) 2xx-xxxx`).
    pub phone: String,
    /// Its E.164 form, as HubSpot and Salesforce hold it.
    pub phone_e164: String,
    /// City, state, zip.
    pub place: (&'static str, &'static str, &'static str),
    /// WhiteLabelCRO status and the HubSpot stage it maps to.
    pub status: (&'static str, &'static str),
}

/// The person behind client `i`.
pub fn person(i: usize) -> Person {
    let first = FIRST[i % FIRST.len()].to_string();
    let last = LAST[(i * 7 + i / FIRST.len()) % LAST.len()].to_string();
    let email = format!("{}.{}{i}@example.test", first.to_lowercase(), last.to_lowercase());
    let (exchange, line) = (200 + i % 700, 1000 + i);
    Person {
        index: i,
        phone: format!("(415) {exchange}-{line}"),
        phone_e164: format!("+1415{exchange}{line}"),
        place: PLACES[i % PLACES.len()],
        status: STATUSES[i % STATUSES.len()],
        first,
        last,
        email,
    }
}

/// What was seeded, for the report and the tests.
#[derive(Debug, Clone, Default)]
pub struct Seeded {
    /// WhiteLabelCRO client ids, by seed index.
    pub client_ids: Vec<i64>,
    /// Client ids whose HubSpot first name disagrees.
    pub hubspot_conflicts: Vec<i64>,
    /// Client ids whose Salesforce first name disagrees.
    pub salesforce_conflicts: Vec<i64>,
    /// The client whose email two Salesforce Contacts share.
    pub ambiguous_client: i64,
    /// HubSpot contacts seeded.
    pub hubspot_contacts: usize,
    /// Salesforce Contacts seeded.
    pub salesforce_contacts: usize,
}

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
#[error("seeding {system}: {message}")]
pub struct SeedError {
    /// The simulator.
    pub system: &'static str,
    /// What it said.
    pub message: String,
}

fn err(system: &'static str) -> impl Fn(String) -> SeedError {
    move |message| SeedError { system, message }
}

fn props(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), json!(v))).collect()
}

/// Which index ranges play which role.
fn hubspot_by_email(i: usize) -> bool {
    (HUBSPOT_LINKED..HUBSPOT_LINKED + HUBSPOT_BY_EMAIL).contains(&i)
}
fn salesforce_by_email(i: usize) -> bool {
    (100..100 + SALESFORCE_BY_EMAIL).contains(&i)
}
/// The seed index of the client whose email two Salesforce Contacts share.
pub const AMBIGUOUS_INDEX: usize = 130;

/// Seeds all three simulators (their clocks must be shifted back by the caller).
pub fn seed_all(
    wlcro: &sim_whitelabelcro::SimState,
    hubspot: &sim_hubspot::SimState,
    salesforce: &sim_salesforce::SimState,
) -> Result<Seeded, SeedError> {
    let mut out = Seeded::default();
    let people: Vec<Person> = (0..CLIENTS).map(person).collect();

    // HubSpot first: pre-linked clients carry `hubspot_<id>` in their external_id.
    let hs_contact = |p: &Person, first: &str, email: &str| {
        props(&[
            ("email", email),
            ("firstname", first),
            ("lastname", &p.last),
            ("phone", &p.phone_e164),
            ("city", p.place.0),
            ("state", p.place.1),
            ("zip", p.place.2),
            ("lifecyclestage", p.status.1),
        ])
    };
    let mut hs_records = Vec::new();
    for p in &people[..HUBSPOT_LINKED + HUBSPOT_BY_EMAIL] {
        let conflict = (HUBSPOT_LINKED - HUBSPOT_CONFLICTS..HUBSPOT_LINKED).contains(&p.index);
        let first = if conflict { format!("{}-Marie", p.first) } else { p.first.clone() };
        hs_records.push(hs_contact(p, &first, &p.email));
    }
    for k in 0..HUBSPOT_ONLY {
        let p = person(1000 + k);
        hs_records.push(hs_contact(&p, &p.first, &format!("hs-only{k}@example.test")));
    }
    let hs_ids =
        hubspot.seed(ObjectType::Contacts, &hs_records).map_err(|e| err("hubspot")(e.to_string()))?;
    out.hubspot_contacts = hs_ids.len();

    for p in &people {
        let linked = p.index < HUBSPOT_LINKED;
        let email = if hubspot_by_email(p.index) || salesforce_by_email(p.index) {
            p.email.to_uppercase()
        } else {
            p.email.clone()
        };
        let r = sim_whitelabelcro::SeedRecord {
            first_name: p.first.clone(),
            last_name: p.last.clone(),
            email,
            phone: Some(p.phone.clone()),
            city: Some(p.place.0.into()),
            state: Some(p.place.1.into()),
            zip: Some(p.place.2.into()),
            status: Some(p.status.0.into()),
            external_id: linked.then(|| format!("hubspot_{}", hs_ids[p.index])),
            ..Default::default()
        };
        let id = wlcro.seed_at(r, false, true, None).map_err(|e| err("wlcro")(e.to_string()))?;
        out.client_ids.push(id);
    }
    for p in &people[..HUBSPOT_LINKED] {
        let id = out.client_ids[p.index];
        let back = props(&[("wlcro_client_id", &id.to_string())]);
        hubspot
            .external_edit(ObjectType::Contacts, hs_ids[p.index], &back)
            .map_err(|e| err("hubspot")(e.to_string()))?;
        if p.index >= HUBSPOT_LINKED - HUBSPOT_CONFLICTS {
            out.hubspot_conflicts.push(id);
        }
    }

    // Salesforce: pre-linked through WLCRO_Id__c, email-only matches, one ambiguous email.
    let sf_contact = |p: &Person, first: &str, email: &str, link: Option<i64>| {
        let mut f = props(&[
            ("FirstName", first),
            ("LastName", &p.last),
            ("Email", email),
            ("Phone", &p.phone_e164),
            ("MailingCity", p.place.0),
            ("MailingState", p.place.1),
            ("MailingPostalCode", p.place.2),
            ("WLCRO_Status__c", p.status.0),
        ]);
        if let Some(id) = link {
            f.insert("WLCRO_Id__c".into(), json!(id.to_string()));
        }
        sim_salesforce::SeedRecord {
            object: Some(sim_salesforce::ObjectKind::Contact),
            fields: f,
            ..Default::default()
        }
    };
    let mut sf = Vec::new();
    for p in &people[..SALESFORCE_LINKED] {
        let id = out.client_ids[p.index];
        let conflict = p.index >= SALESFORCE_LINKED - SALESFORCE_CONFLICTS;
        let first = if conflict { format!("{}-Ann", p.first) } else { p.first.clone() };
        if conflict {
            out.salesforce_conflicts.push(id);
        }
        sf.push(sf_contact(p, &first, &p.email, Some(id)));
    }
    for p in people.iter().filter(|p| salesforce_by_email(p.index)) {
        sf.push(sf_contact(p, &p.first, &p.email, None));
    }
    let amb = &people[AMBIGUOUS_INDEX];
    out.ambiguous_client = out.client_ids[AMBIGUOUS_INDEX];
    sf.push(sf_contact(amb, &amb.first, &amb.email, None));
    sf.push(sf_contact(amb, &amb.first, &amb.email, None));
    for k in 0..SALESFORCE_ONLY {
        let p = person(2000 + k);
        sf.push(sf_contact(&p, &p.first, &format!("sf-only{k}@example.test"), None));
    }
    out.salesforce_contacts = sf.len();
    salesforce.seed(sf).map_err(|e| err("salesforce")(format!("{e:?}")))?;
    Ok(out)
}
