//! Connector tests against the in-process HubSpot simulator over loopback.

mod common;
mod pull;
mod write;
mod limits;
mod webhook;
