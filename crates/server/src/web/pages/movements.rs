//! The ledger's pages: the list of movements and the form that records one
//! (receive, issue, transfer, adjust), made for a scanner.

use super::shared::{
    filled, form_refusal, ledger_page, parse_before, place_errors, Field, MovementRow,
};
use crate::web::page::{render, see_other, Chrome, WebError};
use crate::web::session::{CsrfForm, Visitor};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use inventory_app::{App, Outcome};
use inventory_core::identity::Permission;
use inventory_core::ledger::{CreateMovement, MovementKind};
use inventory_core::{Error, FieldError};
use serde::Deserialize;
use uuid::Uuid;

const PAGE: u32 = 50;

#[derive(Template)]
#[template(path = "movements/list.html")]
struct ListPage {
    chrome: Chrome,
    latest: Vec<MovementRow>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct ListParams {
    /// Show movements older than this ledger position.
    before: Option<String>,
}

/// `GET /movements`: newest first, paged by ledger position.
pub async fn list(
    State(app): State<App>,
    visitor: Visitor,
    Query(p): Query<ListParams>,
) -> Result<Response, WebError> {
    let before = parse_before(p.before.as_deref())?;
    let (latest, next) = ledger_page(&app, &visitor, None, PAGE, before, "/movements").await?;
    render(
        StatusCode::OK,
        &ListPage {
            chrome: visitor.chrome("Movements", "movements"),
            latest,
            next,
        },
    )
}

#[derive(Template)]
#[template(path = "movements/new.html")]
struct MovementPage {
    chrome: Chrome,
    kinds: Vec<(&'static str, &'static str)>,
    kind: String,
    fields: Vec<Field>,
    notice: Option<String>,
    problem: Option<String>,
}

const KINDS: [(&str, &str); 4] = [
    ("receive", "Receive (stock comes in)"),
    ("issue", "Issue (stock goes out)"),
    ("transfer", "Transfer (between locations)"),
    ("adjust", "Adjust (correct the count; give a reason)"),
];

#[derive(Deserialize, Default)]
pub struct MovementForm {
    kind: Option<String>,
    item: Option<String>,
    quantity: Option<String>,
    location: Option<String>,
    from_location: Option<String>,
    to_location: Option<String>,
    reason: Option<String>,
    reference: Option<String>,
    /// Set on the redirect after a movement was recorded.
    recorded: Option<String>,
}

fn fields(form: &MovementForm) -> Vec<Field> {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        Field::text(
            "item",
            "Item: scan its barcode or type its SKU",
            value(&form.item),
        )
        .required(),
        Field::text("quantity", "Quantity", value(&form.quantity))
            .required()
            .inputmode("numeric")
            .hint("Adjust: a signed change, e.g. -2 or 3"),
        Field::text("location", "Location", value(&form.location))
            .hint("Receive, issue, adjust. Blank: the default location"),
        Field::text("from_location", "From location", value(&form.from_location))
            .hint("Transfer. Blank: the default location"),
        Field::text("to_location", "To location", value(&form.to_location)).hint("Transfer"),
        Field::text("reason", "Reason", value(&form.reason)).hint("Required for adjust"),
        Field::text("reference", "Reference", value(&form.reference))
            .hint("Delivery note, order number…"),
    ]
}

fn page(
    visitor: &Visitor,
    form: &MovementForm,
    fields: Vec<Field>,
    notice: Option<String>,
    problem: Option<String>,
) -> MovementPage {
    MovementPage {
        chrome: visitor.chrome("Record stock", "record"),
        // Adjusting is offered to those who may (managers, by default).
        kinds: KINDS
            .into_iter()
            .filter(|(kind, _)| *kind != "adjust" || visitor.may(Permission::StockAdjust))
            .collect(),
        kind: form.kind.clone().unwrap_or_else(|| "receive".to_owned()),
        fields,
        notice,
        problem,
    }
}

/// `GET /movements/new` (`?item=SKU` fills the item; `?recorded=ID` says
/// what the last post recorded, keeping its kind and locations for the next
/// scan).
pub async fn new_form(
    State(app): State<App>,
    visitor: Visitor,
    Query(form): Query<MovementForm>,
) -> Result<Response, WebError> {
    let notice = match form.recorded.as_deref().map(Uuid::parse_str) {
        Some(Ok(id)) => {
            let m = app.get_movement(&visitor.principal, id).await?;
            let row = MovementRow::from(&m);
            Some(format!(
                "Recorded: {} {} × {} at {}.",
                row.kind, row.quantity, row.sku, row.place
            ))
        }
        _ => None,
    };
    let blank_item = MovementForm {
        item: form.item.clone(),
        quantity: None,
        ..MovementForm {
            kind: form.kind.clone(),
            location: form.location.clone(),
            from_location: form.from_location.clone(),
            to_location: form.to_location.clone(),
            ..MovementForm::default()
        }
    };
    render(
        StatusCode::OK,
        &page(&visitor, &blank_item, fields(&blank_item), notice, None),
    )
}

/// The form's field for a use-case field name.
fn form_field(name: &str) -> &str {
    match name {
        "sku" | "item_id" => "item",
        other => other,
    }
}

