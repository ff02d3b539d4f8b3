//! Users, their roles and permissions (defined in [`crate::access`]).

pub use crate::access::{Permission, Role};
use crate::error::{FieldError, Result};
use crate::validation::finish;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// A user as stored, with the argon2id PHC string of the password.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub user: User,
    pub password_hash: String,
}

/// `POST /api/v1/users` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    pub role: Role,
}

pub fn validate_username(username: &str) -> Result<(), FieldError> {
    let ok = (1..=64).contains(&username.chars().count())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "username",
            "must be 1-64 characters of letters, digits, '.', '_', '-' or '@'",
        ))
    }
}

impl CreateUser {
    pub fn validate(&self) -> Result<()> {
        let mut errors = Vec::new();
        if let Err(e) = validate_username(&self.username) {
            errors.push(e);
        }
        let len = self.password.chars().count();
        if !(8..=1024).contains(&len) {
            errors.push(FieldError::new("password", "must be 8-1024 characters"));
        }
        finish(errors)
    }

    /// The user to store, created now.
    pub fn into_user(self, now: DateTime<Utc>) -> (User, String) {
        let user = User {
            id: Uuid::now_v7(),
            username: self.username,
            role: self.role,
            created_at: now,
        };
        (user, self.password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_the_table_says_and_nothing_below_it() {
        for permission in Permission::ALL {
            for role in Role::ALL {
                assert_eq!(role.grants(permission), role >= permission.min_role());
            }
            assert!(Role::Admin.grants(permission), "admin may do everything");
        }
        assert!(!Role::Viewer.grants(Permission::StockMove));
        assert!(Role::Clerk.grants(Permission::StockMove));
        assert!(!Role::Clerk.grants(Permission::ItemsWrite));
        assert!(!Role::Manager.grants(Permission::UsersManage));
    }
}
