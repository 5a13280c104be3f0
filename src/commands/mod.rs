//! One module per subcommand. Each returns an [`Outcome`] that `main` turns into an exit code.

pub mod backfill;
pub mod check;
pub mod check_remote;
pub mod dead_letters;
#[cfg(feature = "sim")]
pub mod demo;
pub mod explain;
pub mod init;
pub mod migrate;
pub mod resume;
pub mod review;
pub mod run;
pub mod serve;
pub mod signals;
#[cfg(feature = "sim")]
pub mod sim;
pub mod status;
pub mod summary;
pub mod sync;

use crate::settings::Need;

/// The secrets and settings `command` uses; it refuses to start only over problems with these
/// (and with the configuration in general). One table, also printed by `check`.
pub fn needs(command: &crate::cli::Command) -> &'static [Need] {
    use crate::cli::Command as C;
    match command {
        // `status --no-probe` reads only the store.
        C::Status(args) if args.no_probe => &[],
        // Cycles send alerts (breaker, failing pairs, queue, lag); `resume` says a breaker closed.
        // `run --serve` is both: the cycles' and the server's secrets.
        C::Run { serve: true, .. } => &[Need::Credentials, Need::Alerts, Need::Serve],
        C::Sync { .. } | C::Run { .. } => &[Need::Credentials, Need::Alerts],
        C::Resume { .. } => &[Need::Alerts],
        C::Backfill { .. } | C::Status(_) => &[Need::Credentials],
        // Only the store: a retry stores a hint that the next run (with the credentials) uses.
        C::DeadLetters { .. } => &[],
        C::Serve { .. } => &[Need::Credentials, Need::Serve],
        C::Check { remote: true } => &[Need::Credentials],
        _ => &[],
    }
}

/// The commands `check` reports on, with what each needs (same table as [`needs`]).
pub const COMMAND_NEEDS: [(&str, &[Need]); 6] = [
    ("sync, run", &[Need::Credentials, Need::Alerts]),
    ("backfill, status", &[Need::Credentials]),
    ("resume", &[Need::Alerts]),
    ("serve", &[Need::Credentials, Need::Serve]),
    ("run --serve", &[Need::Credentials, Need::Alerts, Need::Serve]),
    ("migrate, review, explain, dead-letters, status --no-probe", &[]),
];

/// What `crosswalk sim` and `crosswalk demo` say in a build without the `sim` feature.
#[cfg(not(feature = "sim"))]
pub const NO_SIMULATORS: &str = "this build has no simulators (built without the `sim` feature); \
     use a default build (`cargo build --release`) to run `crosswalk sim` and `crosswalk demo`";

/// How a command ended, as an exit code an operator or a scheduler can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done; nothing needs a person (exit 0).
    Ok,
    /// An operator must act (exit 1): bad config, auth failure, store unreachable.
    ActionNeeded,
}

impl Outcome {
    /// The process exit code.
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Ok => 0,
            Self::ActionNeeded => 1,
        }
    }
}

/// Opens the configured store and brings its schema up to date; on failure says why (the
/// operator must act) and answers the outcome to exit with.
pub async fn open_store(
    settings: &crate::settings::Settings,
) -> Result<std::sync::Arc<dyn crate::store::Store>, Outcome> {
    let failed = |e: crate::store::StoreError| {
        crate::telemetry::fail(&e.to_string());
        Outcome::ActionNeeded
    };
    let store = crate::store::open(&settings.store.url).await.map_err(failed)?;
    store.migrate().await.map_err(failed)?;
    Ok(store)
}
