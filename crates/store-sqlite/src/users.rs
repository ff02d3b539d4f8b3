//! Users and sessions: reads on a reader connection, changes on the single
//! writer (which makes each check and its change atomic).

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
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

/// A session's `last_used_at` is written at most this often.
const TOUCH_EVERY: Duration = Duration::seconds(60);

fn find_one<T>(
    conn: &Connection,
    sql: &str,
    key: &str,
    map: impl Fn(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row(params![key], |r| Ok(map(r))).optional())
        .map_err(db_error)?
        .transpose()
}

pub(crate) fn find_user(conn: &Connection, username: &str) -> Result<Option<UserRecord>> {
    find_one(
        conn,
        &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = ?1"),
        username,
        |r| {
            Ok(UserRecord {
                user: user_from_row(r)?,
                password_hash: get(r, "password_hash")?,
            })
        },
    )
}

pub(crate) fn get_user(conn: &Connection, id: Uuid) -> Result<User> {
    find_one(
        conn,
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
        &id.to_string(),
        user_from_row,
    )?
    .ok_or(Error::NotFound("user"))
}

pub(crate) fn list_users(conn: &Connection, query: &UserQuery) -> Result<Page<User>> {
    let mut sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username > ?1");
    let mut values = vec![SqlValue::Text(query.after.clone().unwrap_or_default())];
    let mut bind = |sql: &mut String, fragment: &str, value: SqlValue| {
        values.push(value);
        sql.push_str(&fragment.replace('?', &format!("?{}", values.len())));
    };
    if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
        // lower() folds ASCII only: the filter is ASCII-case-insensitive.
        let pattern = SqlValue::Text(escape_like(&q.to_ascii_lowercase()));
        bind(
            &mut sql,
            " AND (lower(username) LIKE ? ESCAPE '\\'",
            pattern.clone(),
        );
        bind(
            &mut sql,
            " OR lower(display_name) LIKE ? ESCAPE '\\'",
            pattern.clone(),
        );
        bind(&mut sql, " OR lower(email) LIKE ? ESCAPE '\\')", pattern);
    }
    if let Some(role) = query.role {
        bind(
            &mut sql,
            " AND role = ?",
            SqlValue::Text(role.as_str().to_owned()),
        );
    }
    if let Some(disabled) = query.disabled {
        bind(
            &mut sql,
            " AND disabled = ?",
            SqlValue::Integer(i64::from(disabled)),
        );
    }
    bind(
        &mut sql,
        " ORDER BY username LIMIT ?",
        SqlValue::Integer(i64::from(query.limit) + 1),
    );
    let rows = query_all(conn, &sql, values, user_from_row)?;
    Ok(Page::keyset(rows, query.limit, |u| u.username.clone()))
}

pub(crate) fn count_enabled_admins(conn: &Connection) -> Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0",
        [],
        |r| r.get(0),
    )
    .map_err(db_error)
}

/// Ends a user's sessions: all of them, API tokens too; or, keeping the
/// session with the token hash `keep` (the user's own password change),
/// their other sign-in sessions only.
fn end_sessions(conn: &Connection, user_id: Uuid, keep: Option<&str>) -> Result<()> {
    match keep {
        None => conn.execute(
            "DELETE FROM sessions WHERE user_id = ?1",
            params![user_id.to_string()],
        ),
        Some(keep) => conn.execute(
            "DELETE FROM sessions WHERE user_id = ?1 AND token_hash <> ?2 AND kind = 'session'",
            params![user_id.to_string(), keep],
        ),
    }
    .map_err(db_error)?;
    Ok(())
}

pub(crate) fn update_user(
    conn: &Connection,
    id: Uuid,
    patch: &UserPatch,
    if_version: Option<i64>,
) -> Result<User> {
    let user = get_user(conn, id)?;
    user.check_version(if_version)?;
    let next = patch.apply(&user, inventory_core::now())?;
    user.check_last_admin(&next, count_enabled_admins(conn)?)?;
    conn.execute(
        "UPDATE users SET role = ?1, display_name = ?2, email = ?3, disabled = ?4, updated_at = ?5 \
         WHERE id = ?6",
        params![
            next.role.as_str(),
            next.display_name,
            next.email,
            next.disabled,
            micros(next.updated_at),
            id.to_string()
        ],
    )
    .map_err(db_error)?;
    if next.disabled {
        end_sessions(conn, id, None)?;
    }
    record_audit(
        conn,
        &NewAuditEntry::change(action::USER_UPDATED, "user", id, Some(&user), Some(&next)),
    )?;
    Ok(next)
}

