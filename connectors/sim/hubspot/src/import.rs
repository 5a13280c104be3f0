//! Records as an import or a merge history can leave them: two contacts holding one email, or
//! one contact's email in another's `hs_additional_emails`. The API refuses such a duplicate on
//! every write (spec §3, §13.6: emails are unique across `email` and `hs_additional_emails`),
//! and the spec says nothing of imports; accounts holding such duplicates exist all the same
//! (file imports of contacts that already exist, second-hand), so a test can stage one through
//! this control call (in process, or `POST /_sim/import`), and through nothing on the API.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::SimState;
use crate::error::ApiResult;
use crate::model::{ObjectType, Record};
use crate::props;
use crate::store::Source;

const ADDITIONAL_EMAILS: &str = "hs_additional_emails";

impl SimState {
    /// Seeds one record like `seed` (validated, visible to search at once, no webhook events)
    /// but without the uniqueness checks; `hs_additional_emails` (read-only through the API)
    /// may be given, `;`-separated. Returns the new id.
    pub fn import_duplicate(&self, object: ObjectType, input: &Map<String, Value>) -> ApiResult<u64> {
        let now = self.now_ms();
        let mut input = input.clone();
        let additional = input.remove(ADDITIONAL_EMAILS);
        let mut inner = self.lock();
        let store = &mut inner.store;
        let mut values = props::validate(&store.catalog, object, None, &input)?;
        if let Some(Value::String(emails)) = additional {
            values.insert(ADDITIONAL_EMAILS.to_string(), emails);
        }
        let id = store.next_id();
        let properties = values.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        let rec = Record {
            id,
            object,
            properties,
            created_ms: now,
            updated_ms: now,
            archived_at_ms: None,
            merged_into: None,
        };
        store.commit(rec, now, Source::Seed);
        Ok(id)
    }
}

#[derive(Deserialize)]
struct ImportBody {
    object: ObjectType,
    properties: Map<String, Value>,
}

/// `POST /import {"object", "properties"}` → `{"id"}`, under the control prefix.
pub fn routes() -> Router<SimState> {
    Router::new().route(
        "/import",
        post(|State(s): State<SimState>, Json(b): Json<ImportBody>| async move {
            s.import_duplicate(b.object, &b.properties).map(|id| Json(json!({ "id": id })))
        }),
    )
}
