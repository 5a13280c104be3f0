//! Integration tests for the HubSpot simulator, driven over HTTP against the in-process server.

mod batch;
mod common;
mod control;
mod objects;
mod properties;
mod ratelimit;
mod search;
mod webhooks;