pub(crate) fn set_password(
    conn: &Connection,
    id: Uuid,
    password_hash: &str,
    must_change_password: bool,
    end: EndSessions<'_>,
) -> Result<User> {
    let before = get_user(conn, id)?;
    let changed = conn
        .execute(
            "UPDATE users SET password_hash = ?1, must_change_password = ?2, updated_at = ?3 \
             WHERE id = ?4",
            params![
                password_hash,
                must_change_password,
                micros(inventory_core::now()),
                id.to_string()
            ],
        )
        .map_err(db_error)?;
    if changed == 0 {
        return Err(Error::NotFound("user"));
    }
    let keep = match end {
        EndSessions::All => None,
        EndSessions::AllBut(token_hash) => Some(token_hash),
    };
    end_sessions(conn, id, keep)?;
    let after = get_user(conn, id)?;
    let action = match must_change_password {
        true => action::USER_PASSWORD_RESET,
        false => action::USER_PASSWORD_CHANGED,
    };
    record_audit(
        conn,
        &NewAuditEntry::change(action, "user", id, Some(&before), Some(&after)),
    )?;
    Ok(after)
}

pub(crate) fn create_session(
    conn: &Connection,
    token_hash: &str,
    user_id: Uuid,
    expires_at: DateTime<Utc>,
    client: &SessionClient,
) -> Result<()> {
    let id = Uuid::now_v7();
    conn.execute(
        "INSERT INTO sessions (token_hash, id, user_id, created_at, expires_at, client_addr, user_agent) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            token_hash,
            id.to_string(),
            user_id.to_string(),
            micros(inventory_core::now()),
            micros(expires_at),
            client.addr,
            client.user_agent
        ],
    )
    .map_err(db_error)?;
    record_audit(
        conn,
        &NewAuditEntry::signed_in(user_id, id, expires_at, client.user_agent.as_deref()),
    )
}

