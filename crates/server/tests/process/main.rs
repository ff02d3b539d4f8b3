//! The process-level tests, one test binary: each runs the real `inventory`
//! binary (`CARGO_BIN_EXE_inventory`) as a child process: its command line,
//! configuration, logs, signals and durability (`binary`), its backup and
//! moving-between-backends commands (`backup`), and three replicas behind
//! nginx restarted one at a time under load (`cluster`).

#[path = "../common/mod.rs"]
mod common;

mod backup;
mod binary;
mod cluster;
