//! The audit trail: who changed what, when, from where (admins).

use crate::http::error::ApiResult;
use crate::http::extract::{ApiQuery, Caller};
use crate::http::params::{parse_cursor, parse_limit, parse_time, text_param};
use crate::http::respond::csv_download;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use inventory_app::App;
use inventory_core::audit::{AuditEntry, AuditQuery};
use inventory_core::paging::encode_cursor;
use inventory_core::Error;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Who acted: a user id, or a username.
    actor: Option<String>,
    /// What was done, such as `item.updated`, `user.signed_in`,
    /// `user.sign_in_failed`, `token.created`.
    action: Option<String>,
    /// The kind of thing changed: `item`, `movement`, `location`, `user`,
    /// `token`, `session`, `reservation`, `sales_order`, `purchase_order`,
    /// `party`, `database`.
    target_type: Option<String>,
    /// Its id.
    target_id: Option<String>,
    /// Entries at or after this instant (RFC 3339).
    since: Option<String>,
    /// Entries before this instant (RFC 3339).
    until: Option<String>,
    /// 1-500, default 50 (the CSV export takes every page).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl AuditParams {
    fn query(self) -> Result<AuditQuery, Error> {
        let since = parse_time("since", self.since.as_deref())?;
        let until = parse_time("until", self.until.as_deref())?;
        if let (Some(since), Some(until)) = (since, until) {
            if until <= since {
                return Err(Error::invalid("until", "must be after since"));
            }
        }
        Ok(AuditQuery {
            actor: text_param("actor", self.actor)?,
            action: text_param("action", self.action)?,
            target_type: text_param("target_type", self.target_type)?,
            target_id: text_param("target_id", self.target_id)?,
            since,
            until,
            limit: parse_limit(self.limit.as_deref())?,
            before_id: parse_cursor::<i64>(self.cursor.as_deref())?,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// The audit trail, newest first (admin only): every change to items,
/// locations, stock, reservations, orders, parties, users and tokens, every
/// sign-in and failed sign-in, and imports, each with who acted (by session
/// or which API token), the fields that changed (before and after), the
/// request id and the client address. Entries are never edited; those older
/// than `AUDIT_RETENTION_DAYS` (default 365) are deleted.
#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", params(AuditParams),
    security(("bearer" = [])), responses((status = 200, body = AuditList)))]
pub async fn list_audit(
    State(app): State<App>,
    Caller(caller): Caller,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> ApiResult<Json<AuditList>> {
    let page = app.list_audit(&caller, p.query()?).await?;
    Ok(Json(AuditList {
        entries: page.rows,
        next_cursor: page
            .next_cursor
            .and_then(|id| id.parse::<i64>().ok())
            .map(|id| encode_cursor(&id)),
    }))
}

/// Every entry the filters of `GET /api/v1/audit` select, newest first, as
/// CSV (streamed): `id,at,actor_id,actor_username,via,token_id,action,
/// target_type,target_id,changes,request_id,client_addr`, `changes` as JSON
/// text. `limit` and `cursor` are ignored: the export takes every page.
#[utoipa::path(get, path = "/api/v1/audit/export.csv", tag = "admin", params(AuditParams),
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String,
        description = "The audit entries as CSV (UTF-8, header row first, CRLF line ends)",
        headers(("Content-Disposition" = String, description = "attachment; filename=\"audit.csv\"")))))]
pub async fn export_audit(
    State(app): State<App>,
    Caller(caller): Caller,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> ApiResult<Response> {
    let csv = app.export_audit(&caller, p.query()?).await?;
    Ok(csv_download(csv, "audit.csv"))
}
