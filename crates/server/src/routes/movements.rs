//! The ledger: post movements one at a time or in all-or-none batches, and
//! page through them by `seq`.

use super::{bad_query, idempotent, parse_limit, parse_time, replay, Outcome};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, AuthUser};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use inventory_core::model::{
    normalize_code, CreateMovement, Movement, MovementKind, MovementResult, NewMovement, Role,
    MAX_BATCH,
};
use inventory_core::paging::{decode_cursor, encode_cursor, MovementQuery, SeqCursor, SeqOrder};
use inventory_core::{Error, FieldError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

fn count(results: &[MovementResult]) {
    for r in results {
        metrics::counter!("inventory_stock_movements_total", "kind" => r.movement.kind.as_str())
            .increment(1);
    }
}

/// Records one movement (clerk or above).
#[utoipa::path(post, path = "/api/v1/movements", tag = "movements", request_body(content = CreateMovement,
        example = json!({"item_id": "01968f4e-8c2a-7d3e-9b1a-2f4c6d8e0a1b", "kind": "receive", "quantity": 12, "location": "MAIN", "reference": "PO-1042"})),
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried post safe")),
    responses((status = 201, body = MovementResult)))]
pub async fn create_movement(
    State(state): State<AppState>,
    caller: AuthUser,
    headers: HeaderMap,
    body: ApiJson<CreateMovement>,
) -> ApiResult<Response> {
    caller.require(Role::Clerk)?;
    let movement = body.value.validate()?;
    let item_id = movement.item_id;
    let outcome = idempotent(
        &state,
        &caller,
        &headers,
        "POST /api/v1/movements",
        &body.raw,
        |idem| async {
            // A single movement is stored as a batch of one; its response is the one result.
            let idem = idem.map(|mut i| {
                i.render = Arc::new(|v: &Vec<MovementResult>| {
                    serde_json::to_string(&v.first()).unwrap_or_default()
                });
                i
            });
            state
                .store
                .apply_movements(vec![movement], &caller.actor(), idem)
                .await
        },
    )
    .await
    .map_err(|e| match e {
        // One movement: no index to name.
        ApiError::Domain(Error::AtIndex { source, .. }) => ApiError::Domain(*source),
        other => other,
    })?;
    Ok(match outcome {
        Outcome::New(mut results) => {
            state.item_changed(item_id).await;
            count(&results);
            (StatusCode::CREATED, Json(results.remove(0))).into_response()
        }
        Outcome::Replay(stored) => replay(stored),
    })
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
            {"item_id": "01968f4e-8c2a-7d3e-9b1a-2f4c6d8e0a1b", "kind": "issue", "quantity": 2, "location": "MAIN"},
            {"item_id": "01968f4e-8c2a-7d3e-9b1a-2f4c6d8e0a1b", "kind": "transfer", "quantity": 3, "from_location": "MAIN", "to_location": "A-01"}]})),
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried post safe")),
    responses((status = 201, body = BatchResponse)))]
pub async fn create_batch(
    State(state): State<AppState>,
    caller: AuthUser,
    headers: HeaderMap,
    body: ApiJson<BatchRequest>,
) -> ApiResult<Response> {
    caller.require(Role::Clerk)?;
    let entries = body.value.movements;
    if entries.is_empty() || entries.len() > MAX_BATCH {
        return Err(Error::Validation(vec![FieldError::new(
            "movements",
            "must hold 1 to 1000 movements",
        )])
        .into());
    }
    let movements = entries
        .into_iter()
        .enumerate()
        .map(|(i, m)| m.validate().map_err(|e| e.at_index(i)))
        .collect::<Result<Vec<NewMovement>, Error>>()?;
    let item_ids: Vec<uuid::Uuid> = movements.iter().map(|m| m.item_id).collect();
    let outcome = idempotent(
        &state,
        &caller,
        &headers,
        "POST /api/v1/movements/batch",
        &body.raw,
        |idem| async {
            let idem = idem.map(|mut i| {
                i.render = Arc::new(|v: &Vec<MovementResult>| {
                    serde_json::to_string(&BatchResponseRef { movements: v }).unwrap_or_default()
                });
                i
            });
            state
                .store
                .apply_movements(movements, &caller.actor(), idem)
                .await
        },
    )
    .await?;
    Ok(match outcome {
        Outcome::New(results) => {
            for id in &item_ids {
                state.item_changed(*id).await;
            }
            count(&results);
            (
                StatusCode::CREATED,
                Json(BatchResponse { movements: results }),
            )
                .into_response()
        }
        Outcome::Replay(stored) => replay(stored),
    })
}

#[derive(Serialize)]
struct BatchResponseRef<'a> {
    movements: &'a Vec<MovementResult>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MovementListParams {
    item_id: Option<String>,
    /// Location code; matches location, from_location or to_location.
    location: Option<String>,
    kind: Option<String>,
    /// RFC 3339; movements at or after it.
    since: Option<String>,
    /// RFC 3339; movements before it.
    until: Option<String>,
    /// `asc` (default) or `desc` by seq.
    order: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
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
    State(state): State<AppState>,
    _caller: AuthUser,
    params: Result<Query<MovementListParams>, QueryRejection>,
) -> ApiResult<Json<MovementList>> {
    let Query(p) = params.map_err(bad_query)?;
    let order = match p.order.as_deref() {
        None | Some("") | Some("asc") => SeqOrder::Asc,
        Some("desc") => SeqOrder::Desc,
        Some(_) => return Err(Error::invalid("order", "must be asc or desc").into()),
    };
    let after_seq = match p.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let cursor: SeqCursor = decode_cursor(c)?;
            if cursor.order != order {
                return Err(Error::invalid("cursor", "was made for another order").into());
            }
            Some(cursor.seq)
        }
    };
    let item_id = p
        .item_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| uuid::Uuid::parse_str(s).map_err(|_| Error::invalid("item_id", "must be a UUID")))
        .transpose()?;
    let kind = p
        .kind
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            MovementKind::parse(s)
                .ok_or_else(|| Error::invalid("kind", "must be receive, issue, transfer or adjust"))
        })
        .transpose()?;
    let location = p
        .location
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| normalize_code("location", s).map_err(|e| Error::Validation(vec![e])))
        .transpose()?;
    let query = MovementQuery {
        item_id,
        location,
        kind,
        since: parse_time("since", p.since.as_deref())?,
        until: parse_time("until", p.until.as_deref())?,
        order,
        limit: parse_limit(p.limit.as_deref())?,
        after_seq,
    };
    let page = state.store.list_movements(&query).await?;
    let next_cursor = page
        .next_cursor
        .and_then(|seq| seq.parse().ok())
        .map(|seq| encode_cursor(&SeqCursor { order, seq }));
    Ok(Json(MovementList {
        movements: page.rows,
        next_cursor,
    }))
}
