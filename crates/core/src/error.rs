//! The domain error. The HTTP layer maps each variant to one RFC 9457
//! problem type (and the web UI to an HTML page with the same meaning);
//! stores map constraint names to these variants.

use crate::access::{Permission, Role, Scope};
use serde::Serialize;
use utoipa::ToSchema;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One invalid field in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What kind of conflict a 409 reports; its slug ends the problem `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictKind {
    DuplicateSku,
    DuplicateBarcode,
    DuplicateLocationCode,
    DuplicateUsername,
    LastAdmin,
    ItemArchived,
    ItemHasStock,
    IdempotencyInFlight,
    AlreadyReversed,
    NotReversible,
    DuplicatePartyCode,
    PartyHasOpenOrders,
}

impl ConflictKind {
    pub fn slug(self) -> &'static str {
        match self {
            Self::DuplicateSku => "duplicate-sku",
            Self::DuplicateBarcode => "duplicate-barcode",
            Self::DuplicateLocationCode => "duplicate-location-code",
            Self::DuplicateUsername => "duplicate-username",
            Self::LastAdmin => "last-admin",
            Self::ItemArchived => "item-archived",
            Self::ItemHasStock => "item-has-stock",
            Self::IdempotencyInFlight => "idempotency-in-flight",
            Self::AlreadyReversed => "already-reversed",
            Self::NotReversible => "not-reversible",
            Self::DuplicatePartyCode => "duplicate-party-code",
            Self::PartyHasOpenOrders => "party-has-open-orders",
        }
    }
}

/// Stock available at a location, where a refused outflow could take it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Availability {
    pub location: String,
    pub available: i64,
}

/// An item that moved at a counted location after the count's position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MovedItem {
    pub item_id: uuid::Uuid,
    pub sku: String,
}

fn moved_text(moved: &[MovedItem]) -> String {
    moved
        .iter()
        .map(|m| m.sku.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{detail}")]
    Conflict { kind: ConflictKind, detail: String },
    #[error("insufficient stock at {location}: {available} available, {requested} requested{}", elsewhere_text(.elsewhere))]
    InsufficientStock {
        location: String,
        available: i64,
        requested: i64,
        /// Other locations that hold the item, filled in by the application
        /// layer so that the message says where the stock is.
        elsewhere: Vec<Availability>,
    },
    /// A stock count whose items moved at its location after the ledger
    /// position it was taken at: count them again.
    #[error(
        "stock moved at {location} after the count began (ledger position {as_of_seq}): {}; \
         count these items again",
        moved_text(.moved)
    )]
    CountOutdated {
        location: String,
        as_of_seq: i64,
        moved: Vec<MovedItem>,
    },
    /// A movement named a location that does not exist; `known` lists the
    /// codes there are (filled in by the application layer).
    #[error("unknown location '{code}'")]
    UnknownLocation {
        field: String,
        code: String,
        known: Vec<String>,
    },
    /// An action that the entity's current status does not allow (ending
    /// an ended reservation, shipping a cancelled order...).
    #[error("cannot {action} this {entity}: it is {status}")]
    InvalidTransition {
        entity: &'static str,
        status: String,
        action: &'static str,
    },
    /// A receipt of more than a purchase-order line still expects, without
    /// `allow_over_receipt`.
    #[error(
        "line {line_id} ({sku}) expects {outstanding} more, {requested} requested; \
         send \"allow_over_receipt\": true to receive more than ordered"
    )]
    OverReceipt {
        line_id: uuid::Uuid,
        sku: String,
        outstanding: i64,
        requested: i64,
    },
    /// No valid credentials came with the request.
    #[error("authentication required")]
    Unauthorized,
    /// A sign-in with a wrong username or password (never says which).
    #[error("the username or password is wrong")]
    InvalidCredentials,
    /// Too many failed sign-ins for this username or from this address
    /// lately: refused before the password is looked at.
    #[error("too many failed sign-ins; try again in {retry_after} seconds")]
    TooManyAttempts { retry_after: u64 },
    /// The caller signed in with a one-time password (an admin's reset)
    /// and must choose their own before anything else.
    #[error("change your password first: POST /api/v1/me/password")]
    PasswordChangeRequired,
    /// A password change whose `current_password` is not the caller's.
    #[error("the current password is wrong")]
    WrongPassword,
    /// An API token whose scopes do not cover the permission (its owner's
    /// role would).
    #[error("this needs an API token with the scope {}", .scope.as_str())]
    ScopeMissing {
        scope: Scope,
        permission: Permission,
    },
    /// Something an API token may never do (its owner must sign in).
    #[error("this needs a signed-in session, not an API token")]
    SessionRequired,
    /// The caller is signed in but lacks the permission.
    #[error("this needs the permission {}", .permission.as_str())]
    Forbidden { permission: Permission, role: Role },
    #[error("the resource was changed since the given ETag")]
    PreconditionFailed,
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("the Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    /// A failure inside a batch, tagged with the index of the failing entry.
    #[error("movement {index}: {source}")]
    AtIndex { index: usize, source: Box<Error> },
    /// A refusal of one line of an order (its stock), naming the line.
    #[error("line {index}{}: {source}", sku_text(.sku))]
    AtLine {
        index: usize,
        line_id: uuid::Uuid,
        sku: String,
        source: Box<Error>,
    },
    #[error("the database is unavailable")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

fn sku_text(sku: &str) -> String {
    match sku {
        "" => String::new(),
        sku => format!(" ({sku})"),
    }
}

fn elsewhere_text(elsewhere: &[Availability]) -> String {
    if elsewhere.is_empty() {
        return String::new();
    }
    let places: Vec<String> = elsewhere
        .iter()
        .map(|a| format!("{} at {}", a.available, a.location))
        .collect();
    format!("; available elsewhere: {}", places.join(", "))
}

impl Error {
    pub fn duplicate_sku(sku: &str) -> Self {
        Self::conflict(
            ConflictKind::DuplicateSku,
            format!("an item with sku '{sku}' exists (SKUs are unique without regard to case)"),
        )
    }

    pub fn duplicate_barcode(barcode: &str) -> Self {
        Self::conflict(
            ConflictKind::DuplicateBarcode,
            format!("another item has barcode '{barcode}' (a barcode names one item)"),
        )
    }

    pub fn last_admin(username: &str) -> Self {
        Self::conflict(
            ConflictKind::LastAdmin,
            format!(
                "'{username}' is the last enabled administrator: make another user an admin \
                 (or enable one) first, so that someone can still manage users"
            ),
        )
    }

    pub fn duplicate_location_code(code: &str) -> Self {
        Self::conflict(
            ConflictKind::DuplicateLocationCode,
            format!("location code '{code}' is taken"),
        )
    }

    pub fn duplicate_username(username: &str) -> Self {
        Self::conflict(
            ConflictKind::DuplicateUsername,
            format!("user '{username}' already exists"),
        )
    }

    /// The field errors this error stands for, if it is a validation error
    /// (an unknown location is one, naming its field).
    pub fn field_errors(&self) -> Option<Vec<FieldError>> {
        match self {
            Self::Validation(errors) => Some(errors.clone()),
            Self::UnknownLocation { field, code, known } => {
                let mut message = format!("unknown location '{code}'");
                if !known.is_empty() {
                    message.push_str(&format!("; the locations are {}", known.join(", ")));
                }
                Some(vec![FieldError::new(field.clone(), message)])
            }
            _ => None,
        }
    }

    /// The refusal of `action` on an `entity` in `status` (see
    /// [`Error::InvalidTransition`]).
    pub fn invalid_transition(
        entity: &'static str,
        status: impl Into<String>,
        action: &'static str,
    ) -> Self {
        Self::InvalidTransition {
            entity,
            status: status.into(),
            action,
        }
    }

    pub fn duplicate_party_code(code: &str) -> Self {
        Self::conflict(
            ConflictKind::DuplicatePartyCode,
            format!("party code '{code}' is taken"),
        )
    }

    pub fn conflict(kind: ConflictKind, detail: impl Into<String>) -> Self {
        Self::Conflict {
            kind,
            detail: detail.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }

    /// Tags an error with the batch index it happened at (a renderer
    /// names the fields of a tagged validation error `movements[i].<field>`).
    pub fn at_index(self, index: usize) -> Self {
        match self {
            e @ (Self::Unavailable(_)
            | Self::Internal(_)
            | Self::AtIndex { .. }
            | Self::AtLine { .. }) => e,
            other => Self::AtIndex {
                index,
                source: Box::new(other),
            },
        }
    }
}
