//! The in-memory record store: records with their two clocks (`LastModifiedDate` for user
//! writes, `SystemModstamp` for any change), a `visible_at` for late-committing transactions,
//! soft deletes (recycle bin), merge losers and the per-object purge horizon.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::ids;
use crate::schema::{Field, FieldType, ObjectKind};
use crate::time;

/// How long deleted records stay in the recycle bin (and in getDeleted / queryAll).
pub const RECYCLE_BIN_DAYS: i64 = 15;

/// One stored record.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// The 18-char id.
    pub id: String,
    /// Its object.
    pub object: ObjectKind,
    /// Non-system field values by canonical name (absent = null).
    pub fields: BTreeMap<String, String>,
    /// `CreatedDate`.
    pub created: DateTime<Utc>,
    /// `LastModifiedDate`: user (API, import, human) writes only.
    pub last_modified: DateTime<Utc>,
    /// `SystemModstamp`: any change, including system-only ones.
    pub modstamp: DateTime<Utc>,
    /// When the write that produced this state becomes visible to query and getUpdated.
    pub visible_at: DateTime<Utc>,
    /// Set while in the recycle bin (`IsDeleted = true`).
    pub deleted_at: Option<DateTime<Utc>>,
    /// The surviving record when this one lost a merge.
    pub master_record_id: Option<String>,
    /// The committed state readers see while this one is not yet visible (an update inside a
    /// long transaction). `None` for a record created inside it.
    #[serde(skip)]
    pub prior: Option<Box<Record>>,
}

/// A typed field value, for SOQL comparison.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum Val {
    /// null
    Null,
    /// Text or id (ids in 18-char form).
    Text(String),
    /// Checkbox.
    Bool(bool),
    /// dateTime.
    Dt(DateTime<Utc>),
    /// date.
    Date(NaiveDate),
}

impl Record {
    /// The state a query running at `now` sees: this one once visible, else the committed
    /// prior state, else nothing.
    pub fn view(&self, now: DateTime<Utc>) -> Option<&Record> {
        if self.visible_at <= now { Some(self) } else { self.prior.as_deref() }
    }

    /// Starts a write that becomes visible only at `visible_at`, keeping today's state for
    /// readers in between (when it is itself visible).
    pub fn begin_hidden_write(&mut self, now: DateTime<Utc>, visible_at: DateTime<Utc>) {
        if visible_at > now && self.prior.is_none() && self.visible_at <= now {
            let mut snapshot = self.clone();
            snapshot.prior = None;
            self.prior = Some(Box::new(snapshot));
        }
        self.visible_at = visible_at;
    }

    /// The typed value of `field`.
    pub fn value(&self, field: &Field) -> Val {
        let text = |s: Option<&String>| s.map_or(Val::Null, |s| Val::Text(s.clone()));
        match field.name.as_str() {
            "Id" => Val::Text(self.id.clone()),
            "IsDeleted" => Val::Bool(self.deleted_at.is_some()),
            "MasterRecordId" => text(self.master_record_id.as_ref()),
            "CreatedDate" => Val::Dt(self.created),
            "LastModifiedDate" => Val::Dt(self.last_modified),
            "SystemModstamp" => Val::Dt(self.modstamp),
            name => {
                let raw = self.fields.get(name);
                match field.ty {
                    FieldType::Bool => Val::Bool(raw.is_some_and(|v| v == "true")),
                    FieldType::Date => raw.and_then(|d| time::parse_date(d)).map_or(Val::Null, Val::Date),
                    FieldType::DateTime => {
                        raw.and_then(|d| time::parse_datetime(d)).map_or(Val::Null, Val::Dt)
                    }
                    FieldType::Id | FieldType::Text => text(raw),
                }
            }
        }
    }

    /// The REST `attributes.url` of this record.
    pub fn url(&self, version: &str) -> String {
        format!("/services/data/{version}/sobjects/{}/{}", self.object.name(), self.id)
    }

    /// The JSON row with `attributes` and the given fields, in order.
    pub fn to_json(&self, fields: &[Field], version: &str) -> Value {
        let mut m = Map::new();
        m.insert("attributes".into(), json!({"type": self.object.name(), "url": self.url(version)}));
        for f in fields {
            let v = match self.value(f) {
                Val::Null => Value::Null,
                Val::Text(s) => Value::String(s),
                Val::Bool(b) => Value::Bool(b),
                Val::Dt(t) => Value::String(time::render(t)),
                Val::Date(d) => Value::String(time::render_date(d)),
            };
            m.insert(f.name.clone(), v);
        }
        Value::Object(m)
    }
}

