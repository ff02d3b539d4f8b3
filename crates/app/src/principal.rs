//! Who calls, and what each use case lets them do.
//!
//! [`UseCase`] lists every use case with the access it needs: the one table
//! the API, the web UI and the CLI are checked against (a test in the
//! server walks its router against it, and the OpenAPI document's 403s come
//! from it).

use inventory_core::audit::{AuditActor, Via};
use inventory_core::identity::{AccessPolicy, Permission, Role, Scope, SessionRecord, User};
use inventory_core::ledger::Actor;
use inventory_core::{Error, Result};
use uuid::Uuid;

/// The caller of a use case: a signed-in user, and room for the scopes an
/// API token narrows them to.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    /// With an API token: the scopes it is limited to; `None` for a
    /// sign-in session, which has all its role grants.
    pub scopes: Option<Vec<Scope>>,
    /// The session's token hash, so that signing out can end it.
    pub(crate) token_hash: String,
    /// The session's id, so that its owner's list can mark it current.
    pub(crate) session_id: Uuid,
    /// The deployment's changes to the permission table.
    pub(crate) policy: AccessPolicy,
}

impl Principal {
    pub(crate) fn session(
        user: User,
        token_hash: String,
        session_id: Uuid,
        policy: AccessPolicy,
    ) -> Self {
        Self {
            user,
            scopes: None,
            token_hash,
            session_id,
            policy,
        }
    }

    /// The caller behind a stored session or API token (`record.scopes`).
    pub(crate) fn from_record(
        record: &SessionRecord,
        token_hash: String,
        policy: AccessPolicy,
    ) -> Self {
        Self {
            scopes: record.scopes.clone(),
            ..Self::session(record.user.clone(), token_hash, record.id, policy)
        }
    }

    /// Whether the caller came with an API token (not a sign-in session).
    pub fn is_api_token(&self) -> bool {
        self.scopes.is_some()
    }

    /// The session this caller signed in with.
    pub fn session_id(&self) -> Uuid {
        self.session_id
    }

    /// Whether this caller holds `permission`: their role grants it and,
    /// with an API token, one of its scopes covers it.
    pub fn may(&self, permission: Permission) -> bool {
        self.user.role.grants_under(self.policy, permission) && self.scoped_for(permission)
    }

    fn scoped_for(&self, permission: Permission) -> bool {
        self.scopes
            .as_ref()
            .is_none_or(|scopes| scopes.iter().any(|s| s.covers(permission)))
    }

    /// 403 (naming the permission and the role that grants it) unless the
    /// caller may run `use_case`. A caller who must change their password
    /// (after an admin's reset) may only act on themselves (the `SignedIn`
    /// use cases: the password change, who am I, their sessions, sign out)
    /// until they do.
    pub fn require(&self, use_case: UseCase) -> Result<()> {
        let access = use_case.access();
        if self.user.must_change_password
            && !matches!(access, Access::Public | Access::SignedIn | Access::Session)
        {
            return Err(Error::PasswordChangeRequired);
        }
        match access {
            Access::Public | Access::SignedIn => Ok(()),
            Access::Session if self.is_api_token() => Err(Error::SessionRequired),
            Access::Session => Ok(()),
            Access::Needs(permission) => self.require_permission(permission),
        }
    }

    /// 403 unless the caller holds `permission`: for what a use case needs
    /// beyond its entry in the table, such as `adjust` among movements.
    pub fn require_permission(&self, permission: Permission) -> Result<()> {
        if !self.user.role.grants_under(self.policy, permission) {
            Err(Error::Forbidden {
                permission,
                role: self.user.role,
            })
        } else if !self.scoped_for(permission) {
            Err(Error::ScopeMissing {
                scope: permission.scope(),
                permission,
            })
        } else {
            Ok(())
        }
    }

