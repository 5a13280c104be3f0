//! One module per subcommand. Each returns an [`Outcome`] that `main` turns into an exit code.

pub mod backfill;
pub mod check;
pub mod check_remote;
pub mod demo;
pub mod explain;
pub mod migrate;
pub mod review;
pub mod run;
pub mod serve;
pub mod sim;
pub mod status;
pub mod summary;
pub mod sync;

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
