//! Users and sessions.

use crate::error::Result;
use crate::identity::{
    ApiToken, NewApiToken, Session, SessionClient, SessionRecord, User, UserPatch, UserQuery,
    UserRecord,
};
use crate::paging::Page;
use crate::store::idempotency::{Created, Idempotency};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What a password change does to the user's sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndSessions<'a> {
    /// All of them, API tokens too (an admin's reset, the CLI).
    All,
    /// All sign-in sessions but the one with this token hash (the user's
    /// own change); API tokens stay.
    AllBut(&'a str),
}

#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    async fn count_users(&self) -> Result<i64>;
    /// Inserts `user` (built by `CreateUser::into_user`); a taken username
    /// is a `duplicate-username` conflict.
    async fn create_user(
        &self,
        user: User,
        password_hash: &str,
        idem: Option<Idempotency<User>>,
    ) -> Result<Created<User>>;
    /// A user by username, disabled or not, with the password hash.
    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>>;
    /// A user by id (`not-found` when there is none).
    async fn get_user(&self, id: Uuid) -> Result<User>;
    /// Users by username, after `query.after` (keyset paging), filtered.
    async fn list_users(&self, query: &UserQuery) -> Result<Page<User>>;
    /// Applies `patch` (`UserPatch::apply`) in one transaction. Losing the
    /// last enabled administrator (by demotion or by disabling) is a
    /// `last-admin` conflict decided in that transaction, so two admins
    /// demoting or disabling each other at once cannot both succeed. A
    /// user disabled by the patch loses every session in it. With
    /// `if_version`, a user at another version (`User::version`) is
    /// `PreconditionFailed` and nothing changes.
    async fn update_user(
        &self,
        id: Uuid,
        patch: &UserPatch,
        if_version: Option<i64>,
    ) -> Result<User>;
    /// Sets a user's password hash and `must_change_password`, and ends
    /// their sessions as `end` says, in one transaction.
    async fn set_password(
        &self,
        id: Uuid,
        password_hash: &str,
        must_change_password: bool,
        end: EndSessions<'_>,
    ) -> Result<User>;
    /// How many enabled administrators there are.
    async fn count_enabled_admins(&self) -> Result<i64>;
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
        client: &SessionClient,
    ) -> Result<()>;
    /// The unexpired session behind a token, of a user who is not disabled.
    async fn find_session(&self, token_hash: &str) -> Result<Option<SessionRecord>>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;
    /// Records that a session was used at `at`, unless it was recorded
    /// less than a minute before (callers write at most once a minute).
    async fn touch_session(&self, id: Uuid, at: DateTime<Utc>) -> Result<()>;
    /// A user's unexpired sign-in sessions (not API tokens), newest first
    /// (`current` is false in each).
    async fn list_sessions(&self, user_id: Uuid) -> Result<Vec<Session>>;
    /// Ends one sign-in session of a user and returns its token hash (so
    /// that caches can drop it); `not-found` when the user has no such
    /// session.
    async fn end_session(&self, user_id: Uuid, session_id: Uuid) -> Result<String>;
    /// Stores an API token of `user_id` (a session row of kind `token`,
    /// found by `find_session` like any other, with its scopes).
    async fn create_api_token(
        &self,
        token_hash: &str,
        user_id: Uuid,
        token: &NewApiToken,
    ) -> Result<ApiToken>;
    /// A user's unexpired API tokens, newest first.
    async fn list_api_tokens(&self, user_id: Uuid) -> Result<Vec<ApiToken>>;
    /// Revokes (deletes) one API token of a user and returns its hash;
    /// `not-found` when the user has no such token.
    async fn revoke_api_token(&self, user_id: Uuid, token_id: Uuid) -> Result<String>;
}
