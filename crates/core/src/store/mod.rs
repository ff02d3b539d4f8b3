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
mod catalogue;
mod events;
mod identity;
mod ledger;

pub use admin::{AdminStore, PoolStats};
pub use catalogue::CatalogueStore;
pub use events::EventStore;
pub use identity::IdentityStore;
pub use ledger::LedgerStore;

use crate::error::{Error, Result};
use std::sync::Arc;
use uuid::Uuid;

/// Every area of the storage contract: what a backend is.
pub trait Store: CatalogueStore + LedgerStore + IdentityStore + EventStore + AdminStore {}

impl<T> Store for T where T: CatalogueStore + LedgerStore + IdentityStore + EventStore + AdminStore {}

/// A response recorded under an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

/// Renders the response body that a replay must return verbatim.
pub type Render<T> = Arc<dyn Fn(&T) -> String + Send + Sync>;

/// Asks a store to record the response of a create in the same transaction
/// as the change itself, so that a change is never applied without its key
/// (nor the key kept without the change).
pub struct Idempotency<T> {
    pub user_id: Uuid,
    pub key: String,
    pub request_hash: String,
    pub status: u16,
    pub render: Render<T>,
}

impl<T> Clone for Idempotency<T> {
    fn clone(&self) -> Self {
        Self {
            user_id: self.user_id,
            key: self.key.clone(),
            request_hash: self.request_hash.clone(),
            status: self.status,
            render: self.render.clone(),
        }
    }
}

impl<T> Idempotency<T> {
    /// What a store does with the response it found under this key, read
    /// inside the write's transaction: replay it, or refuse it when it was
    /// recorded for a different request.
    pub fn check(&self, found: Option<StoredResponse>) -> Result<Option<StoredResponse>> {
        match found {
            Some(stored) if stored.request_hash != self.request_hash => {
                Err(Error::IdempotencyMismatch)
            }
            other => Ok(other),
        }
    }

    /// The response body to record for `value`.
    pub fn body(&self, value: &T) -> String {
        (self.render)(value)
    }
}

/// What a create returns: the new value, or the response recorded by an
/// earlier request with the same idempotency key (a race another request won).
#[derive(Debug, Clone)]
pub enum Created<T> {
    New(T),
    Replay(StoredResponse),
}
