//! Users and sessions: reads on the pool, changes on the writer's
//! connection inside its transaction. Changes that could lose the last
//! enabled administrator lock the enabled administrators' rows first, so
//! that two of them at once (on any replicas) are decided one after the
//! other.

use crate::audit::record_audit;
use crate::errors::db_error;
use crate::rows::*;
use chrono::{DateTime, Duration, Utc};
use inventory_core::audit::{action, NewAuditEntry};
use inventory_core::identity::{
    scopes_from_text, scopes_to_text, ApiToken, NewApiToken, Session, SessionClient, SessionRecord,
    User, UserPatch, UserQuery, UserRecord,
};
use inventory_core::paging::Page;
use inventory_core::store::EndSessions;
use inventory_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

/// A session's `last_used_at` is written at most this often.
const TOUCH_EVERY: Duration = Duration::seconds(60);

pub(crate) async fn find_user(pool: &PgPool, username: &str) -> Result<Option<UserRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = $1"
    ))
    .bind(username)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    row.map(|r| {
        Ok(UserRecord {
            user: user_from_row(&r)?,
            password_hash: get(&r, "password_hash")?,
        })
    })
    .transpose()
}

async fn load_user(conn: impl sqlx::PgExecutor<'_>, id: Uuid, lock: &'static str) -> Result<User> {
    // nosemgrep: inventory-sql-built-with-format -- `lock` is a &'static str chosen by the caller ("" or " FOR UPDATE"), never input
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(db_error)?
    .ok_or(Error::NotFound("user"))?;
    user_from_row(&row)
}

pub(crate) async fn get_user(pool: &PgPool, id: Uuid) -> Result<User> {
    load_user(pool, id, "").await
}

pub(crate) async fn list_users(pool: &PgPool, query: &UserQuery) -> Result<Page<User>> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE username > "
    ));
    sql.push_bind(query.after.clone().unwrap_or_default());
    if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
        let pattern = escape_like(&q.to_lowercase());
        sql.push(" AND (lower(username) LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR lower(display_name) LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR lower(email) LIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\')");
    }
    if let Some(role) = query.role {
        sql.push(" AND role = ").push_bind(role.as_str());
    }
    if let Some(disabled) = query.disabled {
        sql.push(" AND disabled = ").push_bind(disabled);
    }
    sql.push(" ORDER BY username LIMIT ")
        .push_bind(i64::from(query.limit) + 1);
    let rows = sql.build().fetch_all(pool).await.map_err(db_error)?;
    let users = rows.iter().map(user_from_row).collect::<Result<Vec<_>>>()?;
    Ok(Page::keyset(users, query.limit, |u| u.username.clone()))
}

pub(crate) async fn count_enabled_admins(pool: &PgPool) -> Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND NOT disabled")
        .fetch_one(pool)
        .await
        .map_err(db_error)
}

/// Ends a user's sessions: all of them, API tokens too; or, keeping the
/// session with the token hash `keep` (the user's own password change),
/// their other sign-in sessions only.
async fn end_sessions(conn: &mut PgConnection, user_id: Uuid, keep: Option<&str>) -> Result<()> {
    let query = match keep {
        None => sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id),
        Some(keep) => sqlx::query(
            "DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2 AND kind = 'session'",
        )
        .bind(user_id)
        .bind(keep.to_owned()),
    };
    query.execute(conn).await.map_err(db_error)?;
    Ok(())
}

pub(crate) async fn update_user(
    conn: &mut PgConnection,
    id: Uuid,
    patch: UserPatch,
    if_version: Option<i64>,
) -> Result<User> {
    let admins: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM users WHERE role = 'admin' AND NOT disabled ORDER BY id FOR UPDATE",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let user = load_user(&mut *conn, id, " FOR UPDATE").await?;
    user.check_version(if_version)?;
    let next = patch.apply(&user, inventory_core::now())?;
    user.check_last_admin(&next, admins.len() as i64)?;
    sqlx::query(
        "UPDATE users SET role = $1, display_name = $2, email = $3, disabled = $4, updated_at = $5 \
         WHERE id = $6",
    )
    .bind(next.role.as_str())
    .bind(&next.display_name)
    .bind(&next.email)
    .bind(next.disabled)
    .bind(next.updated_at)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    if next.disabled {
        end_sessions(conn, id, None).await?;
    }
    let entry = NewAuditEntry::change(action::USER_UPDATED, "user", id, Some(&user), Some(&next));
    record_audit(conn, entry).await?;
    Ok(next)
}