/// Ends the session with `token_hash` (signing out).
pub(crate) fn delete_session(conn: &Connection, token_hash: &str) -> Result<()> {
    let ended: Option<(String, String, String)> = conn
        .query_row(
            "DELETE FROM sessions WHERE token_hash = ?1 RETURNING id, user_id, kind",
            params![token_hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(db_error)?;
    let Some((id, user_id, kind)) = ended else {
        return Ok(());
    };
    let parse = |s: &str| Uuid::parse_str(s).map_err(Error::internal);
    record_audit(
        conn,
        &NewAuditEntry::session_ended(&kind, parse(&id)?, parse(&user_id)?),
    )
}

pub(crate) fn find_session(conn: &Connection, token_hash: &str) -> Result<Option<SessionRecord>> {
    let sql = "SELECT u.id, u.username, u.role, u.display_name, u.email, u.disabled, \
               u.must_change_password, u.created_at, u.updated_at, s.id AS session_id, \
               s.expires_at, s.last_used_at, s.kind, s.scopes FROM sessions s \
               JOIN users u ON u.id = s.user_id \
               WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND u.disabled = 0";
    conn.prepare_cached(sql)
        .and_then(|mut stmt| {
            stmt.query_row(params![token_hash, micros(Utc::now())], |r| {
                Ok(user_from_row(r).and_then(|user| {
                    let kind: String = get(r, "kind")?;
                    let scopes: Option<String> = get(r, "scopes")?;
                    Ok(SessionRecord {
                        id: uuid(r, "session_id")?,
                        user,
                        expires_at: time(r, "expires_at")?,
                        last_used_at: opt_time(r, "last_used_at")?,
                        scopes: (kind == "token")
                            .then(|| scopes_from_text(scopes.as_deref().unwrap_or_default())),
                    })
                }))
            })
            .optional()
        })
        .map_err(db_error)?
        .transpose()
}

pub(crate) fn touch_session(conn: &Connection, id: Uuid, at: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE sessions SET last_used_at = ?1 WHERE id = ?2 \
         AND (last_used_at IS NULL OR last_used_at <= ?3)",
        params![micros(at), id.to_string(), micros(at - TOUCH_EVERY)],
    )
    .map_err(db_error)?;
    Ok(())
}

pub(crate) fn list_sessions(conn: &Connection, user_id: Uuid) -> Result<Vec<Session>> {
    query_all(
        conn,
        "SELECT id, created_at, last_used_at, expires_at, client_addr, user_agent FROM sessions \
         WHERE user_id = ?1 AND expires_at > ?2 AND kind = 'session' \
         ORDER BY created_at DESC, id DESC",
        vec![
            SqlValue::Text(user_id.to_string()),
            SqlValue::Integer(micros(Utc::now())),
        ],
        |r| {
            Ok(Session {
                id: uuid(r, "id")?,
                created_at: time(r, "created_at")?,
                last_used_at: opt_time(r, "last_used_at")?,
                expires_at: time(r, "expires_at")?,
                client_addr: get(r, "client_addr")?,
                user_agent: get(r, "user_agent")?,
                current: false,
            })
        },
    )
}

pub(crate) fn end_session(conn: &Connection, user_id: Uuid, session_id: Uuid) -> Result<String> {
    delete_of_kind(conn, user_id, session_id, "session").ok_or(Error::NotFound("session"))?
}

/// Deletes a user's session row of `kind` and returns its token hash.
fn delete_of_kind(
    conn: &Connection,
    user_id: Uuid,
    id: Uuid,
    kind: &str,
) -> Option<Result<String>> {
    let deleted = conn
        .query_row(
            "DELETE FROM sessions WHERE user_id = ?1 AND id = ?2 AND kind = ?3 RETURNING token_hash",
            params![user_id.to_string(), id.to_string(), kind],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_error)
        .transpose()?;
    Some(deleted.and_then(|hash| {
        record_audit(conn, &NewAuditEntry::session_ended(kind, id, user_id))?;
        Ok(hash)
    }))
}

pub(crate) fn create_api_token(
    conn: &Connection,
    token_hash: &str,
    user_id: Uuid,
    token: &NewApiToken,
) -> Result<ApiToken> {
    let id = Uuid::now_v7();
    conn.execute(
        "INSERT INTO sessions (token_hash, id, user_id, created_at, expires_at, kind, name, scopes) \
         VALUES (?1, ?2, ?3, ?4, ?5, 'token', ?6, ?7)",
        params![
            token_hash,
            id.to_string(),
            user_id.to_string(),
            micros(token.created_at),
            micros(token.expires_at),
            token.name,
            scopes_to_text(&token.scopes)
        ],
    )
    .map_err(db_error)?;
    let created = ApiToken {
        id,
        name: token.name.clone(),
        scopes: token.scopes.clone(),
        created_at: token.created_at,
        expires_at: token.expires_at,
        last_used_at: None,
    };
    record_audit(
        conn,
        &NewAuditEntry::change(action::TOKEN_CREATED, "token", id, None, Some(&created)),
    )?;
    Ok(created)
}

pub(crate) fn list_api_tokens(conn: &Connection, user_id: Uuid) -> Result<Vec<ApiToken>> {
    query_all(
        conn,
        "SELECT id, name, scopes, created_at, last_used_at, expires_at FROM sessions \
         WHERE user_id = ?1 AND expires_at > ?2 AND kind = 'token' \
         ORDER BY created_at DESC, id DESC",
        vec![
            SqlValue::Text(user_id.to_string()),
            SqlValue::Integer(micros(Utc::now())),
        ],
        |r| {
            let scopes: Option<String> = get(r, "scopes")?;
            Ok(ApiToken {
                id: uuid(r, "id")?,
                name: get::<Option<String>>(r, "name")?.unwrap_or_default(),
                scopes: scopes_from_text(scopes.as_deref().unwrap_or_default()),
                created_at: time(r, "created_at")?,
                expires_at: time(r, "expires_at")?,
                last_used_at: opt_time(r, "last_used_at")?,
            })
        },
    )
}

pub(crate) fn revoke_api_token(conn: &Connection, user_id: Uuid, token_id: Uuid) -> Result<String> {
    delete_of_kind(conn, user_id, token_id, "token").ok_or(Error::NotFound("API token"))?
}
