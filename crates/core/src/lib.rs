//! Inventory Manager domain: the types and pure rules of every business
//! area, the storage contract split by area, and the one error type. No
//! HTTP and no SQL live here.
//!
//! Areas: [`access`] (roles, permissions), [`identity`] (users), [`catalogue`]
//! (locations and items), [`ledger`] (movements, the stock arithmetic and
//! its guard, reversals), [`events`] (the change feed), [`history`] (daily
//! series over the ledger, for charts), [`csvfile`] (items and the ledger as
//! CSV: export rows, import checks and plans), [`parties`] (suppliers and
//! customers), [`purchasing`] (purchase orders and their receipts), [`audit`] (who
//! changed what). [`store`] holds one
//! storage trait per area.

pub mod access;
pub mod audit;
pub mod catalogue;
pub mod csvfile;
pub mod dump;
pub mod error;
pub mod events;
pub mod history;
pub mod identity;
pub mod invariants;
pub mod ledger;
pub mod model;
pub mod money;
pub mod paging;
pub mod parties;
pub mod patch;
pub mod purchasing;
pub mod reservations;
pub mod sales;
pub mod stocktake;
pub mod store;
mod validation;

pub use error::{Error, FieldError, Result};
pub use store::{Idempotency, Store, StoredResponse};
pub use validation::{article, fold, now};
