//! Stock locations, named by id or by code.

use crate::http::error::ApiResult;
use crate::http::extract::{idempotency_key, ApiJson, ApiQuery, Caller, NoParams};
use crate::http::params::{parse_cursor, parse_limit};
use crate::http::respond::created;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use inventory_app::App;
use inventory_core::catalogue::{CreateLocation, Location, LocationPatch};
use inventory_core::paging::encode_cursor;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Creates a location (manager or admin). Codes are stored upper-case;
/// `"default": true` makes it the default location.
#[utoipa::path(post, path = "/api/v1/locations", tag = "locations", request_body(content = CreateLocation,
        example = json!({"code": "A-01", "name": "Aisle 1"})),
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create safe")),
    responses((status = 201, body = Location, headers(("Location" = String)))))]
pub async fn create_location(
    State(app): State<App>,
    Caller(caller): Caller,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
    body: ApiJson<CreateLocation>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers, "POST /api/v1/locations", &body.raw)?;
    let outcome = app.create_location(&caller, body.value, key).await?;
    Ok(created(
        outcome,
        |loc| Some(format!("/api/v1/locations/{}", loc.id)),
        |_| None,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LocationListParams {
    /// 1-500, default 50.
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LocationList {
    pub locations: Vec<Location>,
    pub next_cursor: Option<String>,
}

/// Lists locations by code.
#[utoipa::path(get, path = "/api/v1/locations", tag = "locations", params(LocationListParams),
    security(("bearer" = [])), responses((status = 200, body = LocationList)))]
pub async fn list_locations(
    State(app): State<App>,
    Caller(caller): Caller,
    ApiQuery(p): ApiQuery<LocationListParams>,
) -> ApiResult<Json<LocationList>> {
    let after: Option<String> = parse_cursor(p.cursor.as_deref())?;
    let page = app
        .list_locations(&caller, after, parse_limit(p.limit.as_deref())?)
        .await?;
    Ok(Json(LocationList {
        locations: page.rows,
        next_cursor: page.next_cursor.map(|code| encode_cursor(&code)),
    }))
}

/// Reads a location by its id or its code (any case).
#[utoipa::path(get, path = "/api/v1/locations/{id_or_code}", tag = "locations", security(("bearer" = [])),
    params(("id_or_code" = String, Path, description = "Location id, or its code")),
    responses((status = 200, body = Location)))]
pub async fn get_location(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id_or_code): Path<String>,
    _query: ApiQuery<NoParams>,
) -> ApiResult<Json<Location>> {
    Ok(Json(app.get_location(&caller, &id_or_code).await?))
}

/// Renames a location, changes its code, or makes it the default (manager or admin).
#[utoipa::path(patch, path = "/api/v1/locations/{id_or_code}", tag = "locations", request_body(content = LocationPatch,
        example = json!({"name": "Aisle 1 (north)"})),
    security(("bearer" = [])), params(("id_or_code" = String, Path, description = "Location id, or its code")),
    responses((status = 200, body = Location)))]
pub async fn patch_location(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id_or_code): Path<String>,
    _query: ApiQuery<NoParams>,
    body: ApiJson<LocationPatch>,
) -> ApiResult<Json<Location>> {
    Ok(Json(
        app.update_location(&caller, &id_or_code, body.value)
            .await?,
    ))
}
