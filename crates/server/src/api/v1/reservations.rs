//! Reservations: stock held against `available` at one location.

use crate::http::error::ApiResult;
use crate::http::extract::{idempotency_key, path_id, ApiJson, ApiQuery, Caller, NoParams};
use crate::http::params::{parse_cursor, parse_limit, parse_uuid, text_param};
use crate::http::respond::created;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use inventory_app::App;
use inventory_core::paging::encode_cursor;
use inventory_core::reservations::{
    CreateReservation, Reservation, ReservationPatch, ReservationQuery, ReservationStatus,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Holds available stock of an item at a location (clerk or above). With
/// `expires_at` it stops holding anything from that instant on. Not enough
/// available: 409 `insufficient-stock`, nothing written.
#[utoipa::path(post, path = "/api/v1/reservations", tag = "reservations",
    request_body(content = CreateReservation, example = json!({
        "item_id": "0190f1c2-7a6b-7c3d-9e4f-0123456789ab", "location": "MAIN", "quantity": 2,
        "expires_at": "2030-01-01T12:00:00Z", "reference": "cart-42"})),
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create safe")),
    responses((status = 201, body = Reservation, headers(("Location" = String)))))]
pub async fn create_reservation(
    State(app): State<App>,
    Caller(caller): Caller,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
    body: ApiJson<CreateReservation>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers, "POST /api/v1/reservations", &body.raw)?;
    let outcome = app.create_reservation(&caller, body.value, key).await?;
    Ok(created(
        outcome,
        |r| Some(format!("/api/v1/reservations/{}", r.id)),
        |_| None,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReservationListParams {
    item_id: Option<String>,
    /// A location code.
    location: Option<String>,
    /// active, released, consumed or expired (judged now: an active one
    /// past its expiry is expired).
    status: Option<String>,
    reference: Option<String>,
    /// 1-500, default 50.
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReservationList {
    pub reservations: Vec<Reservation>,
    pub next_cursor: Option<String>,
}

/// Lists reservations, oldest first.
#[utoipa::path(get, path = "/api/v1/reservations", tag = "reservations",
    params(ReservationListParams), security(("bearer" = [])),
    responses((status = 200, body = ReservationList)))]
pub async fn list_reservations(
    State(app): State<App>,
    Caller(caller): Caller,
    ApiQuery(p): ApiQuery<ReservationListParams>,
) -> ApiResult<Json<ReservationList>> {
    let query = ReservationQuery {
        item_id: parse_uuid("item_id", p.item_id.as_deref())?,
        location: text_param("location", p.location)?.map(|c| c.trim().to_uppercase()),
        status: text_param("status", p.status)?
            .map(|s| ReservationStatus::parse(&s))
            .transpose()?,
        reference: text_param("reference", p.reference)?,
        limit: parse_limit(p.limit.as_deref())?,
        after: parse_cursor(p.cursor.as_deref())?,
    };
    let page = app.list_reservations(&caller, query).await?;
    Ok(Json(ReservationList {
        reservations: page.rows,
        next_cursor: page.next_cursor.map(|id| encode_cursor(&id)),
    }))
}

/// Reads a reservation.
#[utoipa::path(get, path = "/api/v1/reservations/{id}", tag = "reservations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Reservation id")),
    responses((status = 200, body = Reservation)))]
pub async fn get_reservation(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
) -> ApiResult<Json<Reservation>> {
    let id = path_id(&id, "reservation")?;
    Ok(Json(app.get_reservation(&caller, id).await?))
}

/// Extends an active reservation's `expires_at` (`null`: hold until
/// released) or lowers its `quantity` (clerk or above). Ended: 409
/// `invalid-transition`.
#[utoipa::path(patch, path = "/api/v1/reservations/{id}", tag = "reservations",
    request_body(content = ReservationPatch, example = json!({"expires_at": "2030-01-01T12:30:00Z"})),
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "Reservation id")),
    responses((status = 200, body = Reservation)))]
pub async fn patch_reservation(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
    body: ApiJson<ReservationPatch>,
) -> ApiResult<Json<Reservation>> {
    let id = path_id(&id, "reservation")?;
    Ok(Json(app.update_reservation(&caller, id, body.value).await?))
}

/// Releases an active reservation: its stock is available again (clerk or
/// above). Already ended: 409 `invalid-transition` naming its status.
#[utoipa::path(delete, path = "/api/v1/reservations/{id}", tag = "reservations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Reservation id")),
    responses((status = 204, description = "Released")))]
pub async fn release_reservation(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
) -> ApiResult<StatusCode> {
    let id = path_id(&id, "reservation")?;
    app.release_reservation(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
