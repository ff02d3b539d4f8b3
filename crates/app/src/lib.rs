//! The application layer of Inventory Manager: every use case, once, for
//! every front end (the REST API, the web UI, the CLI, background jobs).
//!
//! A use case is a method of [`App`] that takes the caller ([`Principal`]),
//! checks the access its [`UseCase`] declares, validates with the rules in
//! `inventory_core`, calls the store, and sends every successful write
//! through the one after-commit hook ([`after_commit`]: caches, the change
//! feed, gauges), so that no writer can forget one. It returns core types
//! and the domain [`Error`]; it knows no HTTP.
//!
//! Also here: sessions, password hashing and sign-in throttling
//! ([`sessions`], [`passwords`], [`throttle`]), idempotency keys ([`idempotency`]), the coherent item
//! cache ([`item_cache`], [`cache`]) and the Redis layer replicas share
//! ([`redis`]). Items and the ledger as CSV, exported and imported:
//! [`spreadsheets`].

pub mod after_commit;
pub mod application;
pub mod audit;
pub mod bounded;
pub mod cache;
pub mod dashboard;
pub mod feed;
pub mod health;
pub mod idempotency;
pub mod invariants;
pub mod item_cache;
pub mod items;
pub mod kept;
pub mod locations;
pub mod movements;
pub mod parties;
pub mod passwords;
pub mod principal;
pub mod purchasing;
pub mod redis;
pub mod reservations;
pub mod sales;
pub mod sessions;
pub mod spreadsheets;
pub mod stocktake;
pub mod throttle;
pub mod tokens;
pub mod users;

pub use application::{App, AppOptions};
pub use cache::CachedItem;
pub use idempotency::{IdempotencyKey, Outcome};
pub use inventory_core::{Error, Result};
pub use principal::{Access, Principal, UseCase};
