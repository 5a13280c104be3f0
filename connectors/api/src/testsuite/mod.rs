//! Test doubles for the [`Connector`](crate::Connector) contract, shipped by the crate that owns
//! the trait (the quickwit pattern): compiled only with the `testsuite` feature, which tests and
//! benches enable through their dev-dependencies; never part of a release build.
//!
//! - [`Intercept`]: one wrapper around any connector whose hook closures run before and after
//!   each trait method and can hold the call at a [`Gate`], fail it, or alter its answer.
//! - [`LinkedClock`]: a [`ManualClock`](crate::ManualClock) whose every advance (and sleep) also
//!   moves a list of linked clocks, such as the simulators' frozen clocks.
//! - [`Synced`]: an HTTP transport that runs a callback before every request (bringing a
//!   simulator's clock up to the connector's).

mod clock;
mod intercept;
mod transport;

pub use clock::LinkedClock;
pub use intercept::{Answer, Call, Gate, Hook, Intercept};
pub use transport::Synced;
