//! Inventory Manager domain: types, validation, stock rules, the `Store`
//! contract and the one error type. No HTTP and no SQL live here.

pub mod dump;
pub mod error;
pub mod model;
pub mod money;
pub mod paging;
pub mod patch;
pub mod store;

pub use error::{Error, FieldError, Result};
pub use store::{Idempotency, Store, StoredResponse};
