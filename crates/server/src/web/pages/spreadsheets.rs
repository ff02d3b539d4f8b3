//! CSV in the UI: the items list and the ledger exported as shown
//! (streamed by the same use cases as the API), and the import of items:
//! upload a file, see every row (new, changed, unchanged) and every error,
//! then import all the rows or none.
//!
//! The preview and the result are streamed: the page's head and a progress
//! list go out first, a line is added as each part of the file is checked,
//! and the report follows when the use case is done, so a 100,000-row file
//! shows its progress without JavaScript. The confirmation carries the file
//! back base64-encoded in a hidden field (exact bytes, no server-side state,
//! so any replica can take it). Posting it twice imports nothing twice:
//! the second time every row is unchanged.

use crate::http::respond::csv_download;
use crate::web::page::{render, Chrome, WebError};
use crate::web::session::{CsrfMultipart, Visitor};
use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use futures_util::stream::{self, StreamExt};
use inventory_app::movements::MovementFilter;
use inventory_app::spreadsheets::{ImportPhase, ImportProgress};
use inventory_app::{App, UseCase};
use inventory_core::csvfile::{
    CellError, ImportReport, RowStatus, ITEM_COLUMNS, MAX_IMPORT_ROWS, READ_ONLY_COLUMNS,
};
use inventory_core::paging::{ItemQuery, ItemSort, MovementQuery, SeqOrder};
use inventory_core::Error;
use serde::Deserialize;
use tokio::sync::watch;

use super::shared::filled;

/// The items list's filters, as its page links carry them.
#[derive(Deserialize)]
pub struct ItemFilters {
    q: Option<String>,
    category: Option<String>,
    low_stock: Option<String>,
    sort: Option<String>,
}

/// `GET /items/export.csv`: the items the list shows (every page of them).
pub async fn export_items(
    State(app): State<App>,
    visitor: Visitor,
    Query(p): Query<ItemFilters>,
) -> Result<Response, WebError> {
    let sort = ItemSort::parse(&filled(&p.sort).unwrap_or_else(|| "sku".to_owned()))?;
    let query = ItemQuery {
        q: filled(&p.q),
        category: filled(&p.category),
        low_stock: matches!(p.low_stock.as_deref(), Some("true" | "on" | "1")),
        sort,
        ..ItemQuery::default()
    };
    let csv = app.export_items(&visitor.principal, query).await?;
    Ok(csv_download(csv, "items.csv"))
}

/// `GET /movements/export.csv`: the ledger as the page shows it, newest first.
pub async fn export_movements(
    State(app): State<App>,
    visitor: Visitor,
) -> Result<Response, WebError> {
    let filter = MovementFilter {
        query: MovementQuery {
            order: SeqOrder::Desc,
            ..MovementQuery::default()
        },
        sku: None,
    };
    let csv = app.export_movements(&visitor.principal, filter).await?;
    Ok(csv_download(csv, "movements.csv"))
}

#[derive(Template)]
#[template(path = "items/import.html")]
struct ImportForm {
    chrome: Chrome,
    columns: String,
    read_only: String,
    max_rows: usize,
    problem: Option<String>,
}

fn form(
    visitor: &Visitor,
    status: StatusCode,
    problem: Option<String>,
) -> Result<Response, WebError> {
    render(
        status,
        &ImportForm {
            chrome: visitor.chrome("Import items", "items"),
            columns: ITEM_COLUMNS.join(","),
            read_only: READ_ONLY_COLUMNS.join(" and "),
            max_rows: MAX_IMPORT_ROWS,
            problem,
        },
    )
}

/// `GET /items/import`: the upload form (managers and admins).
pub async fn import_form(visitor: Visitor) -> Result<Response, WebError> {
    visitor.principal.require(UseCase::ImportItems)?;
    form(&visitor, StatusCode::OK, None)
}

/// A row as the report lists it.
pub struct ReportRow {
    pub row: u64,
    pub sku: String,
    pub status: &'static str,
}

/// How many rows the report lists (every error is listed whatever the count).
const LISTED_ROWS: usize = 1_000;

#[derive(Template)]
#[template(path = "items/import_report.html")]
struct ReportPage {
    chrome: Chrome,
    heading: &'static str,
    /// None while the file is being checked (the streamed page's head).
    report: Option<ReportView>,
    /// Set when the use case failed after the page had begun.
    failure: Option<String>,
}

struct ReportView {
    written: bool,
    valid: bool,
    total: usize,
    new: usize,
    changed: usize,
    unchanged: usize,
    invalid: usize,
    errors: Vec<CellError>,
    rows: Vec<ReportRow>,
    unlisted: usize,
    /// The file, base64, for the confirmation (a valid preview only).
    file: Option<String>,
    filename: String,
}