/// `POST /movements/new`: records the movement and comes back to the form
/// for the next one; a refusal shows the form again with the reason beside
/// its field, or above the form (insufficient stock says how many are
/// available).
pub async fn record(
    State(app): State<App>,
    form: CsrfForm<MovementForm>,
) -> Result<Response, WebError> {
    let CsrfForm {
        visitor,
        value: form,
    } = form;
    let mut field_errors = Vec::new();
    let kind = match form.kind.as_deref().unwrap_or("receive") {
        "receive" => Some(MovementKind::Receive),
        "issue" => Some(MovementKind::Issue),
        "transfer" => Some(MovementKind::Transfer),
        "adjust" => Some(MovementKind::Adjust),
        _ => None,
    };
    let sku = filled(&form.item);
    if sku.is_none() {
        field_errors.push(FieldError::new("item", "scan the barcode or type the SKU"));
    }
    let quantity = match filled(&form.quantity).map(|q| q.parse::<i64>()) {
        Some(Ok(q)) => Some(q),
        Some(Err(_)) => {
            field_errors.push(FieldError::new("quantity", "must be a whole number"));
            None
        }
        None => {
            field_errors.push(FieldError::new("quantity", "is required"));
            None
        }
    };
    let outcome = match (kind, sku, quantity, field_errors.is_empty()) {
        (Some(kind), Some(sku), Some(quantity), true) => {
            let input = CreateMovement {
                item_id: None,
                sku: Some(sku),
                kind,
                quantity,
                location: filled(&form.location),
                from_location: filled(&form.from_location),
                to_location: filled(&form.to_location),
                reason: filled(&form.reason),
                reference: filled(&form.reference),
            };
            app.record_movement(&visitor.principal, input, None).await
        }
        (None, ..) => Err(Error::invalid("kind", "choose what happened")),
        _ => Err(Error::Validation(field_errors)),
    };
    let refusal = match outcome {
        Ok(outcome) => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            // Without an idempotency key every outcome is new.
            if let Outcome::New(result) = outcome {
                query.append_pair("recorded", &result.movement.id.to_string());
            }
            let query = query
                .append_pair("kind", form.kind.as_deref().unwrap_or("receive"))
                .append_pair("location", form.location.as_deref().unwrap_or(""))
                .append_pair("from_location", form.from_location.as_deref().unwrap_or(""))
                .append_pair("to_location", form.to_location.as_deref().unwrap_or(""))
                .finish();
            return Ok(see_other(&format!("/movements/new?{query}")));
        }
        Err(e) => form_refusal(e)?,
    };
    let problem = crate::http::error::HttpError::Domain(refusal.clone()).problem();
    let mut fields = fields(&form);
    let (status, problem_text) = match refusal.field_errors() {
        Some(errors) => {
            let rest = place_errors(&mut fields, errors, form_field);
            let text = if rest.is_empty() {
                "Check the fields marked below.".to_owned()
            } else {
                rest.iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            (problem.status, text)
        }
        None => (problem.status, problem.detail.clone()),
    };
    render(
        status,
        &page(&visitor, &form, fields, None, Some(problem_text)),
    )
}

#[derive(Template)]
#[template(path = "movements/reverse.html")]
struct ReversePage {
    chrome: Chrome,
    id: Uuid,
    row: MovementRow,
    reason: String,
    problem: Option<String>,
}

fn movement_id(text: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(text).map_err(|_| Error::NotFound("movement").into())
}

/// `GET /movements/{id}/reverse`: what would be undone, and a reason field.
pub async fn reverse_form(
    State(app): State<App>,
    visitor: Visitor,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, WebError> {
    let id = movement_id(&id)?;
    visitor
        .principal
        .require(inventory_app::UseCase::ReverseMovement)?;
    let movement = app.get_movement(&visitor.principal, id).await?;
    render(
        StatusCode::OK,
        &ReversePage {
            chrome: visitor.chrome("Reverse a movement", "movements"),
            id,
            row: MovementRow::from(&movement),
            reason: String::new(),
            problem: None,
        },
    )
}

#[derive(Deserialize)]
pub struct ReverseForm {
    reason: Option<String>,
}

/// `POST /movements/{id}/reverse`: records the opposite movement, once; a
/// refusal (already reversed, the stock no longer there, no reason) shows
/// the form again saying why.
pub async fn reverse(
    State(app): State<App>,
    axum::extract::Path(id): axum::extract::Path<String>,
    form: CsrfForm<ReverseForm>,
) -> Result<Response, WebError> {
    let id = movement_id(&id)?;
    let CsrfForm {
        visitor,
        value: form,
    } = form;
    let reason = form.reason.unwrap_or_default().trim().to_owned();
    let request = inventory_core::ledger::ReverseMovement {
        reason: reason.clone(),
    };
    match app
        .reverse_movement(&visitor.principal, id, request, None)
        .await
    {
        Ok(_) => {
            let movement = app.get_movement(&visitor.principal, id).await?;
            Ok(see_other(&format!(
                "/items/{}?reversed=1",
                movement.item_id
            )))
        }
        Err(
            e @ (Error::Forbidden { .. }
            | Error::PasswordChangeRequired
            | Error::NotFound(_)
            | Error::Unavailable(_)
            | Error::Internal(_)),
        ) => Err(e.into()),
        Err(e) => {
            let problem = crate::http::error::HttpError::Domain(e).problem();
            let text = if problem.errors.is_empty() {
                problem.detail
            } else {
                problem
                    .errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let movement = app.get_movement(&visitor.principal, id).await?;
            render(
                problem.status,
                &ReversePage {
                    chrome: visitor.chrome("Reverse a movement", "movements"),
                    id,
                    row: MovementRow::from(&movement),
                    reason,
                    problem: Some(text),
                },
            )
        }
    }
}
