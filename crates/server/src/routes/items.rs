//! Items: create, read, list, merge-patch, archive, and per-location stock.

use super::{
    bad_query, idempotent, parse_bool, parse_limit, parse_time, replay, text_param, Outcome,
};
use crate::error::ApiResult;
use crate::extract::{if_match, path_id, ApiJson, AuthUser, Bearer};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use inventory_core::model::{CreateItem, Item, ItemPatch, Role, StockReport};
use inventory_core::paging::{decode_cursor, encode_cursor, ItemCursor, ItemQuery, ItemSort};
use inventory_core::Error;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use utoipa::{IntoParams, ToSchema};

fn with_etag(status: StatusCode, item: &Item) -> Response {
    let mut response = (status, Json(item)).into_response();
    if let Ok(v) = HeaderValue::from_str(&item.etag()) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// Creates an item (manager or admin).
#[utoipa::path(post, path = "/api/v1/items", tag = "items", request_body(content = CreateItem,
        example = json!({"sku": "WIDGET-1", "name": "Widget", "category": "parts", "unit": "each", "reorder_point": 10, "unit_cost": "2.50"})), security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create safe")),
    responses((status = 201, body = Item, headers(("Location" = String), ("ETag" = String)))))]
pub async fn create_item(
    State(state): State<AppState>,
    caller: AuthUser,
    headers: HeaderMap,
    body: ApiJson<CreateItem>,
) -> ApiResult<Response> {
    caller.require(Role::Manager)?;
    let new = body.value.validate()?;
    let outcome = idempotent(
        &state,
        &caller,
        &headers,
        "POST /api/v1/items",
        &body.raw,
        |idem| state.store.create_item(new, idem),
    )
    .await?;
    Ok(match outcome {
        Outcome::New(item) => {
            state.items_total.fetch_add(1, Ordering::Relaxed);
            state.items_active.fetch_add(1, Ordering::Relaxed);
            state.events_committed();
            let mut response = with_etag(StatusCode::CREATED, &item);
            if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/items/{}", item.id)) {
                response.headers_mut().insert(header::LOCATION, v);
            }
            response
        }
        Outcome::Replay(stored) => replay(stored),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemListParams {
    /// Case-insensitive substring of the sku or the name.
    q: Option<String>,
    category: Option<String>,
    /// Only items with `reorder_point > 0` and `available <= reorder_point`.
    low_stock: Option<String>,
    include_archived: Option<String>,
    /// Exact sku.
    sku: Option<String>,
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
    State(state): State<AppState>,
    _caller: AuthUser,
    params: Result<Query<ItemListParams>, QueryRejection>,
) -> ApiResult<Json<ItemList>> {
    let Query(p) = params.map_err(bad_query)?;
    let sort = match p.sort.as_deref() {
        None | Some("") => ItemSort::SkuAsc,
        Some(s) => ItemSort::parse(s)?,
    };
    let after = match p.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let cursor: ItemCursor = decode_cursor(c)?;
            if cursor.sort != sort {
                return Err(Error::invalid("cursor", "was made for another sort order").into());
            }
            Some(cursor)
        }
    };
    let query = ItemQuery {
        q: text_param("q", p.q)?,
        category: text_param("category", p.category)?,
        sku: text_param("sku", p.sku)?,
        low_stock: parse_bool("low_stock", p.low_stock.as_deref())?,
        include_archived: parse_bool("include_archived", p.include_archived.as_deref())?,
        sort,
        limit: parse_limit(p.limit.as_deref())?,
        after,
    };
    let page = state.store.list_items(&query).await?;
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
    State(state): State<AppState>,
    Bearer(token): Bearer,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = match path_id(&id, "item") {
        Ok(id) => id,
        // Who asks is checked first, as on every other route.
        Err(e) => {
            state.authenticate(&token).await?;
            return Err(e);
        }
    };
    // Any signed-in role may read. Authenticated with the read: one round
    // trip to Redis for both where replicas share it.
    let (_caller, item) = state.authenticated_item(&token, id).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, item.etag.clone()),
        ],
        item.json.clone(),
    )
        .into_response())
}

/// Applies a JSON merge patch to the editable fields; honours `If-Match`.
#[utoipa::path(patch, path = "/api/v1/items/{id}", tag = "items", request_body(content = ItemPatch,
        example = json!({"name": "Blue widget", "reorder_point": 20})), security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Item id"),
        ("If-Match" = Option<String>, Header, description = "ETag from a read; a stale one gets 412")),
    responses((status = 200, body = Item)))]
pub async fn patch_item(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: ApiJson<ItemPatch>,
) -> ApiResult<Response> {
    caller.require(Role::Manager)?;
    let id = path_id(&id, "item")?;
    let if_version = expected_version(&state, id, &headers).await?;
    let item = state.store.update_item(id, body.value, if_version).await?;
    state.item_changed(id).await;
    Ok(with_etag(StatusCode::OK, &item))
}

/// Resolves `If-Match` to the version a write must find, reading the item
/// from the store (never the cache) when the header lists versions.
async fn expected_version(
    state: &AppState,
    id: uuid::Uuid,
    headers: &HeaderMap,
) -> ApiResult<Option<i64>> {
    match if_match(headers)? {
        None => Ok(None),
        Some(versions) => {
            let current = state.store.get_item(id).await?;
            if versions.contains(&current.version) {
                Ok(Some(current.version))
            } else {
                Err(Error::PreconditionFailed.into())
            }
        }
    }
}

/// Archives an item that holds no stock.
#[utoipa::path(delete, path = "/api/v1/items/{id}", tag = "items", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Item id")),
    responses((status = 204, description = "Archived")))]
pub async fn delete_item(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    caller.require(Role::Manager)?;
    let id = path_id(&id, "item")?;
    let if_version = expected_version(&state, id, &headers).await?;
    let archived_now = state.store.archive_item(id, if_version).await?;
    state.item_changed(id).await;
    if archived_now {
        state.items_active.fetch_sub(1, Ordering::Relaxed);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
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
    State(state): State<AppState>,
    _caller: AuthUser,
    Path(id): Path<String>,
    params: Result<Query<StockParams>, QueryRejection>,
) -> ApiResult<Json<StockReport>> {
    let Query(p) = params.map_err(bad_query)?;
    let id = path_id(&id, "item")?;
    let as_of = parse_time("as_of", p.as_of.as_deref())?;
    Ok(Json(state.store.item_stock(id, as_of).await?))
}
