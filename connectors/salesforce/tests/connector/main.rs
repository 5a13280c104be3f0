//! The Salesforce connector against the in-process simulator over loopback HTTP.

#[path = "../support/mod.rs"]
mod support;

mod auth_budget;
mod find_many;
mod pull;
mod read;
mod schema;
mod write;
