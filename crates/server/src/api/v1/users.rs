//! Users.

use crate::http::error::ApiResult;
use crate::http::extract::{idempotency_key, ApiJson, ApiQuery, Caller, NoParams};
use crate::http::respond::created;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use inventory_app::App;
use inventory_core::identity::{CreateUser, User};

/// Creates a user (admin only).
#[utoipa::path(post, path = "/api/v1/users", tag = "auth", request_body(content = CreateUser,
        example = json!({"username": "dana", "password": "a-long-passphrase", "role": "clerk"})), security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create safe")),
    responses((status = 201, body = User)))]
pub async fn create_user(
    State(app): State<App>,
    Caller(caller): Caller,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
    body: ApiJson<CreateUser>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers, "POST /api/v1/users", &body.raw)?;
    let outcome = app.create_user(&caller, body.value, key).await?;
    Ok(created(outcome, |_: &User| None, |_| None))
}
