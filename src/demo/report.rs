//! What the demo prints after the cycles: "what changed" judged from the simulators' own records
//! and request logs, and the open review queue as a compact table. The status block is
//! `crosswalk status`'s own ([`crate::status`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sim_core::LoggedRequest;

use crate::store::ReviewItem;

pub use crosswalk_testkit::{Sims, Snapshot};

/// Requests of `log` from index `from` on that write (POST/PATCH/PUT/DELETE), excluding
/// read-only POSTs (searches, batch reads, the OAuth token).
pub fn writes_since(log: &[LoggedRequest], from: usize) -> Vec<&LoggedRequest> {
    log.iter().skip(from).filter(|r| is_write(r)).collect()
}

/// Whether a request changes data.
pub fn is_write(r: &LoggedRequest) -> bool {
    let read_post = r.path.ends_with("/search")
        || r.path.ends_with("/batch/read")
        || r.path.ends_with("/oauth2/token")
        || r.path.contains("/search");
    match r.method.as_str() {
        "PATCH" | "PUT" | "DELETE" => true,
        "POST" => !read_post,
        _ => false,
    }
}

/// Records the requests of `log` wrote without changing any stored value, as the simulator saw
/// it (the value before against the value after each write request).
pub fn unchanged_writes(log: &[LoggedRequest]) -> u32 {
    log.iter().filter_map(|r| r.effect.as_ref()).map(|e| e.unchanged).sum()
}

/// "What changed", from ground truth: counts before → after, clients updated, requests and 429s.
pub fn what_changed(sims: &Sims, before: &Snapshot, after: &Snapshot, marks: &[Snapshot]) -> String {
    let mut s = String::from("What changed (simulators' ground truth)\n");
    let _ =
        writeln!(s, "  HubSpot contacts       {:>4} -> {}", before.hubspot_contacts, after.hubspot_contacts);
    let _ = writeln!(
        s,
        "  Salesforce Contacts    {:>4} -> {}",
        before.salesforce_contacts, after.salesforce_contacts
    );
    let updated =
        after.wlcro_updated.iter().filter(|(id, t)| before.wlcro_updated.get(id) != Some(t)).count();
    let changed = after.wlcro_values.iter().filter(|(id, v)| before.wlcro_values.get(id) != Some(v)).count();
    // Judged per cycle from ground truth: a record written (its `updated_utc` moved) while no
    // value changed. The first time per record is the write-through of the address the CRM owns,
    // which WhiteLabelCRO's API never returns (so crosswalk cannot know it was there already);
    // any further one would be a write that changed nothing.
    let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
    let stages: Vec<&Snapshot> = marks.iter().chain(std::iter::once(after)).collect();
    for w in stages.windows(2) {
        for (id, t) in &w[1].wlcro_updated {
            let written = w[0].wlcro_updated.get(id).is_some_and(|b| b != t);
            if written && w[0].wlcro_values.get(id) == w[1].wlcro_values.get(id) {
                *seen.entry(*id).or_default() += 1;
            }
        }
    }
    let through = seen.len();
    let wasted: usize = seen.values().map(|n| n - 1).sum();
    let _ = writeln!(
        s,
        "  WhiteLabelCRO people   {:>4} -> {} ({updated} written to, {changed} with a value that changed; \
         writes that changed nothing: {wasted}, besides {through} first write-through(s) of the address)",
        before.wlcro_clients, after.wlcro_clients
    );
    for (name, log) in sims.logs() {
        let mut per_cycle = Vec::new();
        for (i, mark) in marks.iter().enumerate() {
            let from = mark.requests.get(name).copied().unwrap_or(0);
            let to = marks.get(i + 1).unwrap_or(after).requests.get(name).copied().unwrap_or(log.len());
            let slice = &log[from.min(log.len())..to.min(log.len())];
            let writes = slice.iter().filter(|r| is_write(r)).count();
            per_cycle.push(format!("cycle {}: {} requests, {writes} writes", i + 1, slice.len()));
        }
        let throttled = log.iter().filter(|r| r.status == 429).count();
        let wasted = unchanged_writes(&log);
        let _ = writeln!(
            s,
            "  {name:<11} {}; 429s received: {throttled}; records written without a change: {wasted}",
            per_cycle.join("; ")
        );
    }
    s
}

/// Shortens a value to `n` characters, with an ellipsis.
fn short(v: Option<&str>, n: usize) -> String {
    let v = v.unwrap_or("-");
    if v.chars().count() <= n {
        v.to_string()
    } else {
        format!("{}…", v.chars().take(n - 1).collect::<String>())
    }
}

/// The open review queue as a table. Values are shown because this is a demo on seeded,
/// made-up people; the product itself never logs field values.
pub fn review_table(items: &[ReviewItem]) -> String {
    let mut s = format!("Open review queue ({} items)\n", items.len());
    let _ = writeln!(
        s,
        "  {:>4}  {:<34} {:<18} {:<11} {:<30}    {:<30}  reason",
        "id", "pair", "kind", "field", "left", "right"
    );
    for i in items {
        let (left, right) = match i.kind {
            crate::store::ReviewKind::AmbiguousIdentity => (
                i.left_id.clone().or_else(|| i.left_value.clone()),
                Some(format!("{} candidates", i.candidates["ids"].as_array().map_or(0, Vec::len))),
            ),
            _ => (i.left_value.clone(), i.right_value.clone()),
        };
        let _ = writeln!(
            s,
            "  {:>4}  {:<34} {:<18} {:<11} {:<30} -> {:<30}  {}",
            i.id,
            short(Some(&i.pair), 34),
            i.kind.as_str(),
            short(i.field.as_deref(), 11),
            short(left.as_deref(), 30),
            short(right.as_deref(), 30),
            short(Some(&i.reason), 60),
        );
    }
    s
}
