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
    /// Check the database's invariants (a full read of the stock tables).
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
    pub const ALL: [Permission; 12] = [
        Self::InventoryRead,
        Self::StockMove,
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
            Self::ItemsWrite
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
