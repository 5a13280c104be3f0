//! Content hashes and idempotency keys: what makes a re-read free and a retried write the same
//! write. Pure functions of their inputs.

use connector_api::FieldMap;
use sha2::{Digest, Sha256};

use crate::mapping::{CanonMap, Side};
use crate::reconcile::CreatePlan;

/// The content hash of a canonical record, so re-reads of unchanged records cost nothing.
pub(crate) fn canon_hash(canon: &CanonMap) -> String {
    let bytes = serde_json::to_vec(canon).unwrap_or_default();
    hex::encode(&Sha256::digest(&bytes)[..16])
}

/// A stable idempotency key from the parts of an intent.
pub(crate) fn write_key(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..16])
}

/// The key of the create made on the other side for `source_id` of `side` (the same record is
/// always the same create, so a retry finds the first one).
pub(crate) fn create_key(pair: &str, side: Side, source_id: &str) -> String {
    write_key(&["create", pair, side.as_str(), source_id])
}

/// What identifies a refused create: the record and exactly what would be sent.
pub(crate) fn create_refusal(pair: &str, side: Side, plan: &CreatePlan) -> String {
    write_key(&[
        "create",
        pair,
        side.as_str(),
        &plan.source_id,
        &serde_json::to_string(&plan.fields).unwrap_or_default(),
        &serde_json::to_string(&plan.external_id).unwrap_or_default(),
    ])
}

/// The key of the update of `fields` sent to `target` for link `link_id`.
pub(crate) fn update_key(pair: &str, link_id: i64, target: Side, fields: &FieldMap) -> String {
    write_key(&[
        pair,
        &link_id.to_string(),
        target.as_str(),
        &serde_json::to_string(fields).unwrap_or_default(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_their_parts() {
        assert_ne!(write_key(&["ab", "c"]), write_key(&["a", "bc"]), "parts are delimited");
        assert_eq!(write_key(&["a", "b"]), write_key(&["a", "b"]));
        assert_ne!(create_key("p", Side::Left, "1"), create_key("p", Side::Right, "1"));
    }

    #[test]
    fn the_hash_follows_the_content_only() {
        let a: CanonMap = [("email".to_string(), Some("a@x.io".to_string()))].into();
        let mut b = a.clone();
        assert_eq!(canon_hash(&a), canon_hash(&b));
        b.insert("email".into(), None);
        assert_ne!(canon_hash(&a), canon_hash(&b), "a blank value is content");
    }
}
