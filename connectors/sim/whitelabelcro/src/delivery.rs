//! Event emission and signed webhook delivery (spec §4.2–§4.4): one envelope per POST,
//! `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret UTF-8 bytes, raw body)>`, unsigned
//! `X-Webhook-Timestamp`/`-Event-Id`/`-Event-Type`/`-Attempt` headers; 1 + 10 attempts with retry n
//! sent 2^(n-1) min after the previous failure (±10 % seeded jitter, switchable); circuit breaker
//! after 5 exhausted events or 50 failed attempts in a row. Deliveries run only when
//! [`SimState::deliver_due`] is called (tests) or from the CLI ticker.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use crate::model::{Attempt, Delivery, DeliveryState, Event, Source, Store, whole_second};
use crate::state::SimState;

/// Retries after the first attempt (spec §4.4 fact: at most 10).
pub const MAX_RETRIES: u32 = 10;
/// Circuit breaker: events in a row that exhausted their retries.
pub const BREAKER_EXHAUSTED: u32 = 5;
/// Circuit breaker: failed attempts in a row.
pub const BREAKER_ATTEMPTS: u32 = 50;

/// Webhook faults (scenarios §H.3): duplicate and reordered deliveries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookFaults {
    /// Probability (0–1) that a send is immediately repeated (same attempt number, same body).
    pub duplicate_rate: f64,
    /// When true, each `deliver_due` batch is sent in reverse order (newest first).
    pub reorder: bool,
}

/// The signature header value for `body` under `secret` (key = the secret's UTF-8 bytes).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key size");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delay before retry `n` (1-based): 2^(n-1) minutes.
pub fn retry_delay(n: u32) -> Duration {
    Duration::minutes(1i64 << n.saturating_sub(1).min(20))
}

impl Store {
    /// Appends an event (whole-second `createdUtc`) and queues it for every active subscription of
    /// the company that lists its type (case-sensitive). Returns a copy.
    pub fn emit(
        &mut self,
        company: i64,
        kind: &str,
        payload: Value,
        source: Source,
        at: DateTime<Utc>,
    ) -> Event {
        let id = self.next_event_id;
        self.next_event_id += 1;
        let ev = Event {
            id,
            kind: kind.to_string(),
            created_utc: whole_second(at),
            company_id: company,
            payload,
            metadata: source.metadata(),
        };
        self.events.push(ev.clone());
        let body = serde_json::to_vec(&ev).unwrap_or_default();
        let subs: Vec<i64> = self
            .subscriptions
            .values()
            .filter(|s| s.is_active && s.company_id == company && s.event_types.iter().any(|t| t == kind))
            .map(|s| s.id)
            .collect();
        for sub in subs {
            let did = self.next_delivery_id;
            self.next_delivery_id += 1;
            let d = Delivery {
                id: did,
                subscription_id: sub,
                event_id: id,
                attempts: 0,
                next_at: at,
                state: DeliveryState::Pending,
                body: body.clone(),
            };
            self.deliveries.insert(did, d);
        }
        ev
    }

