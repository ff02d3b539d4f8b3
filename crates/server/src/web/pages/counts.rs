//! `/counts`: a stock count (stocktake) at one location. The sheet lists
//! what the books hold there, without the figures (a blind count); the
//! clerk types or scans what is on the shelf; the review shows each line
//! against the books; posting sends the differences as one batch of
//! `adjust` movements (the API's `POST /api/v1/stock-counts`). When stock
//! moved since the sheet was opened, the review comes back naming the
//! items, with their books brought up to date, and asks again.

use super::shared::{filled, form_refusal, form_value};
use crate::http::error::HttpError;
use crate::web::page::{render, see_other, Chrome, WebError};
use crate::web::session::{CsrfForm, Visitor};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use inventory_app::{App, UseCase};
use inventory_core::catalogue::normalize_code;
use inventory_core::paging::ItemQuery;
use inventory_core::stocktake::{CountLine, CreateStockCount, MAX_COUNT_LINES};
use inventory_core::Error;
use serde::Deserialize;

/// Items a sheet lists at most (the rest are scanned into blank lines).
const SHEET_ITEMS: u32 = 200;
/// Blank lines for items the books do not list there.
const BLANK_LINES: usize = 5;

pub struct Line {
    pub number: usize,
    pub sku: String,
    pub name: String,
    pub counted: String,
    /// Whether the SKU is fixed (listed by the books or already reviewed).
    pub fixed: bool,
    /// On the review: the books at the location, and the difference.
    pub books: Option<i64>,
    pub difference: Option<i64>,
    pub error: Option<String>,
}

impl Line {
    fn blank(number: usize) -> Self {
        Self {
            number,
            sku: String::new(),
            name: String::new(),
            counted: String::new(),
            fixed: false,
            books: None,
            difference: None,
            error: None,
        }
    }
}

#[derive(Template)]
#[template(path = "counts/sheet.html")]
struct SheetPage {
    chrome: Chrome,
    locations: Vec<String>,
    location: String,
    as_of_seq: i64,
    reference: String,
    lines: Vec<Line>,
    reviewed: bool,
    differences: usize,
    notice: Option<String>,
    problem: Option<String>,
}

#[derive(Deserialize)]
pub struct SheetParams {
    location: Option<String>,
    posted: Option<String>,
}

async fn location_codes(app: &App, visitor: &Visitor) -> Result<Vec<String>, WebError> {
    let page = app
        .list_locations(&visitor.principal, None, inventory_core::paging::MAX_LIMIT)
        .await?;
    Ok(page.rows.into_iter().map(|l| l.code).collect())
}

/// `GET /counts?location=CODE`: the count sheet (the default location when
/// none is chosen); `?posted=N` confirms the last count.
pub async fn sheet(
    State(app): State<App>,
    visitor: Visitor,
    Query(p): Query<SheetParams>,
) -> Result<Response, WebError> {
    visitor.principal.require(UseCase::PostStockCount)?;
    let locations = location_codes(&app, &visitor).await?;
    let location = match filled(&p.location) {
        Some(code) => app.get_location(&visitor.principal, &code).await?,
        None => {
            let page = app
                .list_locations(&visitor.principal, None, inventory_core::paging::MAX_LIMIT)
                .await?;
            match page.rows.into_iter().find(|l| l.is_default) {
                Some(l) => l,
                None => return Err(Error::NotFound("default location").into()),
            }
        }
    };
    // The position first: whatever moves after it makes the count stale.
    let as_of_seq = app.ledger_position(&visitor.principal).await?;
    let items = app
        .list_items(
            &visitor.principal,
            ItemQuery {
                location: Some(location.code.clone()),
                limit: SHEET_ITEMS,
                ..ItemQuery::default()
            },
        )
        .await?;
    let mut lines: Vec<Line> = items
        .rows
        .iter()
        .enumerate()
        .map(|(i, item)| Line {
            sku: item.sku.clone(),
            name: item.name.clone(),
            fixed: true,
            ..Line::blank(i + 1)
        })
        .collect();
    let next = lines.len() + 1;
    lines.extend((next..next + BLANK_LINES).map(Line::blank));
    let notice = filled(&p.posted)
        .and_then(|n| n.parse::<usize>().ok())
        .map(|n| match n {
            0 => "Count posted: everything matched the books.".to_owned(),
            1 => "Count posted: 1 adjustment recorded.".to_owned(),
            n => format!("Count posted: {n} adjustments recorded."),
        });
    let problem = items.next_cursor.is_some().then(|| {
        format!(
            "This location holds more than {SHEET_ITEMS} items: the sheet lists the first \
             {SHEET_ITEMS} by SKU; scan the others into the blank lines, or count by shelf."
        )
    });
    render(
        StatusCode::OK,
        &SheetPage {
            chrome: visitor.chrome(format!("Count {}", location.code), "count"),
            locations,
            location: location.code,
            as_of_seq,
            reference: String::new(),
            lines,
            reviewed: false,
            differences: 0,
            notice,
            problem,
        },
    )
}

