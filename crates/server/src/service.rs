//! The service: the API, the probes, the OpenAPI document and `/metrics`
//! assembled into one router with its middleware, and served by the
//! listener (`http::listener`) with the application's shutdown.

use crate::api;
use crate::http::body::{self, MAX_BODY_BYTES};
use crate::http::error::{self, HttpError};
use crate::http::extract::TrustProxy;
use crate::http::listener::{serve_routers, ListenerOptions};
use crate::telemetry;
use crate::web::{self, cookies::WebOptions, page};
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{middleware, Extension, Router};
use inventory_app::App;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

/// The service. `/metrics` is on it unless it has a listener of its own.
pub fn router(app: App, with_metrics: bool) -> Router {
    router_with(app, with_metrics, WebOptions::default())
}

/// [`router`] with the UI's cookie settings.
pub fn router_with(app: App, with_metrics: bool, web_options: WebOptions) -> Router {
    let mut routes = api::v1::routes()
        .merge(web::routes(app.clone(), web_options))
        .route("/health", get(api::system::health))
        .route("/ready", get(api::system::ready))
        .merge(SwaggerUi::new("/docs").url("/api/openapi.json", api::openapi::ApiDoc::openapi()));
    if with_metrics {
        routes = routes.route("/metrics", get(api::system::metrics));
    }
    routes
        .route_layer(middleware::from_fn(telemetry::mark_route))
        .fallback(page::not_found)
        .method_not_allowed_fallback(|| async { HttpError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(body::read_whole_body))
        .layer(middleware::from_fn(telemetry::audit_context))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            error::panic_response,
        ))
        .layer(middleware::from_fn(telemetry::observe))
        .layer(Extension(TrustProxy(web_options.trust_proxy)))
        .with_state(app)
}

/// `/metrics` alone, for the `METRICS_PORT` listener.
pub fn metrics_router(app: App) -> Router {
    Router::new()
        .route("/metrics", get(api::system::metrics))
        .fallback(|| async { HttpError::RouteNotFound })
        .with_state(app)
}

/// Serves until `shutdown` resolves; then readiness turns 503 at once,
/// in-flight requests get `grace` to finish, and the function returns (see
/// `http::listener::serve_routers` for the order of stopping). With the
/// default [`ListenerOptions`].
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    serve_with_options(
        app,
        listener,
        None,
        ListenerOptions::default(),
        shutdown,
        grace,
    )
    .await
}

/// [`serve`], with /metrics moved to its own listener when one is given
/// (`METRICS_PORT`): the main listener then answers 404 for it.
pub async fn serve_with_metrics(
    app: App,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let options = ListenerOptions::default();
    serve_with_options(app, listener, metrics_listener, options, shutdown, grace).await
}

/// [`serve_with_metrics`] with the timeouts and the connection cap given.
pub async fn serve_with_options(
    app: App,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    options: ListenerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let main = router_with(app.clone(), metrics_listener.is_none(), options.web);
    let metrics = metrics_listener.map(|l| (l, metrics_router(app.clone())));
    let stopping = move || app.begin_shutdown();
    serve_routers(main, listener, metrics, options, shutdown, stopping, grace).await
}
