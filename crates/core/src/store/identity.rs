//! Users and sessions.

use crate::access::Role;
use crate::error::Result;
use crate::identity::{User, UserRecord};
use crate::paging::Page;
use crate::store::idempotency::{Created, Idempotency};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

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
    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>>;
    /// Users by username, after `after` (keyset paging).
    async fn list_users(&self, after: Option<&str>, limit: u32) -> Result<Page<User>>;
    /// Gives a user another role. Demoting the last administrator is a
    /// `last-admin` conflict, decided in the same transaction as the change
    /// (two admins demoting each other at once cannot both succeed).
    async fn set_user_role(&self, id: Uuid, role: Role) -> Result<User>;
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<()>;
    /// The user behind an unexpired session.
    async fn find_session(&self, token_hash: &str) -> Result<Option<(User, DateTime<Utc>)>>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;
}
