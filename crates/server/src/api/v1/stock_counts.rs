//! Stock counts (stocktakes): post what was counted at a location.

use crate::http::error::ApiResult;
use crate::http::extract::{ApiJson, ApiQuery, Caller, NoParams};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use inventory_app::App;
use inventory_core::stocktake::{CountResult, CreateStockCount};

/// Posts a stock count: each line's difference from the books at
/// `as_of_seq` becomes an `adjust` movement with reason `stock count`, all in
/// one transaction (none where the count matches). Refused with 409
/// `count-outdated`, naming the items in `moved`, when any counted item
/// moved at the location after `as_of_seq`: count those again. Take
/// `as_of_seq` from `GET /api/v1/movements?order=desc&limit=1` (its `seq`,
/// or 0 for an empty ledger) when the count begins.
#[utoipa::path(post, path = "/api/v1/stock-counts", tag = "movements", request_body(content = CreateStockCount,
        example = json!({"location": "MAIN", "as_of_seq": 1042, "reference": "COUNT-7",
            "lines": [{"sku": "BOLT-M8", "counted": 118}, {"sku": "NUT-M8", "counted": 240}]})),
    security(("bearer" = [])),
    responses((status = 201, body = CountResult)))]
pub async fn post_stock_count(
    State(app): State<App>,
    Caller(caller): Caller,
    _query: ApiQuery<NoParams>,
    body: ApiJson<CreateStockCount>,
) -> ApiResult<(StatusCode, Json<CountResult>)> {
    let result = app.post_stock_count(&caller, body.value).await?;
    Ok((StatusCode::CREATED, Json(result)))
}
