//! Signing in and out, and who the token belongs to.

use crate::api::v1::users::SessionList;
use crate::http::error::ApiResult;
use crate::http::extract::{path_id, ApiJson, ApiQuery, Caller, Client, NoParams};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use inventory_app::App;
use inventory_core::identity::{ApiToken, ApiTokenSecret, ChangePassword, CreateApiToken, User};
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

/// Exchanges a username and password for a bearer token. A disabled user
/// is refused as a wrong password is. The session records the client's
/// address and user agent.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body(content = LoginRequest,
        example = json!({"username": "admin", "password": "correct horse battery staple"})),
    responses((status = 200, body = LoginResponse)))]
pub async fn login(
    State(app): State<App>,
    Client(client): Client,
    _query: ApiQuery<NoParams>,
    body: ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let LoginRequest { username, password } = body.value;
    let signed_in = app.login(&username, &password, &client).await?;
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

/// Changes the caller's own password: `current_password` must be right,
/// `new_password` must pass the password policy. Clears
/// `must_change_password` and ends the caller's other sessions (this one
/// stays).
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", request_body(content = ChangePassword,
        example = json!({"current_password": "the one-time password", "new_password": "plaid tuba orchard lantern"})),
    security(("bearer" = [])),
    responses((status = 200, body = User)))]
pub async fn change_password(
    State(app): State<App>,
    Caller(caller): Caller,
    _query: ApiQuery<NoParams>,
    body: ApiJson<ChangePassword>,
) -> ApiResult<Json<User>> {
    Ok(Json(app.change_own_password(&caller, body.value).await?))
}

/// The caller's unexpired sessions, newest first; `current` marks this one.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = SessionList)))]
pub async fn my_sessions(
    State(app): State<App>,
    Caller(caller): Caller,
    _query: ApiQuery<NoParams>,
) -> ApiResult<Json<SessionList>> {
    let sessions = app.list_my_sessions(&caller).await?;
    Ok(Json(SessionList { sessions }))
}

/// Ends one of the caller's sessions (404 for a session that is not
/// theirs), at once on every replica.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses((status = 204, description = "The session ended")))]
pub async fn end_my_session(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
) -> ApiResult<StatusCode> {
    let id = path_id(&id, "session")?;
    app.end_my_session(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/me/tokens` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<ApiToken>,
}

/// Makes an API token for the caller (with a sign-in session, not with a
/// token): `scopes` limit it (`read`, `stock:write`, `orders:write`,
/// `catalog:write`, `users:admin`), and it can never do more than the
/// caller's role allows, checked at every request. The `secret` (prefixed
/// `inv_pat_`) is in this answer only: only its hash is stored. Use it as
/// `Authorization: Bearer <secret>`.
#[utoipa::path(post, path = "/api/v1/me/tokens", tag = "auth", request_body(content = CreateApiToken,
        example = json!({"name": "nightly stock export", "scopes": ["read"], "expires_at": "2027-03-01T00:00:00Z"})),
    security(("bearer" = [])),
    responses((status = 201, body = ApiTokenSecret)))]
pub async fn create_token(
    State(app): State<App>,
    Caller(caller): Caller,
    _query: ApiQuery<NoParams>,
    body: ApiJson<CreateApiToken>,
) -> ApiResult<(StatusCode, Json<ApiTokenSecret>)> {
    let created = app.create_api_token(&caller, body.value).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The caller's unexpired API tokens, newest first, with when each was
/// last used; never their secrets.
#[utoipa::path(get, path = "/api/v1/me/tokens", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = TokenList)))]
pub async fn my_tokens(
    State(app): State<App>,
    Caller(caller): Caller,
    _query: ApiQuery<NoParams>,
) -> ApiResult<Json<TokenList>> {
    let tokens = app.list_api_tokens(&caller).await?;
    Ok(Json(TokenList { tokens }))
}

/// Revokes one of the caller's API tokens (404 for a token that is not
/// theirs): it stops working at once, on every replica.
#[utoipa::path(delete, path = "/api/v1/me/tokens/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Token id")),
    responses((status = 204, description = "The token is revoked")))]
pub async fn revoke_token(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
) -> ApiResult<StatusCode> {
    let id = path_id(&id, "API token")?;
    app.revoke_api_token(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
