//! The storage contract, split by area: a backend implements every area's
//! trait and so is a [`Store`]; the contract suite in
//! `inventory-store-tests` judges it. A new business area adds a trait of
//! its own here rather than methods to an existing one.
//!
//! Stores persist what the rules in the area modules decide (entities are
//! built, validated and patched in `core`), keep the atomic guards in SQL,
//! and write each change's event and idempotency record in the change's own
//! transaction.

mod admin;
mod audit;
mod catalogue;
mod events;
mod history;
mod idempotency;
mod identity;
mod ledger;
mod parties;
mod purchasing;
mod reservations;
mod sales;

pub use admin::{AdminStore, PoolStats};
pub use audit::AuditStore;
pub use catalogue::CatalogueStore;
pub use events::EventStore;
pub use history::HistoryStore;
pub use idempotency::{Created, Idempotency, Render, StoredResponse};
pub use identity::{EndSessions, IdentityStore};
pub use ledger::LedgerStore;
pub use parties::PartyStore;
pub use purchasing::PurchaseStore;
pub use reservations::ReservationStore;
pub use sales::{OrderIdem, SalesStore};

/// Every area of the storage contract: what a backend is.
pub trait Store:
    CatalogueStore
    + LedgerStore
    + ReservationStore
    + SalesStore
    + HistoryStore
    + IdentityStore
    + EventStore
    + AdminStore
    + PartyStore
    + PurchaseStore
    + AuditStore
{
}

impl<T> Store for T where
    T: CatalogueStore
        + LedgerStore
        + ReservationStore
        + SalesStore
        + HistoryStore
        + IdentityStore
        + EventStore
        + AdminStore
        + PartyStore
        + PurchaseStore
        + AuditStore
{
}
