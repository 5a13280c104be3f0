//! One module per subcommand. Each returns an [`Outcome`] that `main` turns into an exit code.

pub mod backfill;
pub mod check;
pub mod check_remote;
#[cfg(feature = "sim")]
pub mod demo;
pub mod explain;
pub mod migrate;
pub mod review;
pub mod run;
pub mod serve;
#[cfg(feature = "sim")]
pub mod sim;
pub mod status;
pub mod sync;

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
