//! `GET/POST /movements/delivery`: receiving many lines at once, as one
//! batch (the API's `POST /api/v1/movements/batch`): all lines or none.

use super::shared::{filled, form_refusal, form_value};
use crate::http::error::HttpError;
use crate::web::page::{render, see_other, Chrome, WebError};
use crate::web::session::{CsrfForm, Visitor};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use inventory_app::{App, Outcome};
use inventory_core::ledger::{CreateMovement, MovementKind};
use inventory_core::Error;
use serde::Deserialize;

/// Lines a blank form shows, and the most one form takes.
const LINES: usize = 10;
const MAX_LINES: usize = 200;

pub struct Line {
    pub number: usize,
    pub sku: String,
    pub quantity: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "movements/delivery.html")]
struct DeliveryPage {
    chrome: Chrome,
    location: String,
    reference: String,
    lines: Vec<Line>,
    more_lines: usize,
    notice: Option<String>,
    problem: Option<String>,
}

fn blank_lines(from: usize, to: usize) -> impl Iterator<Item = Line> {
    (from..=to).map(|number| Line {
        number,
        sku: String::new(),
        quantity: String::new(),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct DeliveryParams {
    lines: Option<String>,
    received: Option<String>,
}

/// `GET /movements/delivery` (`?lines=N` for more lines; `?received=N`
/// confirms the last delivery).
pub async fn form(visitor: Visitor, Query(p): Query<DeliveryParams>) -> Result<Response, WebError> {
    visitor
        .principal
        .require(inventory_app::UseCase::RecordMovements)?;
    let count = match filled(&p.lines).map(|n| n.parse::<usize>()) {
        None => LINES,
        Some(Ok(n)) if (1..=MAX_LINES).contains(&n) => n,
        Some(_) => {
            return Err(Error::invalid("lines", format!("must be from 1 to {MAX_LINES}")).into())
        }
    };
    let notice = filled(&p.received)
        .and_then(|n| n.parse::<usize>().ok())
        .map(|n| format!("Received {n} line{}.", if n == 1 { "" } else { "s" }));
    render(
        StatusCode::OK,
        &DeliveryPage {
            chrome: visitor.chrome("Receive a delivery", "record"),
            location: String::new(),
            reference: String::new(),
            lines: blank_lines(1, count).collect(),
            more_lines: (count + LINES).min(MAX_LINES),
            notice,
            problem: None,
        },
    )
}

/// `POST /movements/delivery`: every filled line received in one batch; a
/// refusal shows the form again with the refused line marked and nothing
/// recorded.
pub async fn receive(
    State(app): State<App>,
    form: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let CsrfForm {
        visitor,
        value: pairs,
    } = form;
    let value_of = |name: &str| form_value(&pairs, name);
    let location = value_of("location");
    let reference = value_of("reference");
    let skus = pairs.iter().filter(|(k, _)| k == "sku").map(|(_, v)| v);
    let quantities = pairs
        .iter()
        .filter(|(k, _)| k == "quantity")
        .map(|(_, v)| v);
    let mut lines: Vec<Line> = skus
        .zip(quantities)
        .take(MAX_LINES)
        .enumerate()
        .map(|(i, (sku, quantity))| Line {
            number: i + 1,
            sku: sku.trim().to_owned(),
            quantity: quantity.trim().to_owned(),
            error: None,
        })
        .collect();
    // The filled lines, each with its line number, become the batch.
    let mut batch = Vec::new();
    let mut numbers = Vec::new();
    for line in lines.iter_mut() {
        if line.sku.is_empty() && line.quantity.is_empty() {
            continue;
        }
        let quantity = line.quantity.parse::<i64>();
        match (line.sku.is_empty(), quantity) {
            (true, _) => line.error = Some("scan or type the SKU".to_owned()),
            (false, Err(_)) => line.error = Some("the quantity must be a whole number".to_owned()),
            (false, Ok(quantity)) => {
                numbers.push(line.number);
                batch.push(CreateMovement {
                    item_id: None,
                    sku: Some(line.sku.clone()),
                    kind: MovementKind::Receive,
                    quantity,
                    location: Some(location.clone()).filter(|l| !l.is_empty()),
                    from_location: None,
                    to_location: None,
                    reason: None,
                    reference: Some(reference.clone()).filter(|r| !r.is_empty()),
                });
            }
        }
    }
    let problem;
    if lines.iter().all(|l| l.error.is_none()) {
        if batch.is_empty() {
            problem = Some("Fill in at least one line: a SKU and a quantity.".to_owned());
        } else {
            let received = batch.len();
            match app.record_movements(&visitor.principal, batch, None).await {
                Ok(Outcome::New(_)) | Ok(Outcome::Replay(_)) => {
                    return Ok(see_other(&format!(
                        "/movements/delivery?received={received}"
                    )))
                }
                Err(Error::AtIndex { index, source }) => {
                    let p = HttpError::Domain(*source.clone()).problem();
                    let message = match source.field_errors() {
                        Some(errors) => errors
                            .iter()
                            .map(|e| e.message.clone())
                            .collect::<Vec<_>>()
                            .join("; "),
                        None => p.detail,
                    };
                    match numbers.get(index).and_then(|n| lines.get_mut(n - 1)) {
                        Some(line) if !matches!(*source, Error::UnknownLocation { .. }) => {
                            line.error = Some(message);
                            problem = Some(format!(
                                "Line {} was refused, so nothing was received.",
                                line.number
                            ));
                        }
                        _ => problem = Some(format!("Nothing was received: {message}")),
                    }
                }
                Err(e) => problem = Some(HttpError::Domain(form_refusal(e)?).problem().detail),
            }
        }
    } else {
        problem = Some("Some lines are incomplete, so nothing was received.".to_owned());
    }
    let count = lines.len().max(1);
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    render(
        status,
        &DeliveryPage {
            chrome: visitor.chrome("Receive a delivery", "record"),
            location,
            reference,
            lines,
            more_lines: (count + LINES).min(MAX_LINES),
            notice: None,
            problem,
        },
    )
}
