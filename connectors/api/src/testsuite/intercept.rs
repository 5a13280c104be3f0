//! One intercepting connector wrapper with hook closures.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::{
    AccessNeed, Capabilities, Connector, ConnectorError, IdentityKey, MissingScope, ObjectSchema, PullPage,
    PullRequest, Record, Write, WriteOutcome,
};

/// A trait call as a `before` hook sees it (the arguments, borrowed).
#[derive(Debug)]
pub enum Call<'a> {
    /// [`Connector::pull`].
    Pull(&'a PullRequest<'a>),
    /// [`Connector::fetch`].
    Fetch { object: &'a str, ids: &'a [String] },
    /// [`Connector::find`].
    Find { object: &'a str, key: &'a IdentityKey },
    /// [`Connector::find_many`].
    FindMany { object: &'a str, field: &'a str, values: &'a [String] },
    /// [`Connector::apply`].
    Apply { object: &'a str, writes: &'a [Write] },
    /// [`Connector::health`].
    Health,
    /// [`Connector::schema`].
    Schema { object: &'a str },
    /// [`Connector::missing_scopes`].
    MissingScopes { needs: &'a [AccessNeed] },
    /// [`Connector::estimate`].
    Estimate { object: &'a str, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>> },
}

/// A successful answer as an `after` hook sees it: mutable, so the hook can alter it.
#[derive(Debug)]
pub enum Answer<'a> {
    /// A pulled page.
    Pull(&'a mut PullPage),
    /// Records read by id.
    Fetch(&'a mut Vec<Record>),
    /// Records found by an identity key.
    Find(&'a mut Vec<Record>),
    /// Records found per value.
    FindMany(&'a mut BTreeMap<String, Vec<Record>>),
    /// Write outcomes.
    Apply(&'a mut Vec<WriteOutcome>),
    /// A health check passed.
    Health,
    /// The object's schema.
    Schema(&'a mut Option<ObjectSchema>),
    /// The scopes found missing.
    MissingScopes(&'a mut Vec<MissingScope>),
    /// A change estimate.
    Estimate(&'a mut Option<u64>),
}

impl Answer<'_> {
    /// The records this answer carries (pulled changes are not records and give none).
    pub fn records(&self) -> Vec<&Record> {
        match self {
            Answer::Fetch(r) | Answer::Find(r) => r.iter().collect(),
            Answer::FindMany(m) => m.values().flatten().collect(),
            _ => Vec::new(),
        }
    }

    /// True when this answer holds the record `id` (a pulled change or a record read).
    pub fn holds(&self, id: &str) -> bool {
        match self {
            Answer::Pull(page) => page.changes.iter().any(|c| c.id == id),
            _ => self.records().iter().any(|r| r.id == id),
        }
    }
}

/// What a hook decides.
pub enum Hook {
    /// Go on.
    Pass,
    /// Fail the call with this error (after the inner call, for an `after` hook).
    Fail(ConnectorError),
    /// Wait for this future first (a [`Gate`], a virtual delay), then go on.
    Wait(Pin<Box<dyn Future<Output = ()> + Send>>),
}

impl Hook {
    /// Waits for `f`, then goes on.
    pub fn wait(f: impl Future<Output = ()> + Send + 'static) -> Hook {
        Hook::Wait(Box::pin(f))
    }

    async fn settle(self) -> Result<(), ConnectorError> {
        match self {
            Hook::Pass => Ok(()),
            Hook::Fail(e) => Err(e),
            Hook::Wait(f) => {
                f.await;
                Ok(())
            }
        }
    }
}

type Before = Arc<dyn Fn(&Call<'_>) -> Hook + Send + Sync>;
type After = Arc<dyn Fn(&mut Answer<'_>) -> Hook + Send + Sync>;

/// Wraps a connector: `before` hooks see each call's arguments ahead of the inner connector,
/// `after` hooks see (and may alter) each successful answer; either can hold the call, fail it
/// or let it pass. Hooks run in the order added. `capabilities` and `missing_fields` pass
/// straight through.
#[derive(Clone)]
pub struct Intercept {
    inner: Arc<dyn Connector>,
    before: Vec<Before>,
    after: Vec<After>,
}

impl Intercept {
    /// A wrapper that changes nothing until hooks are added.
    pub fn new(inner: Arc<dyn Connector>) -> Self {
        Self { inner, before: Vec::new(), after: Vec::new() }
    }

    /// Adds a hook that runs before every call.
    pub fn before(mut self, hook: impl Fn(&Call<'_>) -> Hook + Send + Sync + 'static) -> Self {
        self.before.push(Arc::new(hook));
        self
    }

    /// Adds a hook that runs after every successful call.
    pub fn after(mut self, hook: impl Fn(&mut Answer<'_>) -> Hook + Send + Sync + 'static) -> Self {
        self.after.push(Arc::new(hook));
        self
    }

    /// This wrapper as a shared connector.
    pub fn shared(self) -> Arc<dyn Connector> {
        Arc::new(self)
    }

    async fn enter(&self, call: Call<'_>) -> Result<(), ConnectorError> {
        for hook in &self.before {
            hook(&call).settle().await?;
        }
        Ok(())
    }

    async fn leave(&self, mut answer: Answer<'_>) -> Result<(), ConnectorError> {
        for hook in &self.after {
            hook(&mut answer).settle().await?;
        }
        Ok(())
    }
}

/// The body of every intercepted method: the `before` hooks, the inner call, the `after` hooks.
macro_rules! intercepted {
    ($self:ident, $call:expr, $inner:expr, $answer:path) => {{
        $self.enter($call).await?;
        let mut out = $inner.await?;
        $self.leave($answer(&mut out)).await?;
        Ok(out)
    }};
}

#[async_trait]
impl Connector for Intercept {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn pull(&self, req: PullRequest<'_>) -> Result<PullPage, ConnectorError> {
        intercepted!(self, Call::Pull(&req), self.inner.pull(req.clone()), Answer::Pull)
    }

    async fn fetch(&self, object: &str, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        intercepted!(self, Call::Fetch { object, ids }, self.inner.fetch(object, ids), Answer::Fetch)
    }

    async fn find(&self, object: &str, key: &IdentityKey) -> Result<Vec<Record>, ConnectorError> {
        intercepted!(self, Call::Find { object, key }, self.inner.find(object, key), Answer::Find)
    }

    async fn find_many(
        &self,
        object: &str,
        field: &str,
        values: &[String],
    ) -> Result<BTreeMap<String, Vec<Record>>, ConnectorError> {
        intercepted!(
            self,
            Call::FindMany { object, field, values },
            self.inner.find_many(object, field, values),
            Answer::FindMany
        )
    }

    async fn apply(&self, object: &str, writes: Vec<Write>) -> Result<Vec<WriteOutcome>, ConnectorError> {
        self.enter(Call::Apply { object, writes: &writes }).await?;
        let mut out = self.inner.apply(object, writes).await?;
        self.leave(Answer::Apply(&mut out)).await?;
        Ok(out)
    }

    async fn health(&self) -> Result<(), ConnectorError> {
        self.enter(Call::Health).await?;
        self.inner.health().await?;
        self.leave(Answer::Health).await
    }

    fn missing_fields(&self, object: &str) -> Vec<String> {
        self.inner.missing_fields(object)
    }

    fn stop_on(&self, stop: crate::StopToken) {
        self.inner.stop_on(stop);
    }

    async fn schema(&self, object: &str) -> Result<Option<ObjectSchema>, ConnectorError> {
        intercepted!(self, Call::Schema { object }, self.inner.schema(object), Answer::Schema)
    }

    async fn missing_scopes(&self, needs: &[AccessNeed]) -> Result<Vec<MissingScope>, ConnectorError> {
        intercepted!(
            self,
            Call::MissingScopes { needs },
            self.inner.missing_scopes(needs),
            Answer::MissingScopes
        )
    }

    async fn estimate(
        &self,
        object: &str,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Option<u64>, ConnectorError> {
        intercepted!(
            self,
            Call::Estimate { object, since, until },
            self.inner.estimate(object, since, until),
            Answer::Estimate
        )
    }
}

/// A one-shot gate: the first [`hold`](Gate::hold) pauses its call until [`open`](Gate::open)
/// (a process paused mid-run); later holds pass. [`entered`](Gate::entered) waits until a call
/// is held. Clones share the gate.
#[derive(Clone)]
pub struct Gate {
    state: Arc<GateState>,
}

struct GateState {
    armed: AtomicBool,
    entered: Notify,
    open: Notify,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// A closed gate, armed for one call.
    pub fn new() -> Self {
        Self {
            state: Arc::new(GateState {
                armed: AtomicBool::new(true),
                entered: Notify::new(),
                open: Notify::new(),
            }),
        }
    }

    /// The first time: says so and waits for [`open`](Gate::open); later times: passes.
    pub fn hold(&self) -> Hook {
        if !self.state.armed.swap(false, Ordering::SeqCst) {
            return Hook::Pass;
        }
        let state = self.state.clone();
        Hook::wait(async move {
            state.entered.notify_one();
            state.open.notified().await;
        })
    }

    /// Waits until a call is held at the gate.
    pub async fn entered(&self) {
        self.state.entered.notified().await;
    }

    /// Lets the held call go on (or the next one through, if none is held yet).
    pub fn open(&self) {
        self.state.open.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Checkpoint;

    struct Fixed;

    #[async_trait]
    impl Connector for Fixed {
        fn capabilities(&self) -> Capabilities {
            Capabilities { kind: "fixed".into(), objects: Vec::new(), rate_buckets: Vec::new() }
        }
        async fn pull(&self, _: PullRequest<'_>) -> Result<PullPage, ConnectorError> {
            Ok(PullPage {
                changes: Vec::new(),
                quarantined: Vec::new(),
                next: Checkpoint(serde_json::Value::Null),
                newest: None,
                done: true,
            })
        }
        async fn fetch(&self, _: &str, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
            Ok(ids
                .iter()
                .map(|id| Record {
                    object: "x".into(),
                    id: id.clone(),
                    modified_at: DateTime::UNIX_EPOCH,
                    fields: Default::default(),
                    deleted: false,
                })
                .collect())
        }
        async fn find(&self, _: &str, _: &IdentityKey) -> Result<Vec<Record>, ConnectorError> {
            Ok(Vec::new())
        }
        async fn apply(&self, _: &str, _: Vec<Write>) -> Result<Vec<WriteOutcome>, ConnectorError> {
            Ok(Vec::new())
        }
        async fn health(&self) -> Result<(), ConnectorError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn hooks_fail_alter_and_hold_calls() {
        let gate = Gate::new();
        let g = gate.clone();
        let c = Intercept::new(Arc::new(Fixed))
            .before(|call| match call {
                Call::Health => {
                    Hook::Fail(ConnectorError::Transient { message: "down".into(), retry_after: None })
                }
                _ => Hook::Pass,
            })
            .after(move |answer| {
                if let Answer::Fetch(records) = answer {
                    records.retain(|r| r.id != "b");
                }
                if answer.holds("a") { g.hold() } else { Hook::Pass }
            })
            .shared();
        assert!(c.health().await.is_err(), "a before hook fails the call");
        let task = {
            let c = c.clone();
            tokio::spawn(async move { c.fetch("x", &["a".into(), "b".into()]).await })
        };
        gate.entered().await;
        assert!(!task.is_finished(), "the first fetch holding `a` waits at the gate");
        gate.open();
        let got = task.await.unwrap().unwrap();
        assert_eq!(got.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["a"], "after hooks alter");
        assert_eq!(c.fetch("x", &["a".into()]).await.unwrap().len(), 1, "a later call passes the gate");
    }
}
