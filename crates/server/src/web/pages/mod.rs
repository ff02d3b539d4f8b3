//! One module per page area; each handler calls the application's use
//! cases and renders a template from `templates/` of the same name.

pub mod account;
pub mod audit;
pub mod counts;
pub mod dashboard;
pub mod delivery;
pub mod items;
pub mod live;
pub mod locations;
pub mod login;
pub mod movements;
pub mod order_lines;
pub mod parties;
pub mod purchasing;
pub mod sales;
pub mod shared;
pub mod spreadsheets;
pub mod users;