    /// The audit trail's view of the caller: the user, and the API token
    /// when it came with one.
    pub fn audit_actor(&self) -> AuditActor {
        let (via, token) = match self.is_api_token() {
            true => (Via::Token, Some(self.session_id)),
            false => (Via::Session, None),
        };
        AuditActor::user(self.user.id, &self.user.username, via, token)
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
    /// Any signed-in user, by session or API token.
    SignedIn,
    /// Any signed-in user, by a sign-in session: what an API token may
    /// never do (change the password, manage sessions and tokens).
    Session,
    /// A signed-in user holding the permission.
    Needs(Permission),
}

impl Access {
    /// The least role that may run a use case with this access, if any is needed.
    pub fn min_role(self) -> Option<Role> {
        match self {
            Self::Public => None,
            Self::SignedIn | Self::Session => Some(Role::Viewer),
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
    Logout => "logout", Session;
    Me => "me", SignedIn;
    CreateUser => "create_user", Needs(UsersManage);
    ListUsers => "list_users", Needs(UsersManage);
    ChangeUserRole => "change_user_role", Needs(UsersManage);
    GetUser => "get_user", Needs(UsersManage);
    UpdateUser => "update_user", Needs(UsersManage);
    ResetUserPassword => "reset_user_password", Needs(UsersManage);
    ListUserSessions => "list_user_sessions", Needs(UsersManage);
    EndUserSession => "end_user_session", Needs(UsersManage);
    ChangeOwnPassword => "change_own_password", Session;
    ListMySessions => "list_my_sessions", Session;
    EndMySession => "end_my_session", Session;
    CreateApiToken => "create_api_token", Session;
    ListApiTokens => "list_api_tokens", Session;
    RevokeApiToken => "revoke_api_token", Session;
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
    PostStockCount => "post_stock_count", Needs(StockAdjust);
    FollowEvents => "follow_events", Needs(InventoryRead);
    Dashboard => "dashboard", Needs(InventoryRead);
    CheckInvariants => "check_invariants", Needs(SystemInspect);
    ListAudit => "list_audit", Needs(SystemInspect);
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
        Principal::session(user, String::new(), Uuid::now_v7(), AccessPolicy::default())
    }

    #[test]
    fn adjusting_needs_a_manager_unless_the_policy_lets_clerks() {
        let clerk = principal(Role::Clerk);
        assert!(clerk.require(UseCase::PostStockCount).is_err());
        assert!(clerk.require_permission(Permission::StockAdjust).is_err());
        assert!(clerk.require(UseCase::RecordMovement).is_ok());
        assert!(principal(Role::Manager)
            .require(UseCase::PostStockCount)
            .is_ok());
        let mut lenient = principal(Role::Clerk);
        lenient.policy = AccessPolicy {
            clerks_may_adjust: true,
        };
        assert!(lenient.require(UseCase::PostStockCount).is_ok());
        assert!(!principal(Role::Viewer).may(Permission::StockAdjust));
    }

    #[test]
    fn a_caller_who_must_change_their_password_may_only_act_on_themselves() {
        let mut p = principal(Role::Admin);
        p.user.must_change_password = true;
        for &use_case in UseCase::ALL {
            let allowed = p.require(use_case).is_ok();
            let own = matches!(
                use_case.access(),
                Access::Public | Access::SignedIn | Access::Session
            );
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
        p.scopes = Some(vec![Scope::Read]);
        assert!(p.require(UseCase::ListItems).is_ok());
        assert!(matches!(
            p.require(UseCase::CreateItem),
            Err(Error::ScopeMissing {
                scope: Scope::CatalogWrite,
                permission: Permission::ItemsWrite
            })
        ));
        // A token never manages tokens or passwords, whatever its scopes.
        p.scopes = Some(Scope::ALL.to_vec());
        assert!(matches!(
            p.require(UseCase::CreateApiToken),
            Err(Error::SessionRequired)
        ));
        assert!(p.require(UseCase::Me).is_ok());
    }

    #[test]
    fn a_token_can_never_do_more_than_its_owners_role() {
        let mut p = principal(Role::Clerk);
        p.scopes = Some(Scope::ALL.to_vec());
        for &use_case in UseCase::ALL {
            if let Access::Needs(permission) = use_case.access() {
                assert_eq!(
                    p.require(use_case).is_ok(),
                    Role::Clerk.grants(permission),
                    "{use_case:?}"
                );
            }
        }
    }
}
