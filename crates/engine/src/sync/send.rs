//! Sending writes to one side: record the intents (fenced by the lease), batch by the target's
//! limit, take one outcome per item, and split a batch the remote rejected as a whole so one bad
//! row cannot sink the rest. Retries of transient failures happen in the connector's HTTP
//! client, never here. Every stage that writes (updates, creates, back-links, resolutions) sends
//! through [`execute`].

use std::collections::BTreeMap;

use connector_api::{ConnectorError, ErrorClass, Write, WriteResult};
use serde_json::json;

use crate::mapping::Side;
use crate::store::WriteIntent;

use super::context::PairContext;
use super::error::SyncError;

/// Sends `writes` to `side` and answers one result per write key.
pub(crate) async fn execute(
    ctx: &PairContext,
    side: Side,
    writes: Vec<Write>,
) -> Result<BTreeMap<String, WriteResult>, SyncError> {
    let mut results = BTreeMap::new();
    if writes.is_empty() {
        return Ok(results);
    }
    let ep = ctx.pair.endpoint(side);
    let connector = ctx.connector(side);
    let max_batch = connector.capabilities().object(&ep.object).map_or(1, |o| o.max_batch.max(1));
    let now = ctx.clock.now();
    let intents: Vec<WriteIntent> = writes
        .iter()
        .map(|w| WriteIntent {
            key: w.key.clone(),
            pair: ctx.pair.name.clone(),
            system: ep.system.clone(),
            object: ep.object.clone(),
            op_json: json!(w.op),
            run_id: ctx.run_id.clone(),
            created_at: now,
        })
        .collect();
    // Fenced: a process that lost its lease (paused past it while another claimed the pair)
    // stops here, before any remote write.
    ctx.store.record_intents(&ctx.lease, &intents).await.map_err(|e| SyncError::fenced(&ctx.pair.name, e))?;
    for batch in writes.chunks(max_batch) {
        send(ctx, side, batch.to_vec(), &mut results).await?;
    }
    Ok(results)
}

/// Sends one batch; on a whole-batch rejection of the data, halves it until the bad rows are
/// alone. Auth and quota failures stop the pair.
async fn send(
    ctx: &PairContext,
    side: Side,
    batch: Vec<Write>,
    results: &mut BTreeMap<String, WriteResult>,
) -> Result<(), SyncError> {
    let mut stack = vec![batch];
    let object = &ctx.pair.endpoint(side).object;
    while let Some(batch) = stack.pop() {
        match ctx.connector(side).apply(object, batch.clone()).await {
            Ok(outcomes) => {
                for outcome in outcomes {
                    // A per-item auth or quota refusal (a key missing a write scope answers every
                    // item 403) is about the credentials, not the record: it stops the pair like a
                    // whole-batch one, instead of parking every record as a rejected write.
                    if let Err(e) = &outcome.result
                        && matches!(e.class(), ErrorClass::Auth | ErrorClass::QuotaExhausted)
                    {
                        return Err(ctx.err(side, e.clone()));
                    }
                    results.insert(outcome.key, outcome.result);
                }
                for w in &batch {
                    results.entry(w.key.clone()).or_insert_with(|| {
                        Err(ConnectorError::Protocol {
                            message: "the remote returned no outcome for this item".into(),
                        })
                    });
                }
            }
            Err(e) if e.is_permanent() && batch.len() > 1 => {
                let mut first = batch;
                let second = first.split_off(first.len() / 2);
                stack.push(second);
                stack.push(first);
            }
            Err(e) if e.is_permanent() || e.is_retryable() => {
                for w in &batch {
                    results.insert(w.key.clone(), Err(e.clone()));
                }
            }
            Err(e) => return Err(ctx.err(side, e)),
        }
    }
    Ok(())
}
