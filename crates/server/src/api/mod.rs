//! The REST API: thin handlers that extract, call one use case of the
//! application layer, and render JSON (or a problem+json error).

pub mod openapi;
pub mod system;
pub mod v1;
