//! Signing in and out, and who the token belongs to.

use crate::http::error::ApiResult;
use crate::http::extract::{ApiJson, ApiQuery, Caller, NoParams};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use inventory_app::App;
use inventory_core::identity::User;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
    pub user: User,
}

/// Exchanges a username and password for a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body(content = LoginRequest,
        example = json!({"username": "admin", "password": "correct horse battery staple"})),
    responses((status = 200, body = LoginResponse)))]
pub async fn login(
    State(app): State<App>,
    _query: ApiQuery<NoParams>,
    body: ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let LoginRequest { username, password } = body.value;
    let signed_in = app.login(&username, &password).await?;
    Ok(Json(LoginResponse {
        access_token: signed_in.token,
        token_type: "Bearer",
        expires_in: signed_in.expires_in,
        user: signed_in.user,
    }))
}

/// Ends the session: the token stops working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Logged out")))]
pub async fn logout(
    State(app): State<App>,
    Caller(caller): Caller,
    _query: ApiQuery<NoParams>,
) -> ApiResult<StatusCode> {
    app.logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The user the token belongs to.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = User)))]
pub async fn me(
    State(app): State<App>,
    Caller(caller): Caller,
    _query: ApiQuery<NoParams>,
) -> ApiResult<Json<User>> {
    Ok(Json(app.me(&caller)?))
}
