//! HTTP plumbing shared by every front end: the router and its middleware,
//! the listener, request bodies and extractors, the one error type, and the
//! OpenAPI document. The API's handlers live in `crate::api`, the web UI's
//! pages in `crate::web`; both call the application layer's use cases.

pub mod body;
pub mod error;
pub mod extract;
pub mod listener;
pub mod openapi;
pub mod params;

use crate::api;
use crate::telemetry;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{middleware, Router};
use error::HttpError;
use inventory_app::App;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The service. `/metrics` is on it unless it has a listener of its own.
pub fn router(app: App, with_metrics: bool) -> Router {
    let mut routes = api::v1::routes()
        .route("/health", get(api::system::health))
        .route("/ready", get(api::system::ready))
        .merge(SwaggerUi::new("/docs").url("/api/openapi.json", openapi::ApiDoc::openapi()));
    if with_metrics {
        routes = routes.route("/metrics", get(api::system::metrics));
    }
    routes
        .route_layer(middleware::from_fn(telemetry::mark_route))
        .fallback(|| async { HttpError::RouteNotFound })
        .method_not_allowed_fallback(|| async { HttpError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(body::read_whole_body))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            error::panic_response,
        ))
        .layer(middleware::from_fn(telemetry::observe))
        .with_state(app)
}

/// `/metrics` alone, for the `METRICS_PORT` listener.
pub fn metrics_router(app: App) -> Router {
    Router::new()
        .route("/metrics", get(api::system::metrics))
        .fallback(|| async { HttpError::RouteNotFound })
        .with_state(app)
}