pub(crate) async fn set_password(
    conn: &mut PgConnection,
    id: Uuid,
    password_hash: String,
    must_change_password: bool,
    keep: Option<String>,
) -> Result<User> {
    let before = load_user(&mut *conn, id, " FOR UPDATE").await?;
    let row = sqlx::query(&format!(
        "UPDATE users SET password_hash = $1, must_change_password = $2, updated_at = $3 \
         WHERE id = $4 RETURNING {USER_COLUMNS}"
    ))
    .bind(password_hash)
    .bind(must_change_password)
    .bind(inventory_core::now())
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?
    .ok_or(Error::NotFound("user"))?;
    end_sessions(conn, id, keep.as_deref()).await?;
    let after = user_from_row(&row)?;
    let action = match must_change_password {
        true => action::USER_PASSWORD_RESET,
        false => action::USER_PASSWORD_CHANGED,
    };
    let entry = NewAuditEntry::change(action, "user", id, Some(&before), Some(&after));
    record_audit(conn, entry).await?;
    Ok(after)
}

/// The session to keep when a password changes, as an owned value for the
/// writer's task.
pub(crate) fn kept(end: EndSessions<'_>) -> Option<String> {
    match end {
        EndSessions::All => None,
        EndSessions::AllBut(token_hash) => Some(token_hash.to_owned()),
    }
}

