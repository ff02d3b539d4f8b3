//! Purchase orders: create and edit drafts, submit, receive into stock,
//! cancel; list and read.

use crate::http::error::ApiResult;
use crate::http::extract::{idempotency_key, path_id, ApiJson, ApiQuery, Caller, NoParams};
use crate::http::params::{parse_cursor, parse_limit, parse_uuid, text_param};
use crate::http::respond::created;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use inventory_app::App;
use inventory_core::paging::encode_cursor;
use inventory_core::purchasing::{
    CreatePurchaseOrder, PoQuery, PoStatus, PurchaseOrder, PurchaseOrderPatch, ReceiptResult,
    ReceivePurchaseOrder,
};
use inventory_core::Error;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Creates a draft purchase order (clerk or above). The supplier is a party
/// of kind `supplier` or `both`; `receive_to` defaults to the default
/// location; a line without `unit_cost` takes the item's. The number
/// (`PO-000001`) is allocated in the write's transaction.
#[utoipa::path(post, path = "/api/v1/purchase-orders", tag = "purchase-orders", request_body(content = CreatePurchaseOrder,
        example = json!({"supplier_id": "0190f2d6-7c1e-7b4a-9d0e-2b3c4d5e6f70", "reference": "Quote 1042",
            "lines": [{"item_id": "0190f2d6-7c1e-7b4a-9d0e-2b3c4d5e6f71", "quantity": 12, "unit_cost": "2.50"}]})),
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create safe")),
    responses((status = 201, body = PurchaseOrder, headers(("Location" = String)))))]
pub async fn create_purchase_order(
    State(app): State<App>,
    Caller(caller): Caller,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
    body: ApiJson<CreatePurchaseOrder>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers, "POST /api/v1/purchase-orders", &body.raw)?;
    let outcome = app.create_purchase_order(&caller, body.value, key).await?;
    Ok(created(
        outcome,
        |o| Some(format!("/api/v1/purchase-orders/{}", o.id)),
        |_| None,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PurchaseOrderListParams {
    /// `draft`, `submitted`, `partially_received`, `received`, `cancelled` or `closed`.
    status: Option<String>,
    supplier_id: Option<String>,
    /// Case-insensitive part of the number or the reference.
    q: Option<String>,
    /// 1-500, default 50.
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PurchaseOrderList {
    pub purchase_orders: Vec<PurchaseOrder>,
    pub next_cursor: Option<String>,
}

/// Lists purchase orders, newest first, with their lines.
#[utoipa::path(get, path = "/api/v1/purchase-orders", tag = "purchase-orders", params(PurchaseOrderListParams),
    security(("bearer" = [])), responses((status = 200, body = PurchaseOrderList)))]
pub async fn list_purchase_orders(
    State(app): State<App>,
    Caller(caller): Caller,
    ApiQuery(p): ApiQuery<PurchaseOrderListParams>,
) -> ApiResult<Json<PurchaseOrderList>> {
    let status = p
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            PoStatus::parse(s).ok_or_else(|| {
                Error::invalid(
                    "status",
                    "must be draft, submitted, partially_received, received, cancelled or closed",
                )
            })
        })
        .transpose()?;
    let after: Option<i64> = parse_cursor(p.cursor.as_deref())?;
    let query = PoQuery {
        status,
        supplier_id: parse_uuid("supplier_id", p.supplier_id.as_deref())?,
        q: text_param("q", p.q)?,
        limit: parse_limit(p.limit.as_deref())?,
        after_seq: after,
    };
    let page = app.list_purchase_orders(&caller, query).await?;
    Ok(Json(PurchaseOrderList {
        purchase_orders: page.rows,
        next_cursor: page
            .next_cursor
            .and_then(|seq| seq.parse::<i64>().ok())
            .map(|seq| encode_cursor(&seq)),
    }))
}

