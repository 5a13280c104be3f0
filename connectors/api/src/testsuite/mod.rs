//! Test doubles for the [`Connector`](crate::Connector) contract, shipped by the crate that owns
//! the trait (the quickwit pattern): compiled only with the `testsuite` feature, which tests and
//! benches enable through their dev-dependencies (and `crosswalk-testkit`, the demo's world).
//!
//! - [`Intercept`]: one wrapper around any connector whose hook closures run before and after
//!   each trait method and can hold the call at a [`Gate`], fail it, or alter its answer.
//! - [`LinkedClock`]: a [`ManualClock`](crate::ManualClock) whose every advance (and sleep) also
//!   moves a list of linked clocks, such as the simulators' frozen clocks (which makes a
//!   transport that brings a simulator's clock up to the connector's before each request
//!   unnecessary).

mod clock;
mod intercept;

pub use clock::LinkedClock;
pub use intercept::{Answer, Call, Gate, Hook, Intercept};
