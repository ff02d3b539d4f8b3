//! The domain error. The HTTP layer maps each variant to one RFC 9457
//! problem type; stores map constraint names to these variants.

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
    DuplicateLocationCode,
    DuplicateUsername,
    ItemArchived,
    ItemHasStock,
    IdempotencyInFlight,
}

impl ConflictKind {
    pub fn slug(self) -> &'static str {
        match self {
            Self::DuplicateSku => "duplicate-sku",
            Self::DuplicateLocationCode => "duplicate-location-code",
            Self::DuplicateUsername => "duplicate-username",
            Self::ItemArchived => "item-archived",
            Self::ItemHasStock => "item-has-stock",
            Self::IdempotencyInFlight => "idempotency-in-flight",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{detail}")]
    Conflict { kind: ConflictKind, detail: String },
    #[error("insufficient stock at {location}: {available} available, {requested} requested")]
    InsufficientStock {
        location: String,
        available: i64,
        requested: i64,
    },
    #[error("the resource was changed since the given ETag")]
    PreconditionFailed,
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("the Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    /// A failure inside a batch, tagged with the index of the failing entry.
    #[error("movement {index}: {source}")]
    AtIndex { index: usize, source: Box<Error> },
    #[error("the database is unavailable")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
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

    /// Tags an error with the batch index it happened at; validation field
    /// names gain a `movements[i].` prefix so they point into the request.
    pub fn at_index(self, index: usize) -> Self {
        match self {
            Self::Validation(errors) => Self::AtIndex {
                index,
                source: Box::new(Self::Validation(
                    errors
                        .into_iter()
                        .map(|e| {
                            FieldError::new(format!("movements[{index}].{}", e.field), e.message)
                        })
                        .collect(),
                )),
            },
            e @ (Self::Unavailable(_) | Self::Internal(_) | Self::AtIndex { .. }) => e,
            other => Self::AtIndex {
                index,
                source: Box::new(other),
            },
        }
    }
}
