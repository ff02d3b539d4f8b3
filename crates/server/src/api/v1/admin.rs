//! Administration: checking the database's invariants.

use crate::http::error::ApiResult;
use crate::http::extract::{ApiQuery, Caller, NoParams};
use axum::extract::State;
use axum::Json;
use inventory_app::App;
use inventory_core::invariants::InvariantReport;

/// Checks that the stock figures are the ledger's: on_hand per item and
/// location equals the ledger sum, item totals equal the sums over
/// locations, available is never negative, reserved equals the active
/// reservations. Answers 200 with `ok` and every offending row (at most 100
/// per rule); reads the whole ledger, so it takes seconds at millions of
/// movements. The CLI's `inventory check` does the same and exits 1 on a
/// violation.
#[utoipa::path(get, path = "/api/v1/admin/invariants", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = InvariantReport)))]
pub async fn invariants(
    State(app): State<App>,
    Caller(caller): Caller,
    _query: ApiQuery<NoParams>,
) -> ApiResult<Json<InvariantReport>> {
    Ok(Json(app.check_invariants(&caller).await?))
}
