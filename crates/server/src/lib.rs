//! The `inventory` binary's crate: HTTP (the REST API in [`api`], the web
//! UI's place in [`web`], the shared plumbing in [`http`], assembled and
//! served by [`service`]), configuration, telemetry, the backup commands,
//! and the process lifecycle ([`startup`]: the store, the first admin, the
//! application, secret rotation, housekeeping). Every use case lives in
//! `inventory_app`; handlers only extract, call one, and render.

pub mod api;
pub mod backup;
pub mod config;
pub mod http;
pub mod service;
pub mod startup;
pub mod telemetry;
pub mod web;

pub use http::listener::{shutdown_signal, ListenerOptions};
pub use service::{serve, serve_with_metrics, serve_with_options};
pub use startup::{bootstrap_admin, build_app, open_store};
