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
use crate::throttle;
use chrono::{Duration as ChronoDuration, Utc};
use inventory_core::audit::{action, AuditActor, AuditContext, NewAuditEntry, Via};
use inventory_core::identity::{
    check_user_password, validate_username, ChangePassword, Session, SessionClient, SessionRecord,
    User,
};
use inventory_core::store::EndSessions;
use inventory_core::{Error, Result};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use uuid::Uuid;

/// A session's `last_used_at` is written at most once in this many seconds.
const TOUCH_EVERY_SECS: i64 = 60;

/// A new session's token and its user.
pub struct SignedIn {
    pub token: String,
    pub user: User,
    /// Seconds until the token expires.
    pub expires_in: i64,
}

impl App {
    /// Checks a username and password; on success opens a session,
    /// recording where it came from. A wrong username costs as long as a
    /// wrong password (a dummy hash is checked), and a disabled user is
    /// refused exactly as a wrong password is.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: &SessionClient,
    ) -> Result<SignedIn> {
        // Entries of this sign-in name the client it came from.
        let context = AuditContext {
            client_addr: client.addr.clone(),
            ..AuditContext::current()
        };
        context
            .scope(self.traced(UseCase::Login, async {
                // No stored user has such a name or password: answer as for a wrong one.
                // Throttled before anything is hashed, whether or not the user
                // exists; every refusal below counts as a failure.
                let limits = throttle::limits(username, client.addr.as_deref());
                let redis = self.redis.as_ref();
                self.sign_in_throttle.check(redis, &limits).await?;
                if validate_username(username).is_err() || password.len() > 1024 {
                    self.sign_in_throttle.failed(redis, &limits).await;
                    return Err(Error::InvalidCredentials);
                }
                let record = self.store.find_user(username).await?;
                // An unknown user costs the same hashing as a known one, so the
                // answer's timing does not tell them apart.
                let phc = record
                    .as_ref()
                    .map(|r| r.password_hash.clone())
                    .unwrap_or_else(|| passwords::dummy_hash().to_owned());
                let ok = passwords::verify_blocking(password, phc).await?;
                let record = match (ok, record) {
                    (true, Some(r)) if !r.user.disabled => r,
                    (_, record) => {
                        self.sign_in_throttle.failed(redis, &limits).await;
                        let target = record.map_or_else(
                            || username.chars().take(64).collect(),
                            |r| r.user.id.to_string(),
                        );
                        let changes =
                            serde_json::json!({"before": null, "after": {"username": username}});
                        // Nobody is signed in: an anonymous caller (no user).
                        let anonymous = AuditActor::nobody(Via::Session);
                        let entry = AuditContext::current_as(anonymous).sync_scope(|| {
                            NewAuditEntry::new(action::USER_SIGN_IN_FAILED, "user", target, changes)
                        });
                        self.store.record_audit(entry).await?;
                        return Err(Error::InvalidCredentials);
                    }
                };
                self.sign_in_throttle.succeeded(redis, &limits).await;
                let token = passwords::new_token();
                let expires_at = Utc::now() + ChronoDuration::seconds(passwords::TOKEN_TTL_SECS);
                // The new session's entry is the user's own.
                let user = &record.user;
                AuditContext::current_as(AuditActor::user(
                    user.id,
                    &user.username,
                    Via::Session,
                    None,
                ))
                .scope(self.store.create_session(
                    &passwords::token_hash(&token),
                    user.id,
                    expires_at,
                    client,
                ))
                .await?;
                Ok(SignedIn {
                    token,
                    user: record.user,
                    expires_in: passwords::TOKEN_TTL_SECS,
                })
            }))
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

    /// Changes the caller's own password: the current one must be right
    /// (else `wrong-password`), the new one must pass the policy. Clears
    /// `must_change_password` and ends the caller's other sessions,
    /// keeping this one.
    pub async fn change_own_password(
        &self,
        caller: &Principal,
        input: ChangePassword,
    ) -> Result<User> {
        self.run(caller, UseCase::ChangeOwnPassword, async {
            let me = &caller.user;
            let username = me.username.as_str();
            if let Err(message) = check_user_password(
                &input.new_password,
                username,
                me.display_name.as_deref(),
                me.email.as_deref(),
            ) {
                return Err(Error::invalid("new_password", message));
            }
            let record = self
                .store
                .find_user(username)
                .await?
                .ok_or(Error::Unauthorized)?;
            if input.current_password.len() > 1024
                || !passwords::verify_blocking(&input.current_password, record.password_hash)
                    .await?
            {
                return Err(Error::WrongPassword);
            }
            let hash = passwords::hash_blocking(input.new_password).await?;
            let user = self
                .store
                .set_password(
                    caller.user.id,
                    &hash,
                    false,
                    EndSessions::AllBut(&caller.token_hash),
                )
                .await?;
            self.after_commit(Change::UserChanged).await;
            Ok(user)
        })
        .await
    }

    /// The caller's own sessions, the current one marked.
    pub async fn list_my_sessions(&self, caller: &Principal) -> Result<Vec<Session>> {
        self.run(caller, UseCase::ListMySessions, async {
            let mut sessions = self.store.list_sessions(caller.user.id).await?;
            for s in &mut sessions {
                s.current = s.id == caller.session_id;
            }
            Ok(sessions)
        })
        .await
    }

    /// Ends one of the caller's own sessions (`not-found` for anyone
    /// else's), at once on every replica.
    pub async fn end_my_session(&self, caller: &Principal, session_id: Uuid) -> Result<()> {
        self.run(caller, UseCase::EndMySession, async {
            self.end_session_of(caller.user.id, session_id).await
        })
        .await
    }

    /// Ends a session of `user_id` and drops it from every cache.
    pub(crate) async fn end_session_of(&self, user_id: Uuid, session_id: Uuid) -> Result<()> {
        let token_hash = self.store.end_session(user_id, session_id).await?;
        self.after_commit(Change::SessionEnded(&token_hash)).await;
        Ok(())
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
                    Some(session) if session.expires_at > Utc::now() => {
                        let touched = last_touch(&session);
                        self.touch(&session, &touched);
                        Ok(Principal::from_record(&session, token_hash, self.policy))
                    }
                    _ => Err(Error::Unauthorized),
                };
            }
        };
        let load = || async {
            let session = self
                .store
                .find_session(&token_hash)
                .await?
                .ok_or(Error::Unauthorized)?;
            let touched = last_touch(&session);
            Ok::<_, Error>((stamp.clone(), session, touched))
        };
        let mut found = self.sessions.get_or_load(&token_hash, load).await?;
        if found.0 != stamp {
            // Loaded under an older stamp: a logout may have ended it since.
            self.sessions.invalidate(&token_hash);
            found = self.sessions.get_or_load(&token_hash, load).await?;
        }
        let (_, session, touched) = found;
        if session.expires_at <= Utc::now() {
            self.sessions.invalidate(&token_hash);
            return Err(Error::Unauthorized);
        }
        self.touch(&session, &touched);
        Ok(Principal::from_record(&session, token_hash, self.policy))
    }

    /// Records that a session is in use, at most once a minute per session
    /// and process (`touched`: when it was last recorded, shared by the
    /// cached copies), in the background: a request never waits for it.
    fn touch(&self, session: &SessionRecord, touched: &AtomicI64) {
        let now = Utc::now();
        let last = touched.load(Ordering::Relaxed);
        if now.timestamp() - last < TOUCH_EVERY_SECS
            || touched
                .compare_exchange(last, now.timestamp(), Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let (store, id) = (self.store.clone(), session.id);
        tokio::spawn(async move {
            if let Err(e) = store.touch_session(id, inventory_core::now()).await {
                tracing::debug!(error = %e, "could not record a session's last use");
            }
        });
    }
}

/// When a session was last recorded as used, in seconds since the epoch.
fn last_touch(session: &SessionRecord) -> Arc<AtomicI64> {
    Arc::new(AtomicI64::new(
        session.last_used_at.map_or(0, |t| t.timestamp()),
    ))
}