    /// Drops a subscription's pending deliveries (it was disabled or deleted).
    pub fn drop_pending(&mut self, sub: i64) {
        for d in self.deliveries.values_mut() {
            if d.subscription_id == sub && d.state == DeliveryState::Pending {
                d.state = DeliveryState::Dropped;
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Outbound {
    delivery_id: i64,
    subscription_id: i64,
    event_id: i64,
    kind: String,
    attempt: u32,
    url: String,
    body: Vec<u8>,
    signature: String,
    duplicate: bool,
}

#[derive(Debug)]
struct Outcome {
    status: Option<u16>,
    error: Option<String>,
    elapsed_ms: u64,
}

impl Outcome {
    fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

impl SimState {
    /// Performs every delivery due at `now` (first attempts and retries), in (due time, id) order
    /// unless the reorder fault is on. Returns how many POSTs were sent (duplicates included).
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> usize {
        let batch = self.take_due(now);
        let mut results = Vec::with_capacity(batch.len());
        for ob in batch {
            let outcome = self.send(&ob, now).await;
            results.push((ob, outcome));
        }
        let sent = results.len();
        let mut inner = self.lock();
        let jitter = inner.jitter;
        for (ob, out) in results {
            inner.store.attempts.push(Attempt {
                delivery_id: ob.delivery_id,
                subscription_id: ob.subscription_id,
                event_id: ob.event_id,
                attempt: ob.attempt,
                at: now,
                status: out.status,
                error: out.error.clone(),
                elapsed_ms: out.elapsed_ms,
                duplicate: ob.duplicate,
            });
            if ob.duplicate {
                continue;
            }
            let factor = if jitter { inner.rng.random_range(0.9..=1.1) } else { 1.0 };
            apply_outcome(&mut inner.store, &ob, out.ok(), now, factor);
        }
        sent
    }

    fn take_due(&self, now: DateTime<Utc>) -> Vec<Outbound> {
        let mut inner = self.lock();
        let mut due: Vec<(DateTime<Utc>, i64)> = Vec::new();
        let mut inactive = Vec::new();
        for d in inner.store.deliveries.values() {
            if d.state != DeliveryState::Pending || d.next_at > now {
                continue;
            }
            match inner.store.subscriptions.get(&d.subscription_id) {
                Some(s) if s.is_active => due.push((d.next_at, d.id)),
                _ => inactive.push(d.id),
            }
        }
        for id in inactive {
            if let Some(d) = inner.store.deliveries.get_mut(&id) {
                d.state = DeliveryState::Dropped;
            }
        }
        due.sort();
        let faults = inner.hook_faults.clone();
        if faults.reorder {
            due.reverse();
        }
        let mut out = Vec::new();
        for (_, id) in due {
            let Some(d) = inner.store.deliveries.get(&id) else { continue };
            let Some(s) = inner.store.subscriptions.get(&d.subscription_id) else { continue };
            let kind = inner.store.events.iter().find(|e| e.id == d.event_id).map(|e| e.kind.clone());
            let ob = Outbound {
                delivery_id: d.id,
                subscription_id: s.id,
                event_id: d.event_id,
                kind: kind.unwrap_or_default(),
                attempt: d.attempts + 1,
                url: s.target_url.clone(),
                signature: sign(&s.secret, &d.body),
                body: d.body.clone(),
                duplicate: false,
            };
            let dup = faults.duplicate_rate > 0.0 && inner.rng.random_bool(faults.duplicate_rate.min(1.0));
            out.push(ob.clone());
            if dup {
                out.push(Outbound { duplicate: true, ..ob });
            }
        }
        out
    }

    async fn send(&self, ob: &Outbound, now: DateTime<Utc>) -> Outcome {
        let started = std::time::Instant::now();
        let res = self
            .http
            .post(&ob.url)
            .header("content-type", "application/json")
            .header("x-webhook-signature", &ob.signature)
            .header("x-webhook-timestamp", now.timestamp().to_string())
            .header("x-webhook-event-id", ob.event_id.to_string())
            .header("x-webhook-event-type", &ob.kind)
            .header("x-webhook-attempt", ob.attempt.to_string())
            .body(ob.body.clone())
            .send()
            .await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match res {
            Ok(r) => Outcome { status: Some(r.status().as_u16()), error: None, elapsed_ms },
            Err(e) => {
                let class = if e.is_timeout() { "timeout" } else { "connect" };
                Outcome { status: None, error: Some(class.to_string()), elapsed_ms }
            }
        }
    }
}

fn apply_outcome(store: &mut Store, ob: &Outbound, ok: bool, now: DateTime<Utc>, jitter: f64) {
    let Some(d) = store.deliveries.get_mut(&ob.delivery_id) else { return };
    if d.state != DeliveryState::Pending {
        return;
    }
    d.attempts = ob.attempt;
    let mut exhausted = false;
    if ok {
        d.state = DeliveryState::Delivered;
    } else if d.attempts > MAX_RETRIES {
        d.state = DeliveryState::Exhausted;
        exhausted = true;
    } else {
        let base = retry_delay(d.attempts).num_milliseconds() as f64;
        d.next_at = now + Duration::milliseconds((base * jitter).round() as i64);
    }
    let Some(s) = store.subscriptions.get_mut(&ob.subscription_id) else { return };
    if ok {
        s.failed_attempts_in_row = 0;
        s.exhausted_in_row = 0;
        return;
    }
    s.failed_attempts_in_row += 1;
    if exhausted {
        s.exhausted_in_row += 1;
    }
    if s.is_active
        && (s.exhausted_in_row >= BREAKER_EXHAUSTED || s.failed_attempts_in_row >= BREAKER_ATTEMPTS)
    {
        s.is_active = false;
        tracing::info!(subscription_id = s.id, "webhook circuit breaker disabled a subscription");
        store.drop_pending(ob.subscription_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn retry_schedule_doubles_from_one_minute() {
        let mins: Vec<i64> = (1..=MAX_RETRIES).map(|n| retry_delay(n).num_minutes()).collect();
        assert_eq!(mins, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 512]);
    }
}
