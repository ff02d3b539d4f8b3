//! HTTP plumbing shared by every front end, and depending on none of them:
//! the listener, request bodies, extractors, query parameter parsing, the
//! one error type, and responses for creates. The API's handlers live in
//! `crate::api`, the web UI's pages in `crate::web`, and `crate::service`
//! assembles them into the router it serves.

pub mod body;
pub mod error;
pub mod extract;
pub mod listener;
pub mod params;
pub mod respond;
