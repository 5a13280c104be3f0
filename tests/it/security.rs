//! Security scenarios S1–S8 of ../shared/design/scenarios.md §E, one module per scenario:
//! forged and stale webhooks (S1), replays inside the tolerance window (S2), secret rotation and
//! credential scope (S3), the secret and PII sentinel sweep (S4/S5), admin authorisation (S6),
//! SQL and identifier injection on both store backends (S7) and outbound destinations (S8).

/// Instantiates each `module::case(&TestStore)` once per backend, as
/// `security::sqlite::<case>` and `security::postgres::<case>` (PostgreSQL is skipped without
/// `CROSSWALK_TEST_PG_URL`, as in the store suite).
macro_rules! on_both_backends {
    ($($module:ident :: $case:ident),* $(,)?) => {
        on_both_backends!(@backend sqlite, Backend::Sqlite, $($module::$case),*);
        on_both_backends!(@backend postgres, Backend::Postgres, $($module::$case),*);
    };
    (@backend $name:ident, $backend:expr, $($module:ident :: $case:ident),*) => {
        mod $name {
            use crosswalk::store::Backend;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(t) = crate::support::TestStore::new($backend).await else { return };
                    super::$module::$case(&t).await;
                    t.finish().await;
                }
            )*
        }
    };
}

mod hosts;
mod s10_config;
mod s11_runaway;
mod s12_throttle;
mod s1_forged_webhooks;
mod s2_replay;
mod s3_credentials;
mod s3_rotation;
mod s4_s5_sentinel_sweep;
mod s6_admin;
mod s7_injection;
mod s8_outbound;
mod s9_redirects;
mod sentinels;
mod sim_rig;

on_both_backends!(
    s2_replay::s2_replays_inside_the_window_are_recorded_once,
    s2_replay::s2_receiver_processes_a_replayed_delivery_once,
    s7_injection::s7_sql_looking_values_are_stored_and_matched_literally,
);
