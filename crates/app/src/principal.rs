//! Who calls, and what each use case lets them do.
//!
//! [`UseCase`] lists every use case with the access it needs: the one table
//! the API, the web UI and the CLI are checked against (a test in the
//! server walks its router against it, and the OpenAPI document's 403s come
//! from it).

use inventory_core::identity::{Permission, Role, User};
use inventory_core::ledger::Actor;
use inventory_core::{Error, Result};
use uuid::Uuid;

/// The caller of a use case: a signed-in user, and room for the scopes an
/// API token narrows them to.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    /// With an API token: the permissions it is limited to (a later issue);
    /// `None` for a session, which has all its role grants.
    pub scopes: Option<Vec<Permission>>,
    /// The session's token hash, so that signing out can end it.
    pub(crate) token_hash: String,
    /// The session's id, so that its owner's list can mark it current.
    pub(crate) session_id: Uuid,
}

impl Principal {
    pub(crate) fn session(user: User, token_hash: String, session_id: Uuid) -> Self {
        Self {
            user,
            scopes: None,
            token_hash,
            session_id,
        }
    }

    /// The session this caller signed in with.
    pub fn session_id(&self) -> Uuid {
        self.session_id
    }

    /// Whether this caller holds `permission` (role and scopes both).
    pub fn may(&self, permission: Permission) -> bool {
        self.user.role.grants(permission)
            && self
                .scopes
                .as_ref()
                .is_none_or(|scopes| scopes.contains(&permission))
    }

    /// 403 (naming the permission and the role that grants it) unless the
    /// caller may run `use_case`. A caller who must change their password
    /// (after an admin's reset) may only act on themselves (the `SignedIn`
    /// use cases: the password change, who am I, their sessions, sign out)
    /// until they do.
    pub fn require(&self, use_case: UseCase) -> Result<()> {
        let access = use_case.access();
        if self.user.must_change_password && !matches!(access, Access::Public | Access::SignedIn) {
            return Err(Error::PasswordChangeRequired);
        }
        match access {
            Access::Public | Access::SignedIn => Ok(()),
            Access::Needs(permission) if self.may(permission) => Ok(()),
            Access::Needs(permission) => Err(Error::Forbidden {
                permission,
                role: self.user.role,
            }),
        }
    }

    /// The ledger's view of the caller.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.user.id,
            username: self.user.username.clone(),
            role: self.user.role,
        }
    }
}

/// What a use case needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (signing in).
    Public,
    /// Any signed-in user.
    SignedIn,
    /// A signed-in user holding the permission.
    Needs(Permission),
}

impl Access {
    /// The least role that may run a use case with this access, if any is needed.
    pub fn min_role(self) -> Option<Role> {
        match self {
            Self::Public => None,
            Self::SignedIn => Some(Role::Viewer),
            Self::Needs(permission) => Some(permission.min_role()),
        }
    }
}

macro_rules! use_cases {
    ($($variant:ident => $name:literal, $access:expr;)*) => {
        /// Every use case of the application layer.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum UseCase {
            $($variant,)*
        }

        impl UseCase {
            pub const ALL: &'static [UseCase] = &[$(Self::$variant,)*];

            /// Its name, as traces show it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// The table: what each use case needs.
            pub fn access(self) -> Access {
                use Access::*;
                use Permission::*;
                match self {
                    $(Self::$variant => $access,)*
                }
            }
        }
    };
}

