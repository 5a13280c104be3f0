//! The state store as the [`SharedQuota`] of the connectors (connector-api's seam): on a
//! PostgreSQL store every worker of one account counts its sends in the same rows
//! (`Store::take_quota`), so N workers never exceed one quota. A SQLite store is one process
//! by design: its connectors keep their in-process limiters alone.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connector_api::http::{BucketPolicy, QuotaAnswer, SharedQuota};

use crate::store::{Backend, QuotaBucket, QuotaTake, Store};

/// A [`SharedQuota`] kept in the state store.
#[derive(Debug, Clone)]
pub struct StoreQuota {
    store: Arc<dyn Store>,
}

impl StoreQuota {
    /// The quota in `store`, whatever its backend (tests use it on SQLite too).
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// The shared quota the connectors of a process on `store` use: the store's on PostgreSQL,
    /// none on SQLite.
    pub fn for_store(store: &Arc<dyn Store>) -> Option<Arc<dyn SharedQuota>> {
        (store.backend() == Backend::Postgres)
            .then(|| Arc::new(Self::new(store.clone())) as Arc<dyn SharedQuota>)
    }
}

#[async_trait]
impl SharedQuota for StoreQuota {
    async fn take(
        &self,
        account: &str,
        buckets: &[BucketPolicy],
        now: DateTime<Utc>,
    ) -> Result<QuotaAnswer, String> {
        let buckets: Vec<QuotaBucket> = buckets
            .iter()
            .map(|b| QuotaBucket { name: b.name.clone(), limit: b.limit, window: b.window })
            .collect();
        match self.store.take_quota(account, &buckets, now).await {
            Ok(QuotaTake::Taken) => Ok(QuotaAnswer::Taken),
            Ok(QuotaTake::NotBefore(t)) => Ok(QuotaAnswer::NotBefore(t)),
            Err(e) => Err(e.to_string()),
        }
    }
}
