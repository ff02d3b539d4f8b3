//! Sales orders: a cart (a draft that may hold stock), confirm, ship, cancel.

use crate::http::error::ApiResult;
use crate::http::extract::{
    idempotency_key, path_id, ApiJson, ApiQuery, Caller, NoParams, OptionalJson,
};
use crate::http::params::{parse_cursor, parse_limit, parse_uuid, text_param};
use crate::http::respond::{created, replay};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use inventory_app::{App, Outcome};
use inventory_core::paging::encode_cursor;
use inventory_core::sales::{
    CreateSalesOrder, HoldRequest, SalesOrder, SalesOrderPatch, SalesOrderQuery, SalesOrderStatus,
    ShipRequest,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A transition's answer: the order (200), or the recorded response of an
/// earlier request with the same key.
fn answered(outcome: Outcome<SalesOrder>) -> Response {
    match outcome {
        Outcome::New(order) => Json(order).into_response(),
        Outcome::Replay(stored) => replay(stored),
    }
}

fn order_id(raw: &str) -> Result<Uuid, crate::http::error::HttpError> {
    path_id(raw, "sales order")
}

/// Creates a draft (clerk or above) numbered `SO-000001`, ... With
/// `hold_minutes` (a cart) every line's stock is held that long, all or
/// none: a short line is a 409 `insufficient-stock` naming it (`index`,
/// `line_id`).
#[utoipa::path(post, path = "/api/v1/sales-orders", tag = "sales-orders",
    request_body(content = CreateSalesOrder, example = json!({
        "reference": "web-1042", "ship_from": "MAIN", "hold_minutes": 15,
        "lines": [{"item_id": "0190f1c2-7a6b-7c3d-9e4f-0123456789ab", "quantity": 2, "unit_price": "4.50"}]})),
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create safe")),
    responses((status = 201, body = SalesOrder, headers(("Location" = String)))))]
pub async fn create_sales_order(
    State(app): State<App>,
    Caller(caller): Caller,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
    body: ApiJson<CreateSalesOrder>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers, "POST /api/v1/sales-orders", &body.raw)?;
    let outcome = app.create_sales_order(&caller, body.value, key).await?;
    Ok(created(
        outcome,
        |o| Some(format!("/api/v1/sales-orders/{}", o.id)),
        |_| None,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SalesOrderListParams {
    /// draft, confirmed, partially_shipped, shipped or cancelled.
    status: Option<String>,
    customer_id: Option<String>,
    /// Part of the number or the reference, any case.
    q: Option<String>,
    /// 1-500, default 50.
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SalesOrderList {
    pub sales_orders: Vec<SalesOrder>,
    pub next_cursor: Option<String>,
}

/// Lists sales orders, oldest first.
#[utoipa::path(get, path = "/api/v1/sales-orders", tag = "sales-orders",
    params(SalesOrderListParams), security(("bearer" = [])),
    responses((status = 200, body = SalesOrderList)))]
pub async fn list_sales_orders(
    State(app): State<App>,
    Caller(caller): Caller,
    ApiQuery(p): ApiQuery<SalesOrderListParams>,
) -> ApiResult<Json<SalesOrderList>> {
    let query = SalesOrderQuery {
        status: text_param("status", p.status)?
            .map(|s| SalesOrderStatus::parse(&s))
            .transpose()?,
        customer_id: parse_uuid("customer_id", p.customer_id.as_deref())?,
        q: text_param("q", p.q)?.map(|q| q.trim().to_owned()),
        limit: parse_limit(p.limit.as_deref())?,
        after: parse_cursor(p.cursor.as_deref())?,
    };
    let page = app.list_sales_orders(&caller, query).await?;
    Ok(Json(SalesOrderList {
        sales_orders: page.rows,
        next_cursor: page.next_cursor.map(|id| encode_cursor(&id)),
    }))
}

/// Reads a sales order with its lines (`shipped`, `reserved`, totals).
#[utoipa::path(get, path = "/api/v1/sales-orders/{id}", tag = "sales-orders", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Sales order id")),
    responses((status = 200, body = SalesOrder)))]
pub async fn get_sales_order(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
) -> ApiResult<Json<SalesOrder>> {
    Ok(Json(app.get_sales_order(&caller, order_id(&id)?).await?))
}