impl ReportView {
    fn new(report: ImportReport, file: Option<String>, filename: String) -> Self {
        let valid = report.is_valid();
        let errors: Vec<CellError> = report
            .errors
            .iter()
            .chain(report.rows.iter().flat_map(|r| r.errors.iter()))
            .cloned()
            .collect();
        let unlisted = report.rows.len().saturating_sub(LISTED_ROWS);
        let rows = report
            .rows
            .into_iter()
            .take(LISTED_ROWS)
            .map(|r| ReportRow {
                row: r.row,
                sku: r.sku,
                status: match r.status {
                    RowStatus::New => "new",
                    RowStatus::Changed => "changed",
                    RowStatus::Unchanged => "unchanged",
                    RowStatus::Invalid => "error",
                },
            })
            .collect();
        Self {
            written: report.written,
            valid,
            total: report.total,
            new: report.new,
            changed: report.changed,
            unchanged: report.unchanged,
            invalid: report.invalid,
            errors,
            rows,
            unlisted,
            file: (report.dry_run && valid).then_some(file).flatten(),
            filename,
        }
    }
}

/// Where the streamed page is split: the report goes after it.
const PROGRESS_MARK: &str = "<!--progress-->";

fn progress_line(p: ImportProgress) -> Option<String> {
    let text = match p.phase {
        ImportPhase::Reading => return None,
        ImportPhase::Checking if p.done == 0 => format!("Read {} rows; checking them…", p.total),
        ImportPhase::Checking => format!("Checked {} of {} rows", p.done, p.total),
        ImportPhase::Writing => format!("Writing {} rows in one transaction…", p.total),
        ImportPhase::Done => "Done.".to_owned(),
    };
    Some(format!("<li>{text}</li>\n"))
}

fn page_html(page: &ReportPage) -> Result<String, WebError> {
    page.render()
        .map_err(|e| Error::internal(format!("template: {e}")).into())
}

/// `POST /items/import`: a file upload is checked and previewed (nothing
/// written); the preview's confirmation (`confirm` and the file in
/// `file_b64`) imports every row or none.
pub async fn import(
    State(app): State<App>,
    form_data: CsrfMultipart,
) -> Result<Response, WebError> {
    let visitor = &form_data.visitor;
    // Before anything streams: who asks, then what they sent.
    visitor.principal.require(UseCase::ImportItems)?;
    let confirm = form_data.field("confirm").is_some();
    let (bytes, filename) = match (form_data.field("file_b64"), form_data.field("file")) {
        (Some(encoded), _) if confirm => {
            let bytes = BASE64.decode(&encoded.data).map_err(|_| {
                Error::invalid("file", "the confirmation lost its file; upload it again")
            })?;
            let name = form_data
                .field("filename")
                .map(|f| String::from_utf8_lossy(&f.data).into_owned())
                .unwrap_or_default();
            (Bytes::from(bytes), name)
        }
        (_, Some(file)) if !file.data.is_empty() => {
            (file.data.clone(), file.filename.clone().unwrap_or_default())
        }
        _ => {
            return form(
                visitor,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("Choose a CSV file to import.".to_owned()),
            )
        }
    };
    let dry_run = !confirm;
    let chrome = || visitor.chrome("Import items", "items");
    let heading = if dry_run {
        "Import items: preview"
    } else {
        "Import items"
    };
    let head = page_html(&ReportPage {
        chrome: chrome(),
        heading,
        report: None,
        failure: None,
    })?;
    let Some((prefix, _)) = head.split_once(PROGRESS_MARK) else {
        return Err(Error::internal("the import page has no progress mark").into());
    };
    let prefix = prefix.to_owned();
    let principal = visitor.principal.clone();
    let done_chrome = chrome();
    let (progress, updates) = watch::channel(ImportProgress::default());
    let task = tokio::spawn({
        let app = app.clone();
        let bytes = bytes.clone();
        async move {
            app.import_items(&principal, &bytes, dry_run, Some(&progress))
                .await
        }
    });
    let encoded = dry_run.then(|| BASE64.encode(&bytes));
    let tail = async move {
        let (report, failure) = match task.await {
            Ok(Ok(report)) => (Some(ReportView::new(report, encoded, filename)), None),
            Ok(Err(e)) => (None, Some(failure_text(e))),
            Err(_) => (
                None,
                Some(failure_text(Error::internal("the import task failed"))),
            ),
        };
        let page = ReportPage {
            chrome: done_chrome,
            heading,
            report,
            failure,
        };
        let html = page_html(&page).unwrap_or_default();
        html.split_once(PROGRESS_MARK)
            .map(|(_, rest)| rest.to_owned())
            .unwrap_or_default()
    };
    // The progress lines, until the use case says it is done.
    let lines = stream::unfold((updates, false), |(mut updates, finished)| async move {
        if finished {
            return None;
        }
        let changed = updates.changed().await.is_ok();
        let now = *updates.borrow_and_update();
        let finished = !changed || now.phase == ImportPhase::Done;
        let line = if changed {
            progress_line(now).unwrap_or_default()
        } else {
            String::new()
        };
        Some((line, (updates, finished)))
    });
    let body = stream::once(async move { prefix })
        .chain(lines)
        .chain(stream::once(tail))
        .filter(|chunk| std::future::ready(!chunk.is_empty()))
        .map(|chunk| Ok::<_, std::convert::Infallible>(Bytes::from(chunk)));
    let mut response = Body::from_stream(body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Ok(response)
}

/// What the page says when the import failed after the page had begun
/// (the status line has gone out; the error is logged as on any page).
fn failure_text(e: Error) -> String {
    let problem = crate::http::error::HttpError::Domain(e).problem();
    format!("{} Nothing was written.", problem.detail)
}
