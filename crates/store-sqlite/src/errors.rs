//! Maps rusqlite errors to the domain error: I/O and locking trouble is
//! "unavailable", the rest internal. Constraint violations are mapped where
//! the statement is known.

use inventory_core::Error;
use rusqlite::ErrorCode;

pub(crate) fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(e.to_string())
}

/// Maps a database error: I/O and locking trouble is "unavailable", the rest
/// is internal. Constraint violations are mapped where the statement is known.
pub(crate) fn db_error(e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::CannotOpen
            | ErrorCode::ReadOnly,
        ) => unavailable(e),
        _ => Error::internal(e),
    }
}

pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;
    const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == SQLITE_CONSTRAINT_UNIQUE || f.extended_code == SQLITE_CONSTRAINT_PRIMARYKEY)
}
