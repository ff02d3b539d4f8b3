//! Parties: suppliers and customers. No delete: `PATCH {"archived": true}`
//! archives a party (refused while it has open orders), `false` restores it.

use crate::http::error::ApiResult;
use crate::http::extract::{
    idempotency_key, if_match, path_id, ApiJson, ApiQuery, Caller, NoParams,
};
use crate::http::params::{parse_bool, parse_cursor, parse_limit, text_param};
use crate::http::respond::created;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use inventory_app::App;
use inventory_core::paging::encode_cursor;
use inventory_core::parties::{CreateParty, Party, PartyKind, PartyPatch, PartyQuery};
use inventory_core::Error;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

fn with_etag(status: StatusCode, party: &Party) -> Response {
    let mut response = (status, Json(party)).into_response();
    if let Ok(v) = HeaderValue::from_str(&party.etag()) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// Creates a party (manager or admin). A `code`, when given, is unique.
#[utoipa::path(post, path = "/api/v1/parties", tag = "parties", request_body(content = CreateParty,
        example = json!({"name": "Acme Supplies", "kind": "supplier", "code": "ACME", "email": "orders@acme.example"})),
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create safe")),
    responses((status = 201, body = Party, headers(("Location" = String), ("ETag" = String)))))]
pub async fn create_party(
    State(app): State<App>,
    Caller(caller): Caller,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
    body: ApiJson<CreateParty>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers, "POST /api/v1/parties", &body.raw)?;
    let outcome = app.create_party(&caller, body.value, key).await?;
    Ok(created(
        outcome,
        |p| Some(format!("/api/v1/parties/{}", p.id)),
        |p| Some(p.etag()),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PartyListParams {
    /// `supplier`, `customer` or `both`.
    kind: Option<String>,
    /// Case-insensitive part of the name or the code.
    q: Option<String>,
    /// `true`: archived parties only; default active ones.
    archived: Option<String>,
    /// 1-500, default 50.
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartyList {
    pub parties: Vec<Party>,
    pub next_cursor: Option<String>,
}

/// Lists parties in creation order.
#[utoipa::path(get, path = "/api/v1/parties", tag = "parties", params(PartyListParams),
    security(("bearer" = [])), responses((status = 200, body = PartyList)))]
pub async fn list_parties(
    State(app): State<App>,
    Caller(caller): Caller,
    ApiQuery(p): ApiQuery<PartyListParams>,
) -> ApiResult<Json<PartyList>> {
    let kind = p
        .kind
        .as_deref()
        .filter(|k| !k.is_empty())
        .map(|k| {
            PartyKind::parse(k)
                .ok_or_else(|| Error::invalid("kind", "must be supplier, customer or both"))
        })
        .transpose()?;
    let after: Option<Uuid> = parse_cursor(p.cursor.as_deref())?;
    let query = PartyQuery {
        kind,
        q: text_param("q", p.q)?,
        archived: Some(parse_bool("archived", p.archived.as_deref())?),
        limit: parse_limit(p.limit.as_deref())?,
        after,
    };
    let page = app.list_parties(&caller, query).await?;
    Ok(Json(PartyList {
        parties: page.rows,
        next_cursor: page
            .next_cursor
            .and_then(|id| id.parse::<Uuid>().ok())
            .map(|id| encode_cursor(&id)),
    }))
}

/// Reads a party.
#[utoipa::path(get, path = "/api/v1/parties/{id}", tag = "parties", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Party id")),
    responses((status = 200, body = Party, headers(("ETag" = String)))))]
pub async fn get_party(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
) -> ApiResult<Response> {
    let id = path_id(&id, "party")?;
    Ok(with_etag(
        StatusCode::OK,
        &app.get_party(&caller, id).await?,
    ))
}

/// Applies a merge patch (manager or admin); `{"archived": true}` archives
/// the party, refused (409 `party-has-open-orders`) while it has draft,
/// submitted or partially received orders. Honours `If-Match`.
#[utoipa::path(patch, path = "/api/v1/parties/{id}", tag = "parties", request_body(content = PartyPatch,
        example = json!({"phone": "+44 20 7946 0000"})), security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Party id"),
        ("If-Match" = Option<String>, Header, description = "ETag from a read; a stale one gets 412")),
    responses((status = 200, body = Party, headers(("ETag" = String)))))]
pub async fn patch_party(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
    body: ApiJson<PartyPatch>,
) -> ApiResult<Response> {
    let id = path_id(&id, "party")?;
    let party = app
        .update_party(&caller, id, body.value, if_match(&headers)?)
        .await?;
    Ok(with_etag(StatusCode::OK, &party))
}
