//! `GET /audit`: the audit trail for administrators, newest first, with
//! filters (who, what, which target, between which days), pages and the
//! CSV export of what the filters select.

use crate::web::page::{render, WebError};
use crate::web::session::Visitor;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{NaiveDate, TimeZone, Utc};
use inventory_app::App;
use inventory_core::audit::{AuditEntry, AuditQuery};
use inventory_core::Error;
use serde::Deserialize;
use serde_json::Value;

const PAGE: u32 = 50;
/// Fields of one entry's changes the table shows; the rest are counted.
const SHOWN_FIELDS: usize = 6;
/// Bookkeeping that changes with every edit: left out of the table's lines
/// when anything else changed (the CSV and the API keep them).
const BOOKKEEPING: [&str; 2] = ["updated_at", "version"];

/// An entry as the table shows it.
pub struct AuditRow {
    pub at: String,
    pub at_iso: String,
    /// The username, or "system", "command line", "anonymous".
    pub who: String,
    /// "session", or "API token …" (its id's first characters).
    pub how: String,
    pub action: String,
    pub target: String,
    /// The target's page, where the UI has one.
    pub target_href: Option<String>,
    /// "field: before → after" lines.
    pub changes: Vec<String>,
    pub client: String,
    pub request_id: String,
}

/// A JSON value in a line: strings bare, the rest as JSON, cut to 60
/// characters.
fn short(value: Option<&Value>) -> String {
    let text = match value {
        None | Some(Value::Null) => "—".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn change_lines(changes: &Value) -> Vec<String> {
    let (before, after) = (&changes["before"], &changes["after"]);
    let mut keys: Vec<&String> = match (before.as_object(), after.as_object()) {
        (_, Some(a)) => a.keys().collect(),
        (Some(b), None) => b.keys().collect(),
        (None, None) => return Vec::new(),
    };
    if keys.iter().any(|k| !BOOKKEEPING.contains(&k.as_str())) {
        keys.retain(|k| !BOOKKEEPING.contains(&k.as_str()));
    }
    let mut lines: Vec<String> = keys
        .iter()
        .take(SHOWN_FIELDS)
        .map(|k| match before.is_null() {
            true => format!("{k}: {}", short(after.get(k.as_str()))),
            false => format!(
                "{k}: {} → {}",
                short(before.get(k.as_str())),
                short(after.get(k.as_str()))
            ),
        })
        .collect();
    if keys.len() > SHOWN_FIELDS {
        lines.push(format!("and {} more", keys.len() - SHOWN_FIELDS));
    }
    lines
}

/// The UI page of a target, where there is one.
fn page_of(target_type: &str, id: &str) -> Option<String> {
    let section = match target_type {
        "item" => "items",
        "sales_order" => "sales-orders",
        "purchase_order" => "purchase-orders",
        "party" => "parties",
        _ => return None,
    };
    uuid::Uuid::parse_str(id)
        .ok()
        .map(|id| format!("/{section}/{id}"))
}

impl From<&AuditEntry> for AuditRow {
    fn from(e: &AuditEntry) -> Self {
        use inventory_core::audit::Via;
        let who = match (&e.actor.username, e.actor.via) {
            (Some(name), _) => name.clone(),
            (None, Via::System) => "system".into(),
            (None, Via::Cli) => "command line".into(),
            (None, _) => "anonymous".into(),
        };
        let how = match (e.actor.via, e.actor.token_id) {
            (Via::Token, Some(id)) => format!("API token {}", &id.simple().to_string()[..8]),
            (via, _) => via.as_str().to_owned(),
        };
        Self {
            at: e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            at_iso: e.at.to_rfc3339(),
            who,
            how,
            action: e.action.clone(),
            target: format!("{} {}", e.target_type, e.target_id),
            target_href: page_of(&e.target_type, &e.target_id),
            changes: change_lines(&e.changes),
            client: e.client_addr.clone().unwrap_or_default(),
            request_id: e.request_id.clone().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: crate::web::page::Chrome,
    rows: Vec<AuditRow>,
    filters: Filters,
    /// The filters as a query string, for the export and the next page.
    query: String,
    next: Option<String>,
}

/// The filter form's values, as typed.
#[derive(Deserialize, Default, Clone)]
pub struct Filters {
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub target_type: String,
    #[serde(default)]
    pub target_id: String,
    /// First day (YYYY-MM-DD, UTC).
    #[serde(default)]
    pub since: String,
    /// Last day, included.
    #[serde(default)]
    pub until: String,
    /// Entries older than this one (the next page).
    #[serde(default)]
    pub before: String,
}

fn day(field: &str, text: &str) -> Result<Option<NaiveDate>, Error> {
    match text.trim() {
        "" => Ok(None),
        t => NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| Error::invalid(field, "must be a day such as 2026-01-31")),
    }
}

impl Filters {
    fn query(&self, limit: u32) -> Result<AuditQuery, Error> {
        let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        let start =
            |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default());
        let since = day("since", &self.since)?.map(start);
        // The last day is included: up to the start of the next.
        let until = day("until", &self.until)?
            .and_then(|d| d.succ_opt())
            .map(start);
        if let (Some(since), Some(until)) = (since, until) {
            if until <= since {
                return Err(Error::invalid("until", "must not be before since"));
            }
        }
        let before_id = match self.before.trim() {
            "" => None,
            b => Some(
                b.parse::<i64>()
                    .map_err(|_| Error::invalid("before", "must be an entry number"))?,
            ),
        };
        Ok(AuditQuery {
            actor: text(&self.actor),
            action: text(&self.action),
            target_type: text(&self.target_type),
            target_id: text(&self.target_id),
            since,
            until,
            limit,
            before_id,
        })
    }

    /// The filters (not the page) as a query string.
    fn query_string(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("actor", &self.actor),
            ("action", &self.action),
            ("target_type", &self.target_type),
            ("target_id", &self.target_id),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if !value.trim().is_empty() {
                s.append_pair(name, value.trim());
            }
        }
        s.finish()
    }
}

/// `GET /audit`.
pub async fn list(
    State(app): State<App>,
    visitor: Visitor,
    Query(filters): Query<Filters>,
) -> Result<Response, WebError> {
    let page = app
        .list_audit(&visitor.principal, filters.query(PAGE)?)
        .await?;
    let query = filters.query_string();
    let next = page.next_cursor.map(|id| {
        let sep = if query.is_empty() { "" } else { "&" };
        format!("/audit?{query}{sep}before={id}")
    });
    render(
        StatusCode::OK,
        &AuditPage {
            chrome: visitor.chrome("Audit log", "audit"),
            rows: page.rows.iter().map(AuditRow::from).collect(),
            filters,
            query,
            next,
        },
    )
}

/// `GET /audit/export.csv`: every entry the filters select.
pub async fn export(
    State(app): State<App>,
    visitor: Visitor,
    Query(filters): Query<Filters>,
) -> Result<Response, WebError> {
    let query = AuditQuery {
        before_id: None,
        ..filters.query(PAGE)?
    };
    let csv = app.export_audit(&visitor.principal, query).await?;
    Ok(crate::http::respond::csv_download(csv, "audit.csv"))
}
