//! Connector tests against the in-process HubSpot simulator over loopback.

mod backfill;
mod common;
mod estimate;
mod find_many;
mod limits;
mod pull;
mod schema;
mod webhook;
mod window;
mod write;
