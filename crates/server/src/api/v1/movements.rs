//! The ledger: post movements one at a time or in all-or-none batches, page
//! through them by `seq`, read one, and reverse a mistake.

use crate::http::error::ApiResult;
use crate::http::extract::{
    idempotency_key, parse_json, path_id, ApiJson, ApiQuery, Caller, NoParams,
};
use crate::http::params::{parse_cursor, parse_limit, parse_time, parse_uuid, text_param};
use crate::http::respond::{created, csv_download};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use inventory_app::movements::MovementFilter;
use inventory_app::App;
use inventory_core::catalogue::normalize_code;
use inventory_core::ledger::{
    CreateMovement, Movement, MovementKind, MovementResult, ReverseMovement,
};
use inventory_core::paging::{encode_cursor, MovementQuery, SeqCursor, SeqOrder};
use inventory_core::{Error, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Records one movement (clerk or above). The item is named by `item_id` or
/// by `sku`; a movement without a location uses the default location.
#[utoipa::path(post, path = "/api/v1/movements", tag = "movements", request_body(content = CreateMovement,
        example = json!({"sku": "WIDGET-1", "kind": "receive", "quantity": 12, "location": "MAIN", "reference": "PO-1042"})),
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried post safe")),
    responses((status = 201, body = MovementResult)))]
pub async fn create_movement(
    State(app): State<App>,
    Caller(caller): Caller,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
    body: ApiJson<CreateMovement>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers, "POST /api/v1/movements", &body.raw)?;
    let outcome = app.record_movement(&caller, body.value, key).await?;
    Ok(created(outcome, |_| None, |_| None))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1 to 1000 movements, applied all or none.
    pub movements: Vec<CreateMovement>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    pub movements: Vec<MovementResult>,
}

/// Records up to 1000 movements in one transaction: all or none. A failure
/// names the index of the first failing entry.
#[utoipa::path(post, path = "/api/v1/movements/batch", tag = "movements", request_body(content = BatchRequest,
        example = json!({"movements": [
            {"sku": "WIDGET-1", "kind": "receive", "quantity": 12},
            {"sku": "WIDGET-1", "kind": "transfer", "quantity": 2, "from_location": "MAIN", "to_location": "A-01"}]})),
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried post safe")),
    responses((status = 201, body = BatchResponse)))]
pub async fn create_batch(
    State(app): State<App>,
    Caller(caller): Caller,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
    body: ApiJson<serde_json::Value>,
) -> ApiResult<Response> {
    let request: BatchRequest = if body.value.is_array() {
        return Err(Error::Validation(vec![FieldError::new(
            "body",
            "a batch is an object: send the movements as {\"movements\": [...]}",
        )])
        .into());
    } else {
        parse_json(&body.raw)?
    };
    let key = idempotency_key(&headers, "POST /api/v1/movements/batch", &body.raw)?;
    let outcome = app
        .record_movements(&caller, request.movements, key)
        .await?;
    Ok(created(
        outcome.map(|movements| BatchResponse { movements }),
        |_| None,
        |_| None,
    ))
}

/// Reads one movement of the ledger.
#[utoipa::path(get, path = "/api/v1/movements/{id}", tag = "movements", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Movement id")),
    responses((status = 200, body = Movement)))]
pub async fn get_movement(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
) -> ApiResult<Json<Movement>> {
    let id = path_id(&id, "movement")?;
    Ok(Json(app.get_movement(&caller, id).await?))
}

/// Reverses a movement: appends the opposite movement at the same locations
/// (`reverses` points at the original, which then shows `reversed_by`).
/// Once per movement; refused like any movement when the stock has gone.
#[utoipa::path(post, path = "/api/v1/movements/{id}/reverse", tag = "movements", request_body(content = ReverseMovement,
        example = json!({"reason": "counted twice"})),
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The movement to reverse"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried post safe")),
    responses((status = 201, body = MovementResult)))]