/// Reads a purchase order with its lines.
#[utoipa::path(get, path = "/api/v1/purchase-orders/{id}", tag = "purchase-orders", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Purchase order id")),
    responses((status = 200, body = PurchaseOrder)))]
pub async fn get_purchase_order(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
) -> ApiResult<Json<PurchaseOrder>> {
    let id = path_id(&id, "purchase order")?;
    Ok(Json(app.get_purchase_order(&caller, id).await?))
}

/// Edits a draft (clerk or above): a merge patch of the header; `lines`
/// merge by `line_id` (an entry without `line_id` adds a line, `"remove":
/// true` removes the named one, lines not named stay). Any other status is
/// 409 `invalid-transition`.
#[utoipa::path(patch, path = "/api/v1/purchase-orders/{id}", tag = "purchase-orders", request_body(content = PurchaseOrderPatch,
        example = json!({"lines": [{"line_id": "0190f2d6-7c1e-7b4a-9d0e-2b3c4d5e6f72", "quantity": 20}]})),
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "Purchase order id")),
    responses((status = 200, body = PurchaseOrder)))]
pub async fn patch_purchase_order(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
    body: ApiJson<PurchaseOrderPatch>,
) -> ApiResult<Json<PurchaseOrder>> {
    let id = path_id(&id, "purchase order")?;
    Ok(Json(
        app.update_purchase_order(&caller, id, body.value).await?,
    ))
}

/// Submits a draft to its supplier (manager or admin): `submitted`, and
/// its quantities count as the items' `incoming`. No body.
#[utoipa::path(post, path = "/api/v1/purchase-orders/{id}/submit", tag = "purchase-orders", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Purchase order id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried post safe")),
    responses((status = 201, body = PurchaseOrder)))]
pub async fn submit_purchase_order(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = path_id(&id, "purchase order")?;
    let route = format!("POST /api/v1/purchase-orders/{id}/submit");
    let key = idempotency_key(&headers, &route, b"")?;
    let outcome = app.submit_purchase_order(&caller, id, key).await?;
    Ok(created(outcome, |_| None, |_| None))
}

/// Receives lines of a submitted order into stock (clerk or above), in one
/// transaction: a `receive` movement per line (the order number as
/// `reference`), the lines' `received`, the items' `incoming`, the status
/// (`partially_received` or `received`). More than a line still expects is
/// 409 `over-receipt` unless `"allow_over_receipt": true`.
#[utoipa::path(post, path = "/api/v1/purchase-orders/{id}/receive", tag = "purchase-orders", request_body(content = ReceivePurchaseOrder,
        example = json!({"lines": [{"line_id": "0190f2d6-7c1e-7b4a-9d0e-2b3c4d5e6f72", "quantity": 6}]})),
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Purchase order id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried post safe")),
    responses((status = 201, body = ReceiptResult)))]
pub async fn receive_purchase_order(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
    body: ApiJson<ReceivePurchaseOrder>,
) -> ApiResult<Response> {
    let id = path_id(&id, "purchase order")?;
    let route = format!("POST /api/v1/purchase-orders/{id}/receive");
    let key = idempotency_key(&headers, &route, &body.raw)?;
    let outcome = app
        .receive_purchase_order(&caller, id, body.value, key)
        .await?;
    Ok(created(outcome, |_| None, |_| None))
}

/// Cancels an open order (manager or admin): `cancelled` when nothing was
/// received, else `closed`; what was outstanding leaves `incoming`. No body.
#[utoipa::path(post, path = "/api/v1/purchase-orders/{id}/cancel", tag = "purchase-orders", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Purchase order id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried post safe")),
    responses((status = 201, body = PurchaseOrder)))]
pub async fn cancel_purchase_order(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = path_id(&id, "purchase order")?;
    let route = format!("POST /api/v1/purchase-orders/{id}/cancel");
    let key = idempotency_key(&headers, &route, b"")?;
    let outcome = app.cancel_purchase_order(&caller, id, key).await?;
    Ok(created(outcome, |_| None, |_| None))
}
