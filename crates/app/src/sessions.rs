//! Signing in and out, and who a bearer token belongs to.
//!
//! Sessions are cached: where one process owns the database (SQLite) in
//! that process; where replicas share it (PostgreSQL), a copy is trusted
//! only with Redis, under the sessions generation every logout bumps
//! ([`crate::redis::Redis::sessions_stamp`]); without Redis every token is
//! checked in the database.

use crate::after_commit::Change;
use crate::application::App;
use crate::cache::CachedItem;
use crate::passwords;
use crate::principal::{Principal, UseCase};
use crate::redis::SessionStamp;
use chrono::{Duration as ChronoDuration, Utc};
use inventory_core::identity::{validate_username, User};
use inventory_core::{Error, Result};
use uuid::Uuid;

/// A new session's token and its user.
pub struct SignedIn {
    pub token: String,
    pub user: User,
    /// Seconds until the token expires.
    pub expires_in: i64,
}

impl App {
    /// Checks a username and password; on success opens a session. A wrong
    /// username costs as long as a wrong password (a dummy hash is checked).
    pub async fn login(&self, username: &str, password: &str) -> Result<SignedIn> {
        self.traced(UseCase::Login, async {
            // No stored user has such a name or password: answer as for a wrong one.
            if validate_username(username).is_err() || password.len() > 1024 {
                return Err(Error::InvalidCredentials);
            }
            let record = self.store.find_user(username).await?;
            let phc = record
                .as_ref()
                .map(|r| r.password_hash.clone())
                .unwrap_or_else(|| passwords::dummy_hash().to_owned());
            let ok = passwords::verify_blocking(password, phc).await?;
            let record = match (ok, record) {
                (true, Some(r)) => r,
                _ => return Err(Error::InvalidCredentials),
            };
            let token = passwords::new_token();
            let expires_at = Utc::now() + ChronoDuration::seconds(passwords::TOKEN_TTL_SECS);
            self.store
                .create_session(&passwords::token_hash(&token), record.user.id, expires_at)
                .await?;
            Ok(SignedIn {
                token,
                user: record.user,
                expires_in: passwords::TOKEN_TTL_SECS,
            })
        })
        .await
    }

    /// Ends the caller's session: the token stops working at once, on every
    /// replica.
    pub async fn logout(&self, caller: &Principal) -> Result<()> {
        self.run(caller, UseCase::Logout, async {
            self.store.delete_session(&caller.token_hash).await?;
            self.after_commit(Change::SessionEnded(&caller.token_hash))
                .await;
            Ok(())
        })
        .await
    }

    /// The caller themself.
    pub fn me(&self, caller: &Principal) -> Result<User> {
        caller.require(UseCase::Me)?;
        Ok(caller.user.clone())
    }

    /// The user a bearer token belongs to, as the caller of use cases.
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        let stamp = match (&self.redis, self.store.shared_by_replicas()) {
            (Some(redis), true) => Some(redis.sessions_stamp().await),
            _ => None,
        };
        self.authenticate_under(token, stamp).await
    }

    /// An authenticated item read (`GET /api/v1/items/{id}`, the hottest
    /// path): with Redis shared by replicas, the session's stamp and the
    /// item's cache state come back in one round trip, then the same checks
    /// as [`Self::authenticate`] and [`Self::get_item`] run in order.
    pub async fn authenticated_item(
        &self,
        token: &str,
        id: Uuid,
    ) -> Result<(Principal, CachedItem)> {
        let (Some(redis), true, crate::item_cache::ItemCache::Shared(local)) =
            (&self.redis, self.store.shared_by_replicas(), &self.items)
        else {
            let caller = self.authenticate(token).await?;
            let item = self.get_item(&caller, id).await?;
            return Ok((caller, item));
        };
        let probe = redis.probe(id).await;
        let stamp = redis.probed_sessions_stamp(&probe);
        let caller = self.authenticate_under(token, Some(stamp)).await?;
        let item = self
            .run(&caller, UseCase::GetItem, async {
                let store = self.store.clone();
                let load = || async move {
                    let item = store.get_item(id).await?;
                    CachedItem::render(&item)
                };
                redis.resolve(id, local, load, probe).await
            })
            .await?;
        Ok((caller, item))
    }

    /// `stamp`: `None` where sessions live in this process only;
    /// `Some(None)` where a copy cannot be trusted now (check the database);
    /// `Some(Some(s))` to trust copies loaded under `s`.
    async fn authenticate_under(
        &self,
        token: &str,
        stamp: Option<Option<SessionStamp>>,
    ) -> Result<Principal> {
        let token_hash = passwords::token_hash(token);
        let stamp = match stamp {
            None => None,
            Some(Some(stamp)) => Some(stamp),
            // No stamp, no trust: ask the database, keep nothing.
            Some(None) => {
                return match self.store.find_session(&token_hash).await? {
                    Some((user, expires_at)) if expires_at > Utc::now() => {
                        Ok(Principal::session(user, token_hash))
                    }
                    _ => Err(Error::Unauthorized),
                };
            }
        };
        let load = || async {
            let (user, expires_at) = self
                .store
                .find_session(&token_hash)
                .await?
                .ok_or(Error::Unauthorized)?;
            Ok::<_, Error>((stamp.clone(), user, expires_at))
        };
        let mut found = self.sessions.get_or_load(&token_hash, load).await?;
        if found.0 != stamp {
            // Loaded under an older stamp: a logout may have ended it since.
            self.sessions.invalidate(&token_hash);
            found = self.sessions.get_or_load(&token_hash, load).await?;
        }
        let (_, user, expires_at) = found;
        if expires_at <= Utc::now() {
            self.sessions.invalidate(&token_hash);
            return Err(Error::Unauthorized);
        }
        Ok(Principal::session(user, token_hash))
    }
}
