//! A [`Store`] wrapper that makes every store commit a crash point (scenarios §H.1) without
//! touching production code: after the `k`-th crash point the commit has happened (the database
//! keeps it), the call returns an error, and every later call fails as if the process were gone.
//! The harness then drops the engine and starts a new one on a freshly opened store.

use std::sync::Arc;

use crosswalk::store::testsuite::{StoreLayer, StoreOp};
use crosswalk::store::{Store, StoreError};

use crate::net::{CrashPoints, Fault, SimNet};

/// See the module docs.
#[derive(Debug)]
pub struct CrashStore {
    inner: Arc<dyn Store>,
    crash: Arc<CrashPoints>,
    net: Arc<SimNet>,
}

impl std::fmt::Debug for SimNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimNet")
    }
}

impl CrashStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>, crash: Arc<CrashPoints>, net: Arc<SimNet>) -> Self {
        Self { inner, crash, net }
    }

    fn alive(&self) -> Result<(), StoreError> {
        if self.crash.is_down() {
            return Err(StoreError::Query("harness: the process is down".into()));
        }
        Ok(())
    }
}

impl StoreLayer for CrashStore {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }

    fn before(&self, _: StoreOp) -> Result<(), StoreError> {
        self.alive()
    }

    /// The crash points: the commits of a page, of write intents and of a webhook event.
    fn after(&self, op: StoreOp, ok: bool) -> Result<(), StoreError> {
        let commit = matches!(op, StoreOp::CommitPage | StoreOp::RecordIntents | StoreOp::RecordEvent);
        if commit && ok && self.crash.pass() {
            self.net.count_fault(Fault::Crash);
            return Err(StoreError::Query("harness: the process crashed after a commit".into()));
        }
        Ok(())
    }
}
