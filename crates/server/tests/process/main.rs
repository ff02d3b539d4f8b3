//! The process-level tests, one test binary: each runs the real `inventory`
//! binary (`CARGO_BIN_EXE_inventory`) as a child process: its command line,
//! configuration, logs, signals and durability, and PostgreSQL and Redis
//! over TLS with a private CA (`binary`), its backup and
//! moving-between-backends commands (`backup`), three replicas behind
//! nginx restarted one at a time under load (`cluster`), and the OpenAPI
//! document checked against the running binary by schemathesis
//! (`schemathesis`), and the web UI driven in headless Chromium (`ui`).

#[path = "../common/mod.rs"]
mod common;

mod backup;
mod binary;
mod cluster;
mod schemathesis;
mod ui;
