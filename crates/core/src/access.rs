//! Roles and permissions: who may do what. A leaf of the domain (it needs
//! nothing else), so that the error type and every area can name them.
//!
//! Authorization is data: every use case declares one [`Permission`], and
//! [`Permission::min_role`] is the one table saying which role grants it.
//! API tokens with scopes and roles mapped from single sign-on (later
//! issues) narrow or map onto the same permissions.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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

    /// Whether this role grants `permission` (under the default policy).
    pub fn grants(self, permission: Permission) -> bool {
        self.grants_under(AccessPolicy::default(), permission)
    }

    /// Whether this role grants `permission` under `policy`.
    pub fn grants_under(self, policy: AccessPolicy, permission: Permission) -> bool {
        self >= policy.min_role(permission)
    }
}

/// What a deployment changes in the table of [`Permission::min_role`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccessPolicy {
    /// `INVENTORY_CLERKS_MAY_ADJUST=true`: clerks may also adjust stock and
    /// post counts (as before managers alone could).
    pub clerks_may_adjust: bool,
}

impl AccessPolicy {
    /// The least role that grants `permission` under this policy.
    pub fn min_role(self, permission: Permission) -> Role {
        match permission {
            Permission::StockAdjust if self.clerks_may_adjust => Role::Clerk,
            other => other.min_role(),
        }
    }
}

/// What a use case needs. Names are `area:action`, the form API token
/// scopes will take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Read items, stock, locations, the ledger and the change feed.
    InventoryRead,
    /// Record stock movements (receive, issue, transfer) and reverse them.
    StockMove,
    /// Correct stock: `adjust` movements and posting stock counts. Managers
    /// by default; [`AccessPolicy::clerks_may_adjust`] extends it to clerks.
    StockAdjust,
    /// Create, edit, archive and restore items (and change their SKU).
    ItemsWrite,
    /// Create and edit locations, and choose the default one.
    LocationsWrite,
    /// Create users.
    UsersManage,
    /// Check the database's invariants (a full read of the stock tables)
    /// and read the audit trail.
    SystemInspect,
    /// Create, change and release reservations.
    ReservationsWrite,
    /// Create and edit sales orders, hold, confirm and ship them.
    SalesOrdersWrite,
    /// Create and edit purchase-order drafts, and receive against them.
    PurchaseOrdersWrite,
    /// Submit (confirm) purchase orders to their supplier.
    PurchaseOrdersSubmit,
    /// Cancel sales and purchase orders.
    OrdersCancel,
    /// Create and edit suppliers and customers.
    PartiesWrite,
}

impl Permission {
    pub const ALL: [Permission; 13] = [
        Self::InventoryRead,
        Self::StockMove,
        Self::StockAdjust,
        Self::ItemsWrite,
        Self::LocationsWrite,
        Self::UsersManage,
        Self::SystemInspect,
        Self::ReservationsWrite,
        Self::SalesOrdersWrite,
        Self::PurchaseOrdersWrite,
        Self::PurchaseOrdersSubmit,
        Self::OrdersCancel,
        Self::PartiesWrite,
    ];

    /// The table: the least role that grants each permission.
    pub fn min_role(self) -> Role {
        match self {
            Self::InventoryRead => Role::Viewer,
            Self::StockMove
            | Self::ReservationsWrite
            | Self::SalesOrdersWrite
            | Self::PurchaseOrdersWrite => Role::Clerk,
            Self::StockAdjust
            | Self::ItemsWrite
            | Self::LocationsWrite
            | Self::PurchaseOrdersSubmit
            | Self::OrdersCancel
            | Self::PartiesWrite => Role::Manager,
            Self::UsersManage | Self::SystemInspect => Role::Admin,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InventoryRead => "inventory:read",
            Self::StockMove => "stock:move",
            Self::StockAdjust => "stock:adjust",
            Self::ItemsWrite => "items:write",
            Self::LocationsWrite => "locations:write",
            Self::UsersManage => "users:manage",
            Self::SystemInspect => "system:inspect",
            Self::ReservationsWrite => "reservations:write",
            Self::SalesOrdersWrite => "sales-orders:write",
            Self::PurchaseOrdersWrite => "purchase-orders:write",
            Self::PurchaseOrdersSubmit => "purchase-orders:submit",
            Self::OrdersCancel => "orders:cancel",
            Self::PartiesWrite => "parties:write",
        }
    }
}

/// What an API token may be limited to: each scope covers some
/// permissions, and a token may do what its scopes cover **and** its
/// owner's role grants, checked at every request.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum Scope {
    /// Read items, stock, locations, the ledger, orders and the change feed.
    #[serde(rename = "read")]
    Read,
    /// Movements (adjustments too, where the role allows), counts and reservations.
    #[serde(rename = "stock:write")]
    StockWrite,
    /// Sales and purchase orders: create, change, hold, confirm, ship, receive, cancel.
    #[serde(rename = "orders:write")]
    OrdersWrite,
    /// Items, locations and parties.
    #[serde(rename = "catalog:write")]
    CatalogWrite,
    /// Users, and the admin's checks (invariants).
    #[serde(rename = "users:admin")]
    UsersAdmin,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Self::Read,
        Self::StockWrite,
        Self::OrdersWrite,
        Self::CatalogWrite,
        Self::UsersAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::StockWrite => "stock:write",
            Self::OrdersWrite => "orders:write",
            Self::CatalogWrite => "catalog:write",
            Self::UsersAdmin => "users:admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// Whether this scope covers `permission`.
    pub fn covers(self, permission: Permission) -> bool {
        permission.scope() == self
    }

    /// Whether `role` (under `policy`) grants anything this scope covers.
    pub fn useful_to(self, role: Role, policy: AccessPolicy) -> bool {
        Permission::ALL
            .into_iter()
            .any(|p| self.covers(p) && role.grants_under(policy, p))
    }
}

impl Permission {
    /// The one scope that covers this permission.
    pub fn scope(self) -> Scope {
        match self {
            Self::InventoryRead => Scope::Read,
            Self::StockMove | Self::StockAdjust | Self::ReservationsWrite => Scope::StockWrite,
            Self::SalesOrdersWrite
            | Self::PurchaseOrdersWrite
            | Self::PurchaseOrdersSubmit
            | Self::OrdersCancel => Scope::OrdersWrite,
            Self::ItemsWrite | Self::LocationsWrite | Self::PartiesWrite => Scope::CatalogWrite,
            Self::UsersManage | Self::SystemInspect => Scope::UsersAdmin,
        }
    }
}
