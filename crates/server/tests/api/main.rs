//! The HTTP integration tests, one test binary: each test starts the server
//! in this process on a free loopback port with a fresh database
//! (`common::spawn_app*`) and drives it over HTTP with reqwest.
//!
//! `audit`, `contract`, `csv`, `ledger`, `events`, `cache`, `smoke`, `guidance`,
//! `permissions`, `purchasing` and `users` run on the backend
//! that `TEST_BACKEND` names (SQLite by default); scripts/test.sh runs them
//! a second time with `TEST_BACKEND=postgres`, selecting them by module path
//! (a new module that follows `TEST_BACKEND` goes into that list too).
//! `replicas` and `pg_outage` always use PostgreSQL (the shared test cluster,
//! or a private one that `pg_outage` stops and restarts).

#[path = "../common/mod.rs"]
mod common;

mod audit;
mod cache;
mod contract;
mod csv;
mod events;
mod guidance;
mod ledger;
mod listener;
mod permissions;
mod pg_outage;
mod purchasing;
mod replicas;
mod reservations;
mod sales_orders;
mod smoke;
mod users;
