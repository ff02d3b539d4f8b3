//! What a store records under an `Idempotency-Key`, in the same transaction
//! as the change, and what a create returns.

use crate::error::{Error, Result};
use std::sync::Arc;
use uuid::Uuid;

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