/// A posted sheet: its header and its counted lines.
struct Posted {
    location: String,
    as_of_seq: i64,
    reference: String,
    lines: Vec<Line>,
}

fn read_sheet(pairs: &[(String, String)]) -> Result<Posted, WebError> {
    let value_of = |name: &str| form_value(pairs, name);
    let location = normalize_code("location", &value_of("location"))
        .map_err(|e| WebError::from(Error::Validation(vec![e])))?;
    let as_of_seq = value_of("as_of_seq")
        .parse::<i64>()
        .map_err(|_| WebError::from(Error::invalid("as_of_seq", "open the count sheet again")))?;
    let skus = pairs.iter().filter(|(k, _)| k == "sku").map(|(_, v)| v);
    let counts = pairs.iter().filter(|(k, _)| k == "counted").map(|(_, v)| v);
    let lines = skus
        .zip(counts)
        .take(MAX_COUNT_LINES + SHEET_ITEMS as usize)
        .map(|(sku, counted)| (sku.trim().to_owned(), counted.trim().to_owned()))
        // Lines left blank were not counted: they are not part of the count.
        .filter(|(_, counted)| !counted.is_empty())
        .enumerate()
        .map(|(i, (sku, counted))| Line {
            sku,
            counted,
            fixed: true,
            ..Line::blank(i + 1)
        })
        .collect();
    Ok(Posted {
        location,
        as_of_seq,
        reference: value_of("reference"),
        lines,
    })
}

/// Checks each line and fills in its item, books and difference; returns
/// how many lines differ. The items and their books are read once for all
/// the lines (`App::count_books`).
async fn review_lines(
    app: &App,
    visitor: &Visitor,
    location: &str,
    lines: &mut [Line],
) -> Result<usize, WebError> {
    // The lines worth looking up: a count that is a whole number, a code.
    let mut counted: Vec<(usize, i64)> = Vec::new();
    for (i, line) in lines.iter_mut().enumerate() {
        match line.counted.parse::<i64>() {
            Ok(n) if n >= 0 && !line.sku.is_empty() => counted.push((i, n)),
            Ok(n) if n >= 0 => {
                line.fixed = false;
                line.error = Some("scan the barcode or type the SKU".to_owned());
            }
            _ => line.error = Some("the count must be a whole number, 0 or more".to_owned()),
        }
    }
    let codes: Vec<String> = counted.iter().map(|(i, _)| lines[*i].sku.clone()).collect();
    let found = app
        .count_books(&visitor.principal, location, &codes)
        .await?;
    let mut differences = 0;
    for ((i, count), found) in counted.into_iter().zip(found) {
        let line = &mut lines[i];
        let Some((item, books)) = found else {
            line.fixed = false;
            line.error = Some(format!("no item has the SKU or barcode '{}'", line.sku));
            continue;
        };
        line.sku = item.sku;
        line.name = item.name;
        line.books = Some(books);
        line.difference = Some(count - books);
        if count != books {
            differences += 1;
        }
    }
    Ok(differences)
}

