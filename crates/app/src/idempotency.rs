//! `Idempotency-Key`: a create repeated with the same key and the same
//! request gets the first response again and applies nothing.
//!
//! A key is claimed in this process while its create runs (a duplicate in
//! flight is a 409), checked against the recorded responses (same request:
//! replay; another request: 422), and the create's store write records the
//! response in its own transaction, so a change is never applied without
//! its key. Keys are per user. A create that failed records nothing, so it
//! can be retried with the same key.

use crate::application::App;
use crate::principal::Principal;
use inventory_core::error::ConflictKind;
use inventory_core::store::{Created, Idempotency, Render, StoredResponse};
use inventory_core::{Error, FieldError, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::sync::Arc;
use uuid::Uuid;

/// A request's idempotency key with the hash of what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    key: String,
    request_hash: String,
}

impl IdempotencyKey {
    /// `key` as the client sent it; `route` and `body` name the request, so
    /// that the same key with another request is refused.
    pub fn new(key: &str, route: &str, body: &[u8]) -> Result<Self> {
        if !(1..=255).contains(&key.len()) || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::Validation(vec![FieldError::new(
                "Idempotency-Key",
                "must be 1-255 visible ASCII characters",
            )]));
        }
        let mut hasher = Sha256::new();
        hasher.update(route.as_bytes());
        hasher.update([0]);
        hasher.update(body);
        Ok(Self {
            key: key.to_owned(),
            request_hash: hex::encode(hasher.finalize()),
        })
    }
}

/// What a create returns: the new value, or the response recorded for the
/// same key and request before.
#[derive(Debug, Clone)]
pub enum Outcome<T> {
    New(T),
    Replay(StoredResponse),
}

impl<T> Outcome<T> {
    /// The new value transformed (a replay is already rendered).
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Self::New(v) => Outcome::New(f(v)),
            Self::Replay(stored) => Outcome::Replay(stored),
        }
    }
}

/// Holds a key's in-flight claim until the create is over.
pub struct Claim<'a> {
    app: &'a App,
    user_id: Uuid,
    key: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.app.in_flight.lock() {
            set.remove(&(self.user_id, std::mem::take(&mut self.key)));
        }
    }
}

/// The JSON of a value, as the recorded response body.
pub(crate) fn json<T: Serialize + 'static>() -> Render<T> {
    Arc::new(|value: &T| serde_json::to_string(value).unwrap_or_default())
}

impl App {
    /// Runs `create` under the caller's key, if there is one: a recorded
    /// response is replayed, a key in flight refused, and otherwise the
    /// store is asked to record `render(value)` with `status` in the
    /// create's transaction.
    pub(crate) async fn idempotent<T, F, Fut>(
        &self,
        caller: &Principal,
        key: Option<IdempotencyKey>,
        status: u16,
        render: Render<T>,
        create: F,
    ) -> Result<Outcome<T>>
    where
        F: FnOnce(Option<Idempotency<T>>) -> Fut,
        Fut: Future<Output = Result<Created<T>>>,
    {
        let Some(IdempotencyKey { key, request_hash }) = key else {
            return Ok(outcome(create(None).await?));
        };
        let user_id = caller.user.id;
        {
            let mut set = self.in_flight.lock().map_err(Error::internal)?;
            if !set.insert((user_id, key.clone())) {
                return Err(Error::conflict(
                    ConflictKind::IdempotencyInFlight,
                    "a request with this Idempotency-Key is still in flight; retry when it has finished",
                ));
            }
        }
        let claim = Claim {
            app: self,
            user_id,
            key: key.clone(),
        };
        let record = Idempotency {
            user_id,
            key,
            request_hash,
            status,
            render,
        };
        let found = self.store.find_idempotent(user_id, &record.key).await?;
        if let Some(stored) = record.check(found)? {
            return Ok(Outcome::Replay(stored));
        }
        let created = create(Some(record)).await;
        drop(claim);
        Ok(outcome(created?))
    }

    /// Holds `key` as an in-flight create would, until the returned guard
    /// is dropped (for tests of the 409).
    #[doc(hidden)]
    pub fn hold_idempotency_key(&self, caller: &Principal, key: &str) -> Claim<'_> {
        if let Ok(mut set) = self.in_flight.lock() {
            set.insert((caller.user.id, key.to_owned()));
        }
        Claim {
            app: self,
            user_id: caller.user.id,
            key: key.to_owned(),
        }
    }
}

fn outcome<T>(created: Created<T>) -> Outcome<T> {
    match created {
        Created::New(v) => Outcome::New(v),
        Created::Replay(stored) => Outcome::Replay(stored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_and_name_their_request() {
        assert!(IdempotencyKey::new("", "r", b"").is_err());
        assert!(IdempotencyKey::new("a b", "r", b"").is_err());
        assert!(IdempotencyKey::new(&"k".repeat(256), "r", b"").is_err());
        let a = IdempotencyKey::new("k-1", "POST /x", b"{}").unwrap();
        let b = IdempotencyKey::new("k-1", "POST /y", b"{}").unwrap();
        assert_ne!(a, b, "the route is part of the request");
    }
}
