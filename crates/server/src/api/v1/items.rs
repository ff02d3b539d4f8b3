//! Items: create, read, list, merge-patch, archive, restore, and
//! per-location stock.

use crate::http::body::{body_limit, IMPORT_API_PATH};
use crate::http::error::{ApiResult, HttpError};
use crate::http::extract::{
    idempotency_key, if_match, path_id, ApiJson, ApiQuery, Bearer, Caller, NoParams,
};
use crate::http::params::{parse_bool, parse_cursor, parse_limit, parse_time, text_param};
use crate::http::respond::{created, csv_download};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use inventory_app::{App, UseCase};
use inventory_core::catalogue::{normalize_code, CreateItem, Item, ItemPatch};
use inventory_core::csvfile::ImportReport;
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

/// The filters of an item list, shared by the list and its CSV export.
struct ItemFilters {
    q: Option<String>,
    category: Option<String>,
    location: Option<String>,
    low_stock: Option<String>,
    include_archived: Option<String>,
    sku: Option<String>,
    barcode: Option<String>,
}

impl ItemFilters {
    fn query(self) -> Result<ItemQuery, Error> {
        let location = text_param("location", self.location)?
            .map(|code| normalize_code("location", &code).map_err(|e| Error::Validation(vec![e])))
            .transpose()?;
        Ok(ItemQuery {
            q: text_param("q", self.q)?,
            category: text_param("category", self.category)?,
            sku: text_param("sku", self.sku)?,
            barcode: text_param("barcode", self.barcode)?,
            location,
            low_stock: parse_bool("low_stock", self.low_stock.as_deref())?,
            include_archived: parse_bool("include_archived", self.include_archived.as_deref())?,
            ..ItemQuery::default()
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ItemExportParams {
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
    let filters = ItemFilters {
        q: p.q,
        category: p.category,
        location: p.location,
        low_stock: p.low_stock,
        include_archived: p.include_archived,
        sku: p.sku,
        barcode: p.barcode,
    };
    let query = ItemQuery {
        sort,
        limit: parse_limit(p.limit.as_deref())?,
        after,
        ..filters.query()?
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

/// Every item the filters of `GET /api/v1/items` select, as CSV (streamed,
/// so any size works): the columns an import reads
/// (`sku,name,description,category,barcode,unit,reorder_point,unit_cost`)
/// and the read-only `on_hand,available`. Text cells that a spreadsheet
/// would run as a formula (`=`, `+`, `-`, `@`...) start with `'`, which an
/// import takes off again.
#[utoipa::path(get, path = "/api/v1/items/export.csv", tag = "items", params(ItemExportParams),
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String,
        description = "The items as CSV (UTF-8, header row first, CRLF line ends)",
        headers(("Content-Disposition" = String, description = "attachment; filename=\"items.csv\"")))))]
pub async fn export_items(
    State(app): State<App>,
    Caller(caller): Caller,
    ApiQuery(p): ApiQuery<ItemExportParams>,
) -> ApiResult<Response> {
    let sort = match p.sort.as_deref() {
        None | Some("") => ItemSort::SkuAsc,
        Some(s) => ItemSort::parse(s)?,
    };
    let filters = ItemFilters {
        q: p.q,
        category: p.category,
        location: p.location,
        low_stock: p.low_stock,
        include_archived: p.include_archived,
        sku: p.sku,
        barcode: p.barcode,
    };
    let query = ItemQuery {
        sort,
        ..filters.query()?
    };
    let csv = app.export_items(&caller, query).await?;
    Ok(csv_download(csv, "items.csv"))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// `true`: check every row and report, write nothing.
    dry_run: Option<String>,
}

fn is_csv(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';').map(|p| p.trim().to_ascii_lowercase());
    let mime = parts.next().unwrap_or_default();
    let utf8 = parts.all(|p| match p.split_once('=') {
        Some(("charset", charset)) => matches!(charset.trim_matches('"'), "utf-8" | "utf8"),
        _ => true,
    });
    mime == "text/csv" && utf8
}

/// How many row errors a problem's `detail` repeats (`errors` has them all).
const DETAIL_ERRORS: usize = 5;

/// The 422 of an import that wrote nothing because rows are invalid.
pub fn refused_import(report: &ImportReport) -> HttpError {
    let errors = report.field_errors();
    let mut detail = if report.errors.is_empty() {
        format!(
            "{} of {} rows have errors; nothing was written: ",
            report.invalid, report.total
        )
    } else {
        "the file cannot be imported; nothing was written: ".to_owned()
    };
    let shown: Vec<String> = errors
        .iter()
        .take(DETAIL_ERRORS)
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect();
    detail.push_str(&shown.join("; "));
    if errors.len() > DETAIL_ERRORS {
        detail.push_str(&format!(
            "; and {} more in `errors`",
            errors.len() - DETAIL_ERRORS
        ));
    }
    HttpError::Invalid { detail, errors }
}

/// Imports items from a CSV file (manager or admin), all or nothing: a row
/// whose SKU (without regard to case) an item has updates that item, any
/// other row creates one. The header row names the columns, in any order:
/// `sku` and `name` are required; `description`, `category`, `barcode`,
/// `unit`, `reorder_point`, `unit_cost` are optional (a missing column, or
/// an empty `unit`/`reorder_point`/`unit_cost` cell, keeps an item's value;
/// an empty `description`/`category`/`barcode` cell clears it); the
/// export's `on_hand` and `available` are ignored. At most 100,000 rows and
/// 32 MiB. With `dry_run=true`, or when any row has an error, nothing is
/// written; every row's errors are reported by row (the header is row 1)
/// and column. Otherwise every row is written in one transaction.
#[utoipa::path(post, path = "/api/v1/items/import", tag = "items",
    request_body(content = String, content_type = "text/csv",
        description = "UTF-8 CSV with a header row",
        example = json!("sku,name,category,unit,reorder_point,unit_cost\r\nWIDGET-1,Widget,parts,each,10,2.50\r\n")),
    params(ImportParams), security(("bearer" = [])),
    responses((status = 200, body = ImportReport,
        description = "Checked (`dry_run`), or written: every row, in one transaction")))]
pub async fn import_items(
    State(app): State<App>,
    Caller(caller): Caller,
    ApiQuery(p): ApiQuery<ImportParams>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    // Who asks is checked before what they sent, as on every other route.
    caller.require(UseCase::ImportItems)?;
    let dry_run = parse_bool("dry_run", p.dry_run.as_deref())?;
    if !is_csv(&headers) {
        return Err(HttpError::UnsupportedMediaType("text/csv (UTF-8)"));
    }
    // Read whole already (`http::body`), within the import's limit.
    let bytes = axum::body::to_bytes(body, body_limit(IMPORT_API_PATH))
        .await
        .map_err(|_| HttpError::PayloadTooLarge(body_limit(IMPORT_API_PATH)))?;
    let report = app.import_items(&caller, &bytes, dry_run, None).await?;
    if !dry_run && !report.written {
        return Err(refused_import(&report));
    }
    Ok((StatusCode::OK, Json(report)).into_response())
}
