//! Stock locations.

use super::{bad_query, idempotent, parse_limit, replay, Outcome};
use crate::error::ApiResult;
use crate::extract::{path_id, ApiJson, AuthUser};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use inventory_core::model::{CreateLocation, Location, LocationPatch, Role};
use inventory_core::paging::{decode_cursor, encode_cursor};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Creates a location (manager or admin). Codes are stored upper-case.
#[utoipa::path(post, path = "/api/v1/locations", tag = "locations", request_body(content = CreateLocation,
        example = json!({"code": "A-01", "name": "Aisle 1"})),
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create safe")),
    responses((status = 201, body = Location)))]
pub async fn create_location(
    State(state): State<AppState>,
    caller: AuthUser,
    headers: HeaderMap,
    body: ApiJson<CreateLocation>,
) -> ApiResult<Response> {
    caller.require(Role::Manager)?;
    let new = body.value.validate()?;
    let outcome = idempotent(
        &state,
        &caller,
        &headers,
        "POST /api/v1/locations",
        &body.raw,
        |idem| state.store.create_location(new, idem),
    )
    .await?;
    Ok(match outcome {
        Outcome::New(loc) => {
            let mut response = (StatusCode::CREATED, Json(&loc)).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/locations/{}", loc.id)) {
                response.headers_mut().insert(header::LOCATION, v);
            }
            response
        }
        Outcome::Replay(stored) => replay(stored),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LocationListParams {
    /// 1-500, default 50.
    limit: Option<String>,
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
    State(state): State<AppState>,
    _caller: AuthUser,
    params: Result<Query<LocationListParams>, QueryRejection>,
) -> ApiResult<Json<LocationList>> {
    let Query(p) = params.map_err(bad_query)?;
    let after: Option<String> = p
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(decode_cursor)
        .transpose()?;
    let page = state
        .store
        .list_locations(after.as_deref(), parse_limit(p.limit.as_deref())?)
        .await?;
    Ok(Json(LocationList {
        locations: page.rows,
        next_cursor: page.next_cursor.map(|code| encode_cursor(&code)),
    }))
}

#[utoipa::path(get, path = "/api/v1/locations/{id}", tag = "locations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Location id")),
    responses((status = 200, body = Location)))]
pub async fn get_location(
    State(state): State<AppState>,
    _caller: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Location>> {
    let id = path_id(&id, "location")?;
    Ok(Json(state.store.get_location(id).await?))
}

/// Renames a location or changes its code (manager or admin).
#[utoipa::path(patch, path = "/api/v1/locations/{id}", tag = "locations", request_body(content = LocationPatch,
        example = json!({"name": "Aisle 1 (north)"})),
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "Location id")),
    responses((status = 200, body = Location)))]
pub async fn patch_location(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
    body: ApiJson<LocationPatch>,
) -> ApiResult<Json<Location>> {
    caller.require(Role::Manager)?;
    let id = path_id(&id, "location")?;
    Ok(Json(state.store.update_location(id, body.value).await?))
}