/// Changes a draft: `reference`, `customer_id`, and `lines` merged by
/// `line_id` (`quantity`, `unit_price`; `"remove": true` removes one; a
/// line without `line_id` is added). A held draft's holds follow its lines.
#[utoipa::path(patch, path = "/api/v1/sales-orders/{id}", tag = "sales-orders",
    request_body(content = SalesOrderPatch, example = json!({
        "lines": [{"line_id": "0190f1c2-7a6b-7c3d-9e4f-0123456789ab", "quantity": 3}]})),
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "Sales order id")),
    responses((status = 200, body = SalesOrder)))]
pub async fn patch_sales_order(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
    body: ApiJson<SalesOrderPatch>,
) -> ApiResult<Json<SalesOrder>> {
    let id = order_id(&id)?;
    Ok(Json(app.update_sales_order(&caller, id, body.value).await?))
}

/// Holds a draft's stock for `minutes` more (a cart renewal): its holds are
/// extended, what lapsed is reserved again; all or none.
#[utoipa::path(post, path = "/api/v1/sales-orders/{id}/hold", tag = "sales-orders",
    request_body(content = HoldRequest, example = json!({"minutes": 15})),
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Sales order id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried post safe")),
    responses((status = 200, body = SalesOrder)))]
pub async fn hold_sales_order(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
    body: ApiJson<HoldRequest>,
) -> ApiResult<Response> {
    let id = order_id(&id)?;
    let key = idempotency_key(
        &headers,
        &format!("POST /api/v1/sales-orders/{id}/hold"),
        &body.raw,
    )?;
    Ok(answered(
        app.hold_sales_order(&caller, id, body.value, key).await?,
    ))
}

/// Confirms a draft: every line reserved with no expiry, all or none (a
/// held draft's holds become firm without ever being released). A short
/// line: 409 `insufficient-stock` naming it, with `available` and `requested`.
#[utoipa::path(post, path = "/api/v1/sales-orders/{id}/confirm", tag = "sales-orders",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Sales order id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried post safe")),
    responses((status = 200, body = SalesOrder)))]
pub async fn confirm_sales_order(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
    body: OptionalJson<serde_json::Value>,
) -> ApiResult<Response> {
    let id = order_id(&id)?;
    let key = idempotency_key(
        &headers,
        &format!("POST /api/v1/sales-orders/{id}/confirm"),
        &body.raw,
    )?;
    Ok(answered(app.confirm_sales_order(&caller, id, key).await?))
}

/// Ships `lines` (`line_id`, `quantity`), or with no body everything
/// outstanding: per line an `issue` at `ship_from` whose reference is the
/// order's number, and its reservation consumed, in one transaction.
/// `partially_shipped` or `shipped`. More than a line's outstanding: 422.
#[utoipa::path(post, path = "/api/v1/sales-orders/{id}/ship", tag = "sales-orders",
    request_body(content = Option<ShipRequest>, example = json!({
        "lines": [{"line_id": "0190f1c2-7a6b-7c3d-9e4f-0123456789ab", "quantity": 1}]})),
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Sales order id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried post safe")),
    responses((status = 200, body = SalesOrder)))]
pub async fn ship_sales_order(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
    body: OptionalJson<ShipRequest>,
) -> ApiResult<Response> {
    let id = order_id(&id)?;
    let key = idempotency_key(
        &headers,
        &format!("POST /api/v1/sales-orders/{id}/ship"),
        &body.raw,
    )?;
    Ok(answered(
        app.ship_sales_order(&caller, id, body.value, key).await?,
    ))
}

/// Cancels an order (manager or admin): what it still reserves is
/// released; what shipped stays shipped.
#[utoipa::path(post, path = "/api/v1/sales-orders/{id}/cancel", tag = "sales-orders",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Sales order id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried post safe")),
    responses((status = 200, body = SalesOrder)))]
pub async fn cancel_sales_order(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
    body: OptionalJson<serde_json::Value>,
) -> ApiResult<Response> {
    let id = order_id(&id)?;
    let key = idempotency_key(
        &headers,
        &format!("POST /api/v1/sales-orders/{id}/cancel"),
        &body.raw,
    )?;
    Ok(answered(app.cancel_sales_order(&caller, id, key).await?))
}
