//! Items: create, read, list, merge-patch, archive, restore, and
//! per-location stock.

use crate::http::error::{ApiResult, HttpError};
use crate::http::extract::{
    idempotency_key, if_match, path_id, ApiJson, ApiQuery, Bearer, Caller, NoParams,
};
use crate::http::params::{parse_bool, parse_cursor, parse_limit, parse_time, text_param};
use crate::http::respond::created;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use inventory_app::App;
use inventory_core::catalogue::{normalize_code, CreateItem, Item, ItemPatch};
use inventory_core::ledger::StockReport;
use inventory_core::paging::{encode_cursor, ItemCursor, ItemQuery, ItemSort};
use inventory_core::Error;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

fn with_etag(status: StatusCode, item: &Item) -> Response {
    let mut response = (status, Json(item)).into_response();
    if let Ok(v) = HeaderValue::from_str(&item.etag()) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// Creates an item (manager or admin). SKUs are unique without regard to case.
#[utoipa::path(post, path = "/api/v1/items", tag = "items", request_body(content = CreateItem,
        example = json!({"sku": "WIDGET-1", "name": "Widget", "category": "parts", "unit": "each", "reorder_point": 10, "unit_cost": "2.50"})), security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create safe")),
    responses((status = 201, body = Item, headers(("Location" = String), ("ETag" = String)))))]
pub async fn create_item(
    State(app): State<App>,
    Caller(caller): Caller,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
    body: ApiJson<CreateItem>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers, "POST /api/v1/items", &body.raw)?;
    let outcome = app.create_item(&caller, body.value, key).await?;
    Ok(created(
        outcome,
        |item| Some(format!("/api/v1/items/{}", item.id)),
        |item| Some(item.etag()),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ItemListParams {
    /// Case-insensitive substring of the sku or the name, or an exact barcode.
    q: Option<String>,
    /// Category, without regard to case.
    category: Option<String>,
    /// Location code: only items with stock on hand there.
    location: Option<String>,
    /// Only items with `reorder_point > 0` and `available <= reorder_point`.
    low_stock: Option<String>,
    include_archived: Option<String>,
    /// Exact sku, without regard to case.
    sku: Option<String>,
    /// Exact barcode (what a scanner reads).
    barcode: Option<String>,
    /// `sku` (default), `-sku`, `created_at` or `-created_at`.
    sort: Option<String>,
    /// 1-500, default 50.
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemList {
    pub items: Vec<Item>,
    pub next_cursor: Option<String>,
}

/// Lists items with keyset paging.
#[utoipa::path(get, path = "/api/v1/items", tag = "items", params(ItemListParams), security(("bearer" = [])),
    responses((status = 200, body = ItemList)))]
pub async fn list_items(
    State(app): State<App>,
    Caller(caller): Caller,
    ApiQuery(p): ApiQuery<ItemListParams>,
) -> ApiResult<Json<ItemList>> {
    let sort = match p.sort.as_deref() {
        None | Some("") => ItemSort::SkuAsc,
        Some(s) => ItemSort::parse(s)?,
    };
    let after: Option<ItemCursor> = parse_cursor(p.cursor.as_deref())?;
    if after.as_ref().is_some_and(|c| c.sort != sort) {
        return Err(Error::invalid("cursor", "was made for another sort order").into());
    }
    let location = text_param("location", p.location)?
        .map(|code| normalize_code("location", &code).map_err(|e| Error::Validation(vec![e])))
        .transpose()?;
    let query = ItemQuery {
        q: text_param("q", p.q)?,
        category: text_param("category", p.category)?,
        sku: text_param("sku", p.sku)?,
        barcode: text_param("barcode", p.barcode)?,
        location,
        low_stock: parse_bool("low_stock", p.low_stock.as_deref())?,
        include_archived: parse_bool("include_archived", p.include_archived.as_deref())?,
        sort,
        limit: parse_limit(p.limit.as_deref())?,
        after,
    };
    let page = app.list_items(&caller, query).await?;
    Ok(Json(ItemList {
        items: page.rows,
        next_cursor: page
            .next_cursor
            .map(|key| encode_cursor(&ItemCursor { sort, key })),
    }))
}

/// Reads an item; the `ETag` names its version.
#[utoipa::path(get, path = "/api/v1/items/{id}", tag = "items", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Item id")),
    responses((status = 200, body = Item, headers(("ETag" = String)))))]
pub async fn get_item(
    State(app): State<App>,
    Bearer(token): Bearer,
    Path(id): Path<String>,
    query: Result<ApiQuery<NoParams>, HttpError>,
) -> ApiResult<Response> {
    let id = match (path_id(&id, "item"), query) {
        (Ok(id), Ok(_)) => id,
        // Who asks is checked first, as on every other route.
        (Err(e), _) | (_, Err(e)) => {
            app.authenticate(&token).await?;
            return Err(e);
        }
    };
    // Authenticated with the read: one round trip to Redis for both where
    // replicas share it.
    let (_caller, item) = app.authenticated_item(&token, id).await?;
    let etag = HeaderValue::from_maybe_shared(item.etag()).map_err(Error::internal)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, etag),
        ],
        item.json(),
    )
        .into_response())
}

/// Applies a JSON merge patch to the editable fields (a manager may change
/// the SKU: the item keeps its id and its history); honours `If-Match`.
#[utoipa::path(patch, path = "/api/v1/items/{id}", tag = "items", request_body(content = ItemPatch,
        example = json!({"name": "Blue widget", "reorder_point": 20})), security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Item id"),
        ("If-Match" = Option<String>, Header, description = "ETag from a read; a stale one gets 412")),
    responses((status = 200, body = Item, headers(("ETag" = String)))))]
pub async fn patch_item(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
    body: ApiJson<ItemPatch>,
) -> ApiResult<Response> {
    let id = path_id(&id, "item")?;
    let item = app
        .update_item(&caller, id, body.value, if_match(&headers)?)
        .await?;
    Ok(with_etag(StatusCode::OK, &item))
}

/// Archives an item that holds no stock (restore brings it back).
#[utoipa::path(delete, path = "/api/v1/items/{id}", tag = "items", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Item id"),
        ("If-Match" = Option<String>, Header, description = "ETag from a read; a stale one gets 412")),
    responses((status = 204, description = "Archived")))]
pub async fn delete_item(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let id = path_id(&id, "item")?;
    app.archive_item(&caller, id, if_match(&headers)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Brings an archived item back (restoring an active item changes nothing).
#[utoipa::path(post, path = "/api/v1/items/{id}/restore", tag = "items", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Item id"),
        ("If-Match" = Option<String>, Header, description = "ETag from a read; a stale one gets 412")),
    responses((status = 200, body = Item, headers(("ETag" = String)))))]
pub async fn restore_item(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = path_id(&id, "item")?;
    let item = app.restore_item(&caller, id, if_match(&headers)?).await?;
    Ok(with_etag(StatusCode::OK, &item))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StockParams {
    /// RFC 3339 instant; balances are then summed from the ledger up to it.
    as_of: Option<String>,
}

/// Per-location balances and totals, now or as of an instant.
#[utoipa::path(get, path = "/api/v1/items/{id}/stock", tag = "items", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Item id"), StockParams),
    responses((status = 200, body = StockReport)))]
pub async fn item_stock(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<StockParams>,
) -> ApiResult<Json<StockReport>> {
    let id = path_id(&id, "item")?;
    let as_of = parse_time("as_of", p.as_of.as_deref())?;
    Ok(Json(app.item_stock(&caller, id, as_of).await?))
}
