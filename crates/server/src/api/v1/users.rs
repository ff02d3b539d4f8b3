//! Users (admin only): creating, listing, reading, changing and disabling
//! them, resetting a password, and their sessions.

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
use inventory_core::identity::{
    CreateUser, PasswordReset, Role, Session, User, UserPatch, UserQuery,
};
use inventory_core::paging::encode_cursor;
use inventory_core::Error;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Creates a user (admin only). The password must pass the password
/// policy (at least 12 characters and hard enough to guess).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body(content = CreateUser,
        example = json!({"username": "dana", "password": "plaid tuba orchard lantern", "role": "clerk",
            "display_name": "Dana Scully", "email": "dana@example.com"})), security(("bearer" = [])),
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    /// Case-insensitive part of the username, display name or email.
    q: Option<String>,
    /// `viewer`, `clerk`, `manager` or `admin`.
    role: Option<String>,
    /// `true`: disabled users only; `false`: enabled only; default both.
    disabled: Option<String>,
    /// 1-500, default 50.
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
    pub next_cursor: Option<String>,
}

/// Lists users by username (admin only).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserListParams),
    security(("bearer" = [])), responses((status = 200, body = UserList)))]
pub async fn list_users(
    State(app): State<App>,
    Caller(caller): Caller,
    ApiQuery(p): ApiQuery<UserListParams>,
) -> ApiResult<Json<UserList>> {
    let role = p
        .role
        .as_deref()
        .filter(|r| !r.is_empty())
        .map(|r| {
            Role::parse(r)
                .ok_or_else(|| Error::invalid("role", "must be viewer, clerk, manager or admin"))
        })
        .transpose()?;
    let disabled = match p.disabled.as_deref() {
        None | Some("") => None,
        value => Some(parse_bool("disabled", value)?),
    };
    let query = UserQuery {
        q: text_param("q", p.q)?,
        role,
        disabled,
        after: parse_cursor::<String>(p.cursor.as_deref())?,
        limit: parse_limit(p.limit.as_deref())?,
    };
    let page = app.list_users(&caller, query).await?;
    Ok(Json(UserList {
        users: page.rows,
        next_cursor: page.next_cursor.map(|name| encode_cursor(&name)),
    }))
}

fn with_etag(user: &User) -> Response {
    let mut response = Json(user).into_response();
    if let Ok(v) = HeaderValue::from_str(&user.etag()) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// Reads a user (admin only), with its `ETag`.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses((status = 200, body = User, headers(("ETag" = String)))))]
pub async fn get_user(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
) -> ApiResult<Response> {
    let id = path_id(&id, "user")?;
    Ok(with_etag(&app.get_user(&caller, id).await?))
}

/// Changes a user's role, display name, email or `disabled` (admin only).
/// Disabling ends all of the user's sessions at once, on every replica. The
/// last enabled administrator can be neither disabled nor demoted.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body(content = UserPatch,
        example = json!({"role": "manager", "display_name": "Dana Scully", "disabled": false})),
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the change is based on")),
    responses((status = 200, body = User, headers(("ETag" = String)))))]
pub async fn patch_user(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
    headers: HeaderMap,
    body: ApiJson<UserPatch>,
) -> ApiResult<Response> {
    let id = path_id(&id, "user")?;
    let user = app
        .update_user(&caller, id, body.value, if_match(&headers)?)
        .await?;
    Ok(with_etag(&user))
}

/// Resets a user's password (admin only): the answer holds a one-time
/// password, shown this once, that the user must change at their next
/// sign-in (`POST /api/v1/me/password`); their sessions end at once.
#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "users", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses((status = 200, body = PasswordReset)))]
pub async fn reset_password(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
) -> ApiResult<Json<PasswordReset>> {
    let id = path_id(&id, "user")?;
    Ok(Json(app.reset_user_password(&caller, id).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<Session>,
}

/// A user's unexpired sessions, newest first (admin only).
#[utoipa::path(get, path = "/api/v1/users/{id}/sessions", tag = "users", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses((status = 200, body = SessionList)))]
pub async fn list_user_sessions(
    State(app): State<App>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    _query: ApiQuery<NoParams>,
) -> ApiResult<Json<SessionList>> {
    let id = path_id(&id, "user")?;
    let sessions = app.list_user_sessions(&caller, id).await?;
    Ok(Json(SessionList { sessions }))
}

/// Ends one of a user's sessions, at once on every replica (admin only).
#[utoipa::path(delete, path = "/api/v1/users/{id}/sessions/{session_id}", tag = "users",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "User id"),
        ("session_id" = uuid::Uuid, Path, description = "Session id")),
    responses((status = 204, description = "The session ended")))]
pub async fn end_user_session(
    State(app): State<App>,
    Caller(caller): Caller,
    Path((id, session_id)): Path<(String, String)>,
    _query: ApiQuery<NoParams>,
) -> ApiResult<StatusCode> {
    let id = path_id(&id, "user")?;
    let session_id = path_id(&session_id, "session")?;
    app.end_user_session(&caller, id, session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