pub(crate) async fn create_session(
    conn: &mut PgConnection,
    token_hash: String,
    user_id: Uuid,
    expires_at: DateTime<Utc>,
    client: SessionClient,
) -> Result<()> {
    let id = Uuid::now_v7();
    let entry = NewAuditEntry::signed_in(
        user_id,
        id,
        truncate(expires_at),
        client.user_agent.as_deref(),
    );
    sqlx::query(
        "INSERT INTO sessions (token_hash, id, user_id, created_at, expires_at, client_addr, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token_hash)
    .bind(id)
    .bind(user_id)
    .bind(inventory_core::now())
    .bind(truncate(expires_at))
    .bind(client.addr)
    .bind(client.user_agent)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    record_audit(conn, entry).await
}

/// Ends the session with `token_hash` (signing out).
pub(crate) async fn delete_session(conn: &mut PgConnection, token_hash: String) -> Result<()> {
    let ended: Option<(Uuid, Uuid, String)> =
        sqlx::query_as("DELETE FROM sessions WHERE token_hash = $1 RETURNING id, user_id, kind")
            .bind(token_hash)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?;
    match ended {
        Some((id, user_id, kind)) => {
            record_audit(conn, NewAuditEntry::session_ended(&kind, id, user_id)).await
        }
        None => Ok(()),
    }
}

pub(crate) async fn find_session(pool: &PgPool, token_hash: &str) -> Result<Option<SessionRecord>> {
    let row = sqlx::query(
        "SELECT u.id, u.username, u.role, u.display_name, u.email, u.disabled, \
         u.must_change_password, u.created_at, u.updated_at, s.id AS session_id, \
         s.expires_at, s.last_used_at, s.kind, s.scopes FROM sessions s \
         JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND NOT u.disabled",
    )
    .bind(token_hash)
    .bind(Utc::now())
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    row.map(|r| {
        let kind: String = get(&r, "kind")?;
        let scopes: Option<String> = get(&r, "scopes")?;
        Ok(SessionRecord {
            id: get(&r, "session_id")?,
            user: user_from_row(&r)?,
            expires_at: get(&r, "expires_at")?,
            last_used_at: get(&r, "last_used_at")?,
            scopes: (kind == "token")
                .then(|| scopes_from_text(scopes.as_deref().unwrap_or_default())),
        })
    })
    .transpose()
}

pub(crate) async fn touch_session(
    conn: &mut PgConnection,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE sessions SET last_used_at = $1 WHERE id = $2 \
         AND (last_used_at IS NULL OR last_used_at <= $3)",
    )
    .bind(truncate(at))
    .bind(id)
    .bind(at - TOUCH_EVERY)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

fn session_from_row(r: &PgRow) -> Result<Session> {
    Ok(Session {
        id: get(r, "id")?,
        created_at: get(r, "created_at")?,
        last_used_at: get(r, "last_used_at")?,
        expires_at: get(r, "expires_at")?,
        client_addr: get(r, "client_addr")?,
        user_agent: get(r, "user_agent")?,
        current: false,
    })
}

pub(crate) async fn list_sessions(pool: &PgPool, user_id: Uuid) -> Result<Vec<Session>> {
    let rows = sqlx::query(
        "SELECT id, created_at, last_used_at, expires_at, client_addr, user_agent FROM sessions \
         WHERE user_id = $1 AND expires_at > $2 AND kind = 'session' \
         ORDER BY created_at DESC, id DESC",
    )
    .bind(user_id)
    .bind(Utc::now())
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    rows.iter().map(session_from_row).collect()
}

pub(crate) async fn end_session(
    conn: &mut PgConnection,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<String> {
    delete_of_kind(conn, user_id, session_id, "session")
        .await?
        .ok_or(Error::NotFound("session"))
}

/// Deletes a user's session row of `kind` and returns its token hash.
async fn delete_of_kind(
    conn: &mut PgConnection,
    user_id: Uuid,
    id: Uuid,
    kind: &str,
) -> Result<Option<String>> {
    let deleted: Option<String> = sqlx::query_scalar(
        "DELETE FROM sessions WHERE user_id = $1 AND id = $2 AND kind = $3 RETURNING token_hash",
    )
    .bind(user_id)
    .bind(id)
    .bind(kind)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    if deleted.is_some() {
        record_audit(conn, NewAuditEntry::session_ended(kind, id, user_id)).await?;
    }
    Ok(deleted)
}

pub(crate) async fn create_api_token(
    conn: &mut PgConnection,
    token_hash: String,
    user_id: Uuid,
    token: NewApiToken,
) -> Result<ApiToken> {
    let id = Uuid::now_v7();
    let (created_at, expires_at) = (truncate(token.created_at), truncate(token.expires_at));
    sqlx::query(
        "INSERT INTO sessions (token_hash, id, user_id, created_at, expires_at, kind, name, scopes) \
         VALUES ($1, $2, $3, $4, $5, 'token', $6, $7)",
    )
    .bind(token_hash)
    .bind(id)
    .bind(user_id)
    .bind(created_at)
    .bind(expires_at)
    .bind(&token.name)
    .bind(scopes_to_text(&token.scopes))
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    let created = ApiToken {
        id,
        name: token.name,
        scopes: token.scopes,
        created_at,
        expires_at,
        last_used_at: None,
    };
    let entry = NewAuditEntry::change(action::TOKEN_CREATED, "token", id, None, Some(&created));
    record_audit(conn, entry).await?;
    Ok(created)
}

pub(crate) async fn list_api_tokens(pool: &PgPool, user_id: Uuid) -> Result<Vec<ApiToken>> {
    let rows = sqlx::query(
        "SELECT id, name, scopes, created_at, last_used_at, expires_at FROM sessions \
         WHERE user_id = $1 AND expires_at > $2 AND kind = 'token' \
         ORDER BY created_at DESC, id DESC",
    )
    .bind(user_id)
    .bind(Utc::now())
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    rows.iter()
        .map(|r| {
            let scopes: Option<String> = get(r, "scopes")?;
            Ok(ApiToken {
                id: get(r, "id")?,
                name: get::<Option<String>>(r, "name")?.unwrap_or_default(),
                scopes: scopes_from_text(scopes.as_deref().unwrap_or_default()),
                created_at: get(r, "created_at")?,
                expires_at: get(r, "expires_at")?,
                last_used_at: get(r, "last_used_at")?,
            })
        })
        .collect()
}

pub(crate) async fn revoke_api_token(
    conn: &mut PgConnection,
    user_id: Uuid,
    token_id: Uuid,
) -> Result<String> {
    delete_of_kind(conn, user_id, token_id, "token")
        .await?
        .ok_or(Error::NotFound("API token"))
}