pub async fn reverse_movement(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
    body: ApiJson<ReverseMovement>,
) -> ApiResult<Response> {
    let id = path_id(&id, "movement")?;
    let route = format!("POST /api/v1/movements/{id}/reverse");
    let key = idempotency_key(&headers, &route, &body.raw)?;
    let outcome = app.reverse_movement(&caller, id, body.value, key).await?;
    Ok(created(outcome, |_| None, |_| None))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MovementListParams {
    item_id: Option<String>,
    /// The item's SKU (without regard to case), instead of `item_id`.
    sku: Option<String>,
    /// Location code; matches location, from_location or to_location.
    location: Option<String>,
    /// `receive`, `issue`, `transfer` or `adjust`.
    kind: Option<String>,
    /// RFC 3339; movements at or after it.
    since: Option<String>,
    /// RFC 3339; movements before it.
    until: Option<String>,
    /// `asc` (default) or `desc` by seq.
    order: Option<String>,
    /// 1-500, default 50.
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The filters of a ledger list, shared by the list and its CSV export.
struct MovementFilters {
    item_id: Option<String>,
    sku: Option<String>,
    location: Option<String>,
    kind: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

fn parse_order(order: Option<&str>) -> Result<SeqOrder, Error> {
    match order {
        None | Some("") | Some("asc") => Ok(SeqOrder::Asc),
        Some("desc") => Ok(SeqOrder::Desc),
        Some(_) => Err(Error::invalid("order", "must be asc or desc")),
    }
}

impl MovementFilters {
    fn filter(
        self,
        order: SeqOrder,
        limit: u32,
        after_seq: Option<i64>,
    ) -> Result<MovementFilter, Error> {
        let kind = self
            .kind
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| {
                MovementKind::parse(s).ok_or_else(|| {
                    Error::invalid("kind", "must be receive, issue, transfer or adjust")
                })
            })
            .transpose()?;
        let location = self
            .location
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| normalize_code("location", s).map_err(|e| Error::Validation(vec![e])))
            .transpose()?;
        Ok(MovementFilter {
            query: MovementQuery {
                item_id: parse_uuid("item_id", self.item_id.as_deref())?,
                location,
                kind,
                since: parse_time("since", self.since.as_deref())?,
                until: parse_time("until", self.until.as_deref())?,
                order,
                limit,
                after_seq,
            },
            sku: text_param("sku", self.sku)?,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MovementList {
    pub movements: Vec<Movement>,
    pub next_cursor: Option<String>,
}

/// Pages through the ledger by `seq`.
#[utoipa::path(get, path = "/api/v1/movements", tag = "movements", params(MovementListParams),
    security(("bearer" = [])), responses((status = 200, body = MovementList)))]
pub async fn list_movements(
    State(app): State<App>,
    Caller(caller): Caller,
    ApiQuery(p): ApiQuery<MovementListParams>,
) -> ApiResult<Json<MovementList>> {
    let order = parse_order(p.order.as_deref())?;
    let after: Option<SeqCursor> = parse_cursor(p.cursor.as_deref())?;
    if after.as_ref().is_some_and(|c| c.order != order) {
        return Err(Error::invalid("cursor", "was made for another order").into());
    }
    let filter = MovementFilters {
        item_id: p.item_id,
        sku: p.sku,
        location: p.location,
        kind: p.kind,
        since: p.since,
        until: p.until,
    }
    .filter(
        order,
        parse_limit(p.limit.as_deref())?,
        after.map(|c| c.seq),
    )?;
    let page = app.list_movements(&caller, filter).await?;
    let next_cursor = page
        .next_cursor
        .and_then(|seq| seq.parse().ok())
        .map(|seq| encode_cursor(&SeqCursor { order, seq }));
    Ok(Json(MovementList {
        movements: page.rows,
        next_cursor,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MovementExportParams {
    item_id: Option<String>,
    /// The item's SKU (without regard to case), instead of `item_id`.
    sku: Option<String>,
    /// Location code; matches location, from_location or to_location.
    location: Option<String>,
    /// `receive`, `issue`, `transfer` or `adjust`.
    kind: Option<String>,
    /// RFC 3339; movements at or after it.
    since: Option<String>,
    /// RFC 3339; movements before it.
    until: Option<String>,
    /// `asc` (default) or `desc` by seq.
    order: Option<String>,
}

/// Every movement the filters of `GET /api/v1/movements` select, as CSV
/// (streamed, so any size works): `seq,id,created_at,kind,sku,item_id,
/// quantity,location,from_location,to_location,reason,reference,reverses,
/// reversed_by,created_by`. Text cells that a spreadsheet would run as a
/// formula start with `'`.
#[utoipa::path(get, path = "/api/v1/movements/export.csv", tag = "movements", params(MovementExportParams),
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String,
        description = "The movements as CSV (UTF-8, header row first, CRLF line ends)",
        headers(("Content-Disposition" = String, description = "attachment; filename=\"movements.csv\"")))))]
pub async fn export_movements(
    State(app): State<App>,
    Caller(caller): Caller,
    ApiQuery(p): ApiQuery<MovementExportParams>,
) -> ApiResult<Response> {
    let order = parse_order(p.order.as_deref())?;
    let filter = MovementFilters {
        item_id: p.item_id,
        sku: p.sku,
        location: p.location,
        kind: p.kind,
        since: p.since,
        until: p.until,
    }
    .filter(order, 1, None)?;
    let csv = app.export_movements(&caller, filter).await?;
    Ok(csv_download(csv, "movements.csv"))
}
