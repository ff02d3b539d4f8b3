//! The HTTP surface: the router, its middleware and the OpenAPI document.
//! Handlers stay thin: extract, authorize, call the state or the store.

mod auth;
mod events;
mod items;
mod locations;
mod movements;
mod openapi;
mod system;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::AuthUser;
use crate::state::{AppState, IdempotencyStart};
use crate::telemetry;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Router};
use inventory_core::store::{Created, Idempotency, StoredResponse};
use inventory_core::Error;
use openapi::ProblemResponses;
use serde::Serialize;
use std::future::Future;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Inventory Manager API", description = "Items, locations and an append-only stock ledger."),
    paths(
        system::health, system::ready,
        auth::login, auth::logout, auth::me, auth::create_user,
        items::create_item, items::list_items, items::get_item, items::patch_item, items::delete_item, items::item_stock,
        locations::create_location, locations::list_locations, locations::get_location, locations::patch_location,
        movements::create_movement, movements::create_batch, movements::list_movements,
        events::stream_events,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth, &ProblemResponses),
    tags(
        (name = "system", description = "Health and readiness"),
        (name = "auth", description = "Login, logout and users"),
        (name = "items", description = "Items and their stock"),
        (name = "locations", description = "Stock locations"),
        (name = "movements", description = "The stock ledger"),
        (name = "events", description = "The change feed (Server-Sent Events)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// The service. `/metrics` is on it unless it has a listener of its own.
pub fn router(state: AppState, with_metrics: bool) -> Router {
    let mut api = Router::new()
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route("/api/v1/me", get(auth::me))
        .route("/api/v1/users", post(auth::create_user))
        .route(
            "/api/v1/items",
            post(items::create_item).get(items::list_items),
        )
        .route(
            "/api/v1/items/{id}",
            get(items::get_item)
                .patch(items::patch_item)
                .delete(items::delete_item),
        )
        .route("/api/v1/items/{id}/stock", get(items::item_stock))
        .route(
            "/api/v1/locations",
            post(locations::create_location).get(locations::list_locations),
        )
        .route(
            "/api/v1/locations/{id}",
            get(locations::get_location).patch(locations::patch_location),
        )
        .route(
            "/api/v1/movements",
            post(movements::create_movement).get(movements::list_movements),
        )
        .route("/api/v1/movements/batch", post(movements::create_batch))
        .route("/api/v1/events", get(events::stream_events))
        .route("/health", get(system::health))
        .route("/ready", get(system::ready))
        .merge(SwaggerUi::new("/docs").url("/api/openapi.json", ApiDoc::openapi()));
    if with_metrics {
        api = api.route("/metrics", get(system::metrics));
    }
    let api = api.route_layer(middleware::from_fn(telemetry::mark_route));

    api.fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(crate::body::read_whole_body))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            crate::error::panic_response,
        ))
        .layer(middleware::from_fn(telemetry::observe))
        .with_state(state)
}

/// `/metrics` alone, for the `METRICS_PORT` listener.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(system::metrics))
        .fallback(|| async { ApiError::RouteNotFound })
        .with_state(state)
}

/// The result of a create that may have been answered before.
pub enum Outcome<T> {
    New(T),
    Replay(StoredResponse),
}

/// Runs a create under the request's `Idempotency-Key`, if it has one.
pub async fn idempotent<T, F, Fut>(
    state: &AppState,
    caller: &AuthUser,
    headers: &HeaderMap,
    route: &str,
    body: &[u8],
    create: F,
) -> ApiResult<Outcome<T>>
where
    T: Serialize + 'static,
    F: FnOnce(Option<Idempotency<T>>) -> Fut,
    Fut: Future<Output = Result<Created<T>, Error>>,
{
    let created = match state.begin_idempotent(caller, headers, route, body).await? {
        IdempotencyStart::None => create(None).await?,
        IdempotencyStart::Replay(stored) => return Ok(Outcome::Replay(stored)),
        IdempotencyStart::Claimed(claim) => {
            let record = claim.record::<T>(StatusCode::CREATED.as_u16());
            let created = create(Some(record)).await;
            drop(claim);
            created?
        }
    };
    Ok(match created {
        Created::New(v) => Outcome::New(v),
        Created::Replay(stored) => Outcome::Replay(stored),
    })
}

/// Answers with a recorded response, byte for byte.
pub fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

pub fn parse_bool(field: &str, value: Option<&str>) -> Result<bool, Error> {
    match value {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(Error::invalid(field, "must be true or false")),
    }
}

/// A free-text query parameter: absent when empty; control characters (which
/// no stored text holds, and PostgreSQL cannot even take) are a 422.
pub fn text_param(field: &str, value: Option<String>) -> Result<Option<String>, Error> {
    match value.filter(|v| !v.is_empty()) {
        Some(v) if v.chars().any(char::is_control) => {
            Err(Error::invalid(field, "must not contain control characters"))
        }
        Some(v) if v.chars().count() > 200 => {
            Err(Error::invalid(field, "must be at most 200 characters"))
        }
        other => Ok(other),
    }
}

pub fn parse_limit(value: Option<&str>) -> Result<u32, Error> {
    let limit = match value {
        None | Some("") => None,
        Some(v) => Some(
            v.parse::<u32>()
                .map_err(|_| Error::invalid("limit", "must be from 1 to 500"))?,
        ),
    };
    inventory_core::paging::check_limit(limit)
}

pub fn parse_time(
    field: &str,
    value: Option<&str>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, Error> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| {
                    Error::invalid(
                        field,
                        "must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z",
                    )
                })
        })
        .transpose()
}

/// A query string that does not fit the parameters (in practice a parameter
/// given twice: every parameter is an optional string, checked by the
/// handler): a 422 like any other unusable parameter value.
pub fn bad_query(e: axum::extract::rejection::QueryRejection) -> ApiError {
    let message = e.body_text();
    let message = message
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(&message);
    ApiError::Domain(Error::Validation(vec![inventory_core::FieldError::new(
        "query", message,
    )]))
}
