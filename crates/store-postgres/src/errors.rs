//! Maps sqlx errors to the domain error: unique violations by constraint
//! name, lost connections and exhausted servers to "unavailable".

use inventory_core::error::ConflictKind;
use inventory_core::Error;

/// The conflict a unique constraint stands for, by its name.
fn conflict_of(constraint: &str) -> Option<ConflictKind> {
    match constraint {
        "items_sku_key" | "items_sku_folded_key" => Some(ConflictKind::DuplicateSku),
        "items_barcode_key" => Some(ConflictKind::DuplicateBarcode),
        "locations_code_key" => Some(ConflictKind::DuplicateLocationCode),
        "users_username_key" => Some(ConflictKind::DuplicateUsername),
        "parties_code_key" => Some(ConflictKind::DuplicatePartyCode),
        // A second reversal of one movement.
        "movements_reverses_key" => Some(ConflictKind::AlreadyReversed),
        // Another replica recorded the same key and committed first.
        "idempotency_keys_pkey" => Some(ConflictKind::IdempotencyInFlight),
        _ => None,
    }
}

/// The conflict kind of a unique violation, if `e` is one we know.
pub(crate) fn unique_violation(e: &sqlx::Error) -> Option<ConflictKind> {
    let db = e.as_database_error()?;
    if db.code().as_deref() != Some("23505") {
        return None;
    }
    conflict_of(db.constraint()?)
}

/// Is this SQLSTATE one that says "try again later" rather than "bug"?
fn transient(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources
        || matches!(
            code,
            "57P01" // admin_shutdown
            | "57P02" // crash_shutdown
            | "57P03" // cannot_connect_now
            | "57014" // query_canceled (statement_timeout)
            | "40001" // serialization_failure
            | "40P01" // deadlock_detected
            | "55P03" // lock_not_available
        )
}

pub(crate) fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(e.to_string())
}

/// Maps any database error. Known unique violations become conflicts with a
/// generic detail; call sites that know the value use [`unique_or`].
pub(crate) fn db_error(e: sqlx::Error) -> Error {
    if let Some(kind) = unique_violation(&e) {
        let detail = match kind {
            ConflictKind::DuplicateSku => "an item with this sku exists",
            ConflictKind::DuplicateBarcode => "another item has this barcode",
            ConflictKind::DuplicateLocationCode => "this location code is taken",
            ConflictKind::DuplicateUsername => "this username is taken",
            ConflictKind::AlreadyReversed => "the movement was already reversed",
            ConflictKind::DuplicatePartyCode => "this party code is taken",
            _ => "a request with this Idempotency-Key is being processed",
        };
        return Error::conflict(kind, detail);
    }
    match &e {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) if transient(&code) => unavailable(&e),
            _ => Error::internal(&e),
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => unavailable(&e),
        _ => Error::internal(&e),
    }
}

/// Like [`db_error`], with the precise error (naming the value) for the
/// expected unique violation.
pub(crate) fn unique_or(
    e: sqlx::Error,
    kind: ConflictKind,
    error: impl FnOnce() -> Error,
) -> Error {
    match unique_violation(&e) {
        Some(k) if k == kind => error(),
        _ => db_error(e),
    }
}

/// Did the connection itself fail (so that it must be replaced)?
pub(crate) fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}