use_cases! {
    Login => "login", Public;
    Logout => "logout", SignedIn;
    Me => "me", SignedIn;
    CreateUser => "create_user", Needs(UsersManage);
    ListUsers => "list_users", Needs(UsersManage);
    ChangeUserRole => "change_user_role", Needs(UsersManage);
    GetUser => "get_user", Needs(UsersManage);
    UpdateUser => "update_user", Needs(UsersManage);
    ResetUserPassword => "reset_user_password", Needs(UsersManage);
    ListUserSessions => "list_user_sessions", Needs(UsersManage);
    EndUserSession => "end_user_session", Needs(UsersManage);
    ChangeOwnPassword => "change_own_password", SignedIn;
    ListMySessions => "list_my_sessions", SignedIn;
    EndMySession => "end_my_session", SignedIn;
    CreateItem => "create_item", Needs(ItemsWrite);
    GetItem => "get_item", Needs(InventoryRead);
    ListItems => "list_items", Needs(InventoryRead);
    UpdateItem => "update_item", Needs(ItemsWrite);
    ArchiveItem => "archive_item", Needs(ItemsWrite);
    RestoreItem => "restore_item", Needs(ItemsWrite);
    ItemStock => "item_stock", Needs(InventoryRead);
    ExportItems => "export_items", Needs(InventoryRead);
    ImportItems => "import_items", Needs(ItemsWrite);
    CreateLocation => "create_location", Needs(LocationsWrite);
    GetLocation => "get_location", Needs(InventoryRead);
    ListLocations => "list_locations", Needs(InventoryRead);
    UpdateLocation => "update_location", Needs(LocationsWrite);
    RecordMovement => "record_movement", Needs(StockMove);
    RecordMovements => "record_movements", Needs(StockMove);
    GetMovement => "get_movement", Needs(InventoryRead);
    ListMovements => "list_movements", Needs(InventoryRead);
    ExportMovements => "export_movements", Needs(InventoryRead);
    ReverseMovement => "reverse_movement", Needs(StockMove);
    PostStockCount => "post_stock_count", Needs(StockMove);
    FollowEvents => "follow_events", Needs(InventoryRead);
    Dashboard => "dashboard", Needs(InventoryRead);
    CheckInvariants => "check_invariants", Needs(SystemInspect);
    CreateReservation => "create_reservation", Needs(ReservationsWrite);
    GetReservation => "get_reservation", Needs(InventoryRead);
    ListReservations => "list_reservations", Needs(InventoryRead);
    UpdateReservation => "update_reservation", Needs(ReservationsWrite);
    ReleaseReservation => "release_reservation", Needs(ReservationsWrite);
    CreateSalesOrder => "create_sales_order", Needs(SalesOrdersWrite);
    GetSalesOrder => "get_sales_order", Needs(InventoryRead);
    ListSalesOrders => "list_sales_orders", Needs(InventoryRead);
    UpdateSalesOrder => "update_sales_order", Needs(SalesOrdersWrite);
    HoldSalesOrder => "hold_sales_order", Needs(SalesOrdersWrite);
    ConfirmSalesOrder => "confirm_sales_order", Needs(SalesOrdersWrite);
    ShipSalesOrder => "ship_sales_order", Needs(SalesOrdersWrite);
    CancelSalesOrder => "cancel_sales_order", Needs(OrdersCancel);
    CreateParty => "create_party", Needs(PartiesWrite);
    GetParty => "get_party", Needs(InventoryRead);
    ListParties => "list_parties", Needs(InventoryRead);
    UpdateParty => "update_party", Needs(PartiesWrite);
    CreatePurchaseOrder => "create_purchase_order", Needs(PurchaseOrdersWrite);
    GetPurchaseOrder => "get_purchase_order", Needs(InventoryRead);
    ListPurchaseOrders => "list_purchase_orders", Needs(InventoryRead);
    UpdatePurchaseOrder => "update_purchase_order", Needs(PurchaseOrdersWrite);
    SubmitPurchaseOrder => "submit_purchase_order", Needs(PurchaseOrdersSubmit);
    ReceivePurchaseOrder => "receive_purchase_order", Needs(PurchaseOrdersWrite);
    CancelPurchaseOrder => "cancel_purchase_order", Needs(OrdersCancel);
}

#[cfg(test)]
mod tests {
    use super::*;
    use inventory_core::identity::CreateUser;

    fn principal(role: Role) -> Principal {
        let (user, _) = CreateUser {
            username: "u".into(),
            password: String::new(),
            role,
            display_name: None,
            email: None,
        }
        .into_user(inventory_core::now());
        Principal::session(user, String::new(), Uuid::now_v7())
    }

    #[test]
    fn a_caller_who_must_change_their_password_may_only_act_on_themselves() {
        let mut p = principal(Role::Admin);
        p.user.must_change_password = true;
        for &use_case in UseCase::ALL {
            let allowed = p.require(use_case).is_ok();
            let own = matches!(use_case.access(), Access::Public | Access::SignedIn);
            assert_eq!(allowed, own, "{use_case:?}");
        }
        assert!(matches!(
            p.require(UseCase::ListItems),
            Err(Error::PasswordChangeRequired)
        ));
        assert!(p.require(UseCase::ChangeOwnPassword).is_ok());
    }

    #[test]
    fn every_use_case_is_allowed_exactly_from_its_least_role() {
        for &use_case in UseCase::ALL {
            for role in Role::ALL {
                let allowed = principal(role).require(use_case).is_ok();
                let expected = use_case.access().min_role().is_none_or(|min| role >= min);
                assert_eq!(allowed, expected, "{use_case:?} as {role:?}");
            }
        }
    }

    #[test]
    fn a_refusal_names_the_permission_and_the_callers_role() {
        let err = principal(Role::Clerk)
            .require(UseCase::CreateItem)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Forbidden {
                permission: Permission::ItemsWrite,
                role: Role::Clerk
            }
        ));
    }

    #[test]
    fn scopes_narrow_what_the_role_grants() {
        let mut p = principal(Role::Admin);
        p.scopes = Some(vec![Permission::InventoryRead]);
        assert!(p.require(UseCase::ListItems).is_ok());
        assert!(p.require(UseCase::CreateItem).is_err());
    }
}
