//! Login, logout, the current user, and creating users.

use super::{idempotent, replay, Outcome};
use crate::auth::{hash_password, TOKEN_TTL_SECS};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, AuthUser};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use inventory_core::model::{validate_username, CreateUser, Role, User};
use inventory_core::Error;
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
    State(state): State<AppState>,
    body: ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let LoginRequest { username, password } = body.value;
    // No stored user has such a name or password: answer as for a wrong one.
    if validate_username(&username).is_err() || password.len() > 1024 {
        return Err(ApiError::InvalidCredentials);
    }
    let (token, user) = state.login(&username, &password).await?;
    Ok(Json(LoginResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: TOKEN_TTL_SECS,
        user,
    }))
}

/// Ends the session: the token stops working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Logged out")))]
pub async fn logout(State(state): State<AppState>, caller: AuthUser) -> ApiResult<StatusCode> {
    state.logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The user the token belongs to.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = User)))]
pub async fn me(caller: AuthUser) -> Json<User> {
    Json(caller.user)
}

/// Creates a user (admin only).
#[utoipa::path(post, path = "/api/v1/users", tag = "auth", request_body(content = CreateUser,
        example = json!({"username": "dana", "password": "a-long-passphrase", "role": "clerk"})), security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create safe")),
    responses((status = 201, body = User)))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: AuthUser,
    headers: HeaderMap,
    body: ApiJson<CreateUser>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let new = body.value;
    new.validate()?;
    let outcome = idempotent(
        &state,
        &caller,
        &headers,
        "POST /api/v1/users",
        &body.raw,
        |idem| async {
            let password = new.password.clone();
            let hash = tokio::task::spawn_blocking(move || hash_password(&password))
                .await
                .map_err(Error::internal)?
                .map_err(Error::internal)?;
            state
                .store
                .create_user(&new.username, &hash, new.role, idem)
                .await
        },
    )
    .await?;
    Ok(match outcome {
        Outcome::New(user) => (StatusCode::CREATED, Json(user)).into_response(),
        Outcome::Replay(stored) => replay(stored),
    })
}
