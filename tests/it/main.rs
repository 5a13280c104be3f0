//! The one integration-test binary. Each module is one area; helpers in `support` spawn what a
//! test needs (a fresh store on each backend, simulators on loopback).
mod acceptance;
mod check_remote;
mod cli;
mod crm_setup;
mod dead_letters;
mod demo;
mod deploy;
mod hubspot_engine;
mod ops;
mod processes;
mod reconcile_table;
mod review_cli;
mod review_pages;
mod review_service;
mod runs;
mod salesforce_engine;
mod secrets_per_command;
mod security;
mod serve_api;
mod serve_browser;
mod status;
mod store_suite;
mod support;
mod sync_convergence;
mod sync_engine;
mod webhooks;