async fn review_page(
    app: &App,
    visitor: &Visitor,
    mut posted: Posted,
    problem: Option<String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let differences = review_lines(app, visitor, &posted.location, &mut posted.lines).await?;
    let problem = problem.or_else(|| {
        posted
            .lines
            .iter()
            .any(|l| l.error.is_some())
            .then(|| "Some lines need a fix before the count can be posted.".to_owned())
    });
    let next = posted.lines.len() + 1;
    posted
        .lines
        .extend((next..next + BLANK_LINES).map(Line::blank));
    let status = match (status, problem.is_some()) {
        (StatusCode::OK, true) => StatusCode::UNPROCESSABLE_ENTITY,
        (status, _) => status,
    };
    render(
        status,
        &SheetPage {
            chrome: visitor.chrome(format!("Count {}", posted.location), "count"),
            locations: Vec::new(),
            location: posted.location,
            as_of_seq: posted.as_of_seq,
            reference: posted.reference,
            lines: posted.lines,
            reviewed: true,
            differences,
            notice: None,
            problem,
        },
    )
}

/// `POST /counts/review`: the counted lines against the books; writes nothing.
pub async fn review(
    State(app): State<App>,
    form: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let CsrfForm {
        visitor,
        value: pairs,
    } = form;
    visitor.principal.require(UseCase::PostStockCount)?;
    let posted = read_sheet(&pairs)?;
    let problem = posted
        .lines
        .is_empty()
        .then(|| "Nothing was counted: enter what you found on the shelf.".to_owned());
    review_page(&app, &visitor, posted, problem, StatusCode::OK).await
}

/// `POST /counts`: posts the count's differences as one batch; a refusal
/// shows the review again, naming what to fix, with nothing recorded.
pub async fn post(
    State(app): State<App>,
    form: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let CsrfForm {
        visitor,
        value: pairs,
    } = form;
    let mut posted = read_sheet(&pairs)?;
    let input = CreateStockCount {
        location: Some(posted.location.clone()),
        as_of_seq: posted.as_of_seq,
        reference: Some(posted.reference.clone()).filter(|r| !r.is_empty()),
        lines: posted
            .lines
            .iter()
            .map(|l| CountLine {
                item_id: None,
                sku: Some(l.sku.clone()),
                // A count that is not a number is refused by the review below.
                counted: l.counted.parse().unwrap_or(-1),
            })
            .collect(),
    };
    let refusal = match app.post_stock_count(&visitor.principal, input).await {
        Ok(result) => {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("location", &result.location)
                .append_pair("posted", &result.adjustments.len().to_string())
                .finish();
            return Ok(see_other(&format!("/counts?{query}")));
        }
        Err(e) => form_refusal(e)?,
    };
    let status = HttpError::Domain(refusal.clone()).problem().status;
    let problem = match refusal {
        Error::CountOutdated { moved, .. } => {
            // Ask again from the ledger's position now, with fresh books.
            posted.as_of_seq = app.ledger_position(&visitor.principal).await?;
            for line in posted.lines.iter_mut() {
                if moved.iter().any(|m| m.sku.eq_ignore_ascii_case(&line.sku)) {
                    line.error = Some("moved since the count began: count it again".to_owned());
                }
            }
            let skus: Vec<&str> = moved.iter().map(|m| m.sku.as_str()).collect();
            format!(
                "Stock moved since this count began: {}. Nothing was posted. The books below are \
                 up to date now; count those items again and post.",
                skus.join(", ")
            )
        }
        other => match other.field_errors() {
            Some(errors) => {
                for e in &errors {
                    let line = e
                        .field
                        .strip_prefix("lines[")
                        .and_then(|rest| rest.split(']').next())
                        .and_then(|n| n.parse::<usize>().ok())
                        .and_then(|n| posted.lines.get_mut(n));
                    if let Some(line) = line {
                        line.error = Some(e.message.clone());
                    }
                }
                format!(
                    "Nothing was posted: {}",
                    errors
                        .iter()
                        .map(|e| e.message.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            }
            None => format!(
                "Nothing was posted: {}",
                HttpError::Domain(other).problem().detail
            ),
        },
    };
    review_page(&app, &visitor, posted, Some(problem), status).await
}
