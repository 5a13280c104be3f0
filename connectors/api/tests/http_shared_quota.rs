//! The client's shared quota (`HttpClient::with_shared_quota`): asked after the local limiter
//! admitted a send, with the limits in force; a full quota makes the send wait until the time
//! it names; a quota that cannot answer (its database down) leaves the local limiter in charge,
//! so the request is still sent, once, and still paced locally.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connector_api::http::{BucketPolicy, HttpClient, QuotaAnswer, RequestSpec, SharedQuota, account_key};
use connector_api::{Clock, ManualClock};

mod support;
use support::{Remote, policy};

/// One question to the quota: account, buckets, time.
type Asked = (String, Vec<BucketPolicy>, DateTime<Utc>);

/// Answers from a script; records what it was asked.
#[derive(Debug, Default)]
struct Scripted {
    answers: Mutex<Vec<Result<QuotaAnswer, String>>>,
    asked: Mutex<Vec<Asked>>,
}

#[async_trait]
impl SharedQuota for Scripted {
    async fn take(
        &self,
        account: &str,
        buckets: &[BucketPolicy],
        now: DateTime<Utc>,
    ) -> Result<QuotaAnswer, String> {
        self.asked.lock().unwrap().push((account.to_string(), buckets.to_vec(), now));
        let mut answers = self.answers.lock().unwrap();
        if answers.is_empty() { Ok(QuotaAnswer::Taken) } else { answers.remove(0) }
    }
}

fn client(remote: &Arc<Remote>, clock: &ManualClock, quota: &Arc<Scripted>) -> HttpClient {
    HttpClient::new(remote.clone(), clock.shared(), 1, policy())
        .with_system("WhiteLabelCRO")
        .with_shared_quota(quota.clone(), "acct".into())
}

#[tokio::test]
async fn a_full_shared_quota_holds_the_send_until_the_time_it_names() {
    let clock = ManualClock::at_epoch();
    let start = clock.now();
    let remote = Remote::new(200, None);
    let later = start + chrono::Duration::seconds(42);
    let quota = Arc::new(Scripted::default());
    quota.answers.lock().unwrap().push(Ok(QuotaAnswer::NotBefore(later)));
    let c = client(&remote, &clock, &quota);
    c.send(RequestSpec::post("http://h/api/v1/integrations/leads").bucket("write")).await.unwrap();
    assert_eq!(remote.sent(), ["POST"], "sent once, after the wait");
    assert_eq!(clock.now(), later);
    let asked = quota.asked.lock().unwrap();
    assert_eq!(asked.len(), 2, "asked again at the time it named");
    assert_eq!(asked[1].2, later);
    assert_eq!(asked[0].0, "acct");
    assert_eq!(
        asked[0].1,
        [BucketPolicy::new("write", 100, Duration::from_secs(60))],
        "the configured limit"
    );
}

#[tokio::test]
async fn a_shared_quota_that_cannot_answer_leaves_the_local_limiter_in_charge() {
    let clock = ManualClock::at_epoch();
    let start = clock.now();
    let remote = Remote::new(200, None);
    let quota = Arc::new(Scripted::default());
    quota.answers.lock().unwrap().extend((0..61).map(|_| Err("database unreachable".to_string())));
    let c = client(&remote, &clock, &quota);
    for _ in 0..61 {
        c.send(RequestSpec::get("http://h/api/v1/events").bucket("read")).await.unwrap();
    }
    assert_eq!(remote.sent().len(), 61, "every request sent, none lost or doubled");
    // The local 60/min still paces: the 61st waited for the first to leave the window.
    assert_eq!(clock.now() - start, chrono::Duration::seconds(60));
}

#[test]
fn the_account_key_never_holds_the_credential() {
    let key = account_key("whitelabelcro", "https://api.example.test/", "sk_live_secret");
    assert!(key.starts_with("whitelabelcro https://api.example.test "), "{key}");
    assert!(!key.contains("sk_live_secret"));
    assert_ne!(key, account_key("whitelabelcro", "https://api.example.test", "another key"));
    assert_eq!(key, account_key("whitelabelcro", "https://api.example.test", "sk_live_secret"));
}
