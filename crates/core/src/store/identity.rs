//! Users and sessions.

use crate::error::Result;
use crate::identity::{User, UserRecord};
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