/// All records of one simulated org.
#[derive(Debug, Default, Clone)]
pub struct Store {
    records: BTreeMap<String, Record>,
    next: u64,
    /// Per object: the newest physically purged delete (`earliestDateAvailable`).
    purged_until: HashMap<ObjectKind, DateTime<Utc>>,
}

impl Store {
    /// Finds a record by 15- or 18-char id, deleted or not.
    pub fn get(&self, id: &str) -> Option<&Record> {
        self.records.get(&ids::lookup_key(id)?)
    }

    /// Mutable access by 15- or 18-char id.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Record> {
        self.records.get_mut(&ids::lookup_key(id)?)
    }

    /// Every record (ground truth), in id order.
    pub fn all(&self) -> impl Iterator<Item = &Record> {
        self.records.values()
    }

    /// Mutable iteration over every record.
    pub fn all_mut(&mut self) -> impl Iterator<Item = &mut Record> {
        self.records.values_mut()
    }

    /// Stores a new record stamped `stamp` and visible from `visible_at`; returns its 18-char id.
    pub fn insert(
        &mut self,
        object: ObjectKind,
        fields: BTreeMap<String, String>,
        stamp: DateTime<Utc>,
        visible_at: DateTime<Utc>,
    ) -> String {
        self.next += 1;
        let id = ids::to_18(&ids::short_id(object.prefix(), self.next));
        let rec = Record {
            id: id.clone(),
            object,
            fields,
            created: stamp,
            last_modified: stamp,
            modstamp: stamp,
            visible_at,
            deleted_at: None,
            master_record_id: None,
            prior: None,
        };
        self.records.insert(id.to_ascii_lowercase(), rec);
        id
    }

    /// Physically removes recycle-bin entries of `object` deleted at or before `before`, moving
    /// that object's `earliestDateAvailable` forward. Returns how many were purged.
    pub fn purge(&mut self, object: ObjectKind, before: DateTime<Utc>) -> usize {
        let doomed: Vec<(String, DateTime<Utc>)> = self
            .records
            .iter()
            .filter(|(_, r)| r.object == object && r.deleted_at.is_some_and(|d| d <= before))
            .map(|(k, r)| (k.clone(), r.deleted_at.unwrap_or(before)))
            .collect();
        for (key, deleted) in &doomed {
            self.records.remove(key);
            let horizon = self.purged_until.entry(object).or_insert(*deleted);
            *horizon = (*horizon).max(*deleted);
        }
        doomed.len()
    }

    /// The recycle bin keeps deletes for 15 days: purges everything older than that.
    pub fn purge_expired(&mut self, now: DateTime<Utc>) {
        let before = now - chrono::Duration::days(RECYCLE_BIN_DAYS);
        for object in ObjectKind::ALL {
            self.purge(object, before);
        }
    }

    /// The newest purged delete of `object`, if any was purged.
    pub fn purged_until(&self, object: ObjectKind) -> Option<DateTime<Utc>> {
        self.purged_until.get(&object).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        time::parse_datetime(s).unwrap()
    }

    #[test]
    fn ids_are_18_char_and_found_by_15_char_prefix() {
        let mut s = Store::default();
        let now = t("2026-01-01T00:00:00Z");
        let id = s.insert(ObjectKind::Lead, BTreeMap::new(), now, now);
        assert_eq!(id.len(), 18);
        assert!(id.starts_with("00Q"));
        assert_eq!(s.get(&id[..15]).map(|r| r.id.clone()), Some(id.clone()));
        assert!(s.get(&id[..15].to_ascii_lowercase()).is_none(), "15-char ids are case-sensitive");
    }

    #[test]
    fn purge_moves_the_horizon_and_removes_only_old_deletes() {
        let mut s = Store::default();
        let now = t("2026-01-01T00:00:00Z");
        let a = s.insert(ObjectKind::Contact, BTreeMap::new(), now, now);
        let b = s.insert(ObjectKind::Contact, BTreeMap::new(), now, now);
        s.get_mut(&a).unwrap().deleted_at = Some(t("2026-01-02T00:00:00Z"));
        s.get_mut(&b).unwrap().deleted_at = Some(t("2026-01-05T00:00:00Z"));
        assert_eq!(s.purge(ObjectKind::Contact, t("2026-01-03T00:00:00Z")), 1);
        assert!(s.get(&a).is_none() && s.get(&b).is_some());
        assert_eq!(s.purged_until(ObjectKind::Contact), Some(t("2026-01-02T00:00:00Z")));
        assert_eq!(s.purged_until(ObjectKind::Account), None);
    }
}
