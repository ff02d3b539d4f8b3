//! Users, roles and permissions.
//!
//! Authorization is data: every use case declares one [`Permission`], and
//! [`Permission::min_role`] is the one table saying which role grants it.
//! API tokens with scopes and roles mapped from single sign-on (later
//! issues) narrow or map onto the same permissions.

use crate::error::{FieldError, Result};
use crate::validation::finish;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Roles are ordered: each one may do everything the ones before it may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Clerk,
    Manager,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Self::Viewer, Self::Clerk, Self::Manager, Self::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Clerk => "clerk",
            Self::Manager => "manager",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role grants `permission`.
    pub fn grants(self, permission: Permission) -> bool {
        self >= permission.min_role()
    }
}

/// What a use case needs. Names are `area:action`, the form API token
/// scopes will take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Read items, stock, locations, the ledger and the change feed.
    InventoryRead,
    /// Record stock movements (receive, issue, transfer, adjust) and reverse them.
    StockMove,
    /// Create, edit, archive and restore items (and change their SKU).
    ItemsWrite,
    /// Create and edit locations, and choose the default one.
    LocationsWrite,
    /// Create users.
    UsersManage,
}

impl Permission {
    pub const ALL: [Permission; 5] = [
        Self::InventoryRead,
        Self::StockMove,
        Self::ItemsWrite,
        Self::LocationsWrite,
        Self::UsersManage,
    ];

    /// The table: the least role that grants each permission.
    pub fn min_role(self) -> Role {
        match self {
            Self::InventoryRead => Role::Viewer,
            Self::StockMove => Role::Clerk,
            Self::ItemsWrite | Self::LocationsWrite => Role::Manager,
            Self::UsersManage => Role::Admin,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InventoryRead => "inventory:read",
            Self::StockMove => "stock:move",
            Self::ItemsWrite => "items:write",
            Self::LocationsWrite => "locations:write",
            Self::UsersManage => "users:manage",
        }
    }
}

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
