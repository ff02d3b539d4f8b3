//! Sales orders: the list by status, a new order with the scanner line
//! entry, and an order's page (its lines with ordered, shipped and
//! reserved; confirm, ship everything or part, hold a draft's stock again,
//! cancel). The same use cases as `/api/v1/sales-orders`; a refusal comes
//! back on the order's page with the problem's meaning (a short line named
//! with what is available and what was asked).

use super::order_lines::{self, Action, LineEntry};
use super::shared::{filled, form_refusal, form_value, Field};
use crate::http::error::HttpError;
use crate::web::page::{render, see_other, Chrome, WebError};
use crate::web::session::{CsrfForm, Visitor};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use inventory_app::{App, Outcome, UseCase};
use inventory_core::access::Permission;
use inventory_core::parties::{PartyKind, PartyQuery};
use inventory_core::sales::{
    CreateSalesLine, CreateSalesOrder, HoldRequest, SalesOrder, SalesOrderQuery, SalesOrderStatus,
    ShipLine, ShipRequest,
};
use inventory_core::Error;
use serde::Deserialize;
use std::collections::HashMap;
use uuid::Uuid;

const PAGE: u32 = 50;

pub fn status_label(s: SalesOrderStatus) -> &'static str {
    match s {
        SalesOrderStatus::Draft => "Draft",
        SalesOrderStatus::Confirmed => "Confirmed",
        SalesOrderStatus::PartiallyShipped => "Partially shipped",
        SalesOrderStatus::Shipped => "Shipped",
        SalesOrderStatus::Cancelled => "Cancelled",
    }
}

/// An order as the list shows it.
pub struct OrderRow {
    pub id: Uuid,
    pub number: String,
    pub status: &'static str,
    pub customer: String,
    pub reference: String,
    pub lines: usize,
    pub total: String,
    pub created: String,
}

/// The names of these parties (for the lists), by id.
pub async fn party_names(
    app: &App,
    visitor: &Visitor,
    ids: impl Iterator<Item = Uuid>,
) -> Result<HashMap<Uuid, String>, WebError> {
    let mut names = HashMap::new();
    for id in ids {
        if names.contains_key(&id) {
            continue;
        }
        let name = match app.get_party(&visitor.principal, id).await {
            Ok(p) => p.name,
            Err(Error::NotFound(_)) => "(unknown)".to_owned(),
            Err(e) => return Err(e.into()),
        };
        names.insert(id, name);
    }
    Ok(names)
}

/// The parties an order may name, for a `<select>`: `(id, label)`.
pub async fn party_choices(
    app: &App,
    visitor: &Visitor,
    wanted: fn(PartyKind) -> bool,
) -> Result<Vec<(String, String)>, WebError> {
    let page = app
        .list_parties(
            &visitor.principal,
            PartyQuery {
                kind: None,
                q: None,
                archived: Some(false),
                limit: 500,
                after: None,
            },
        )
        .await?;
    Ok(page
        .rows
        .into_iter()
        .filter(|p| wanted(p.kind))
        .map(|p| {
            let label = match &p.code {
                Some(code) => format!("{} ({code})", p.name),
                None => p.name.clone(),
            };
            (p.id.to_string(), label)
        })
        .collect())
}

#[derive(Template)]
#[template(path = "sales/list.html")]
struct ListPage {
    chrome: Chrome,
    tabs: Vec<(&'static str, &'static str)>,
    status: String,
    rows: Vec<OrderRow>,
    next: Option<String>,
    may_create: bool,
}

#[derive(Deserialize)]
pub struct ListParams {
    status: Option<String>,
    after: Option<String>,
}

/// `GET /sales-orders?status=`: the orders, newest first, one tab per status.
pub async fn list(
    State(app): State<App>,
    visitor: Visitor,
    Query(p): Query<ListParams>,
) -> Result<Response, WebError> {
    let status_text = filled(&p.status).unwrap_or_default();
    let status = match status_text.as_str() {
        "" => None,
        s => Some(SalesOrderStatus::parse(s)?),
    };
    let after = match filled(&p.after) {
        None => None,
        Some(a) => Some(
            Uuid::parse_str(&a)
                .map_err(|_| Error::invalid("after", "is not a page link of this list"))?,
        ),
    };
    let page = app
        .list_sales_orders(
            &visitor.principal,
            SalesOrderQuery {
                status,
                limit: PAGE,
                after,
                ..SalesOrderQuery::default()
            },
        )
        .await?;
    let names = party_names(
        &app,
        &visitor,
        page.rows.iter().filter_map(|o| o.customer_id),
    )
    .await?;
    let next = page.next_cursor.as_ref().and(page.rows.last()).map(|o| {
        let mut link = form_urlencoded::Serializer::new(String::new());
        if !status_text.is_empty() {
            link.append_pair("status", &status_text);
        }
        link.append_pair("after", &o.id.to_string());
        format!("/sales-orders?{}", link.finish())
    });
    let mut tabs = vec![("", "All")];
    tabs.extend(
        SalesOrderStatus::ALL
            .into_iter()
            .map(|s| (s.as_str(), status_label(s))),
    );
    render(
        StatusCode::OK,
        &ListPage {
            chrome: visitor.chrome("Sales orders", "sales"),
            tabs,
            status: status_text,
            rows: page
                .rows
                .iter()
                .map(|o| OrderRow {
                    id: o.id,
                    number: o.number.clone(),
                    status: status_label(o.status),
                    customer: o
                        .customer_id
                        .and_then(|c| names.get(&c).cloned())
                        .unwrap_or_default(),
                    reference: o.reference.clone().unwrap_or_default(),
                    lines: o.lines.len(),
                    total: o.total.clone(),
                    created: o.created_at.format("%Y-%m-%d %H:%M").to_string(),
                })
                .collect(),
            next,
            may_create: visitor.may(Permission::SalesOrdersWrite),
        },
    )
}

#[derive(Template)]
#[template(path = "sales/new.html")]
struct NewPage {
    chrome: Chrome,
    customers: Vec<(String, String)>,
    customer: String,
    fields: Vec<Field>,
    entry: LineEntry,
    price_column: &'static str,
    problem: Option<String>,
}

const PRICE_LABEL: &str = "Unit price";
const PRICE_HINT: &str = "e.g. 4.50";

fn header_fields(reference: &str, ship_from: &str, hold: &str) -> Vec<Field> {
    vec![
        Field::text("reference", "Reference", reference)
            .hint("The customer's order or cart number"),
        Field::text("ship_from", "Ship from", ship_from).hint("Location code; blank: the default"),
        Field::text("hold_minutes", "Hold the stock for (minutes)", hold)
            .inputmode("numeric")
            .hint("Optional: a cart's hold, renewable; blank holds nothing until confirmed"),
    ]
}

/// `GET /sales-orders/new`.
pub async fn new_form(State(app): State<App>, visitor: Visitor) -> Result<Response, WebError> {
    visitor.principal.require(UseCase::CreateSalesOrder)?;
    render(
        StatusCode::OK,
        &NewPage {
            customers: party_choices(&app, &visitor, |k| {
                matches!(k, PartyKind::Customer | PartyKind::Both)
            })
            .await?,
            chrome: visitor.chrome("New sales order", "sales"),
            customer: String::new(),
            fields: header_fields("", "", ""),
            entry: LineEntry::blank(PRICE_LABEL, PRICE_HINT),
            price_column: PRICE_LABEL,
            problem: None,
        },
    )
}

/// `POST /sales-orders/new`: "Add line" (Enter) adds the scanned line and
/// shows the form again; "Create order" creates the draft from the lines.
pub async fn create(
    State(app): State<App>,
    form: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let CsrfForm {
        visitor,
        value: pairs,
    } = form;
    visitor.principal.require(UseCase::CreateSalesOrder)?;
    let (mut entry, action) =
        order_lines::read(&app, &visitor, &pairs, PRICE_LABEL, PRICE_HINT, true).await?;
    let customer = form_value(&pairs, "customer_id");
    let mut fields = header_fields(
        &form_value(&pairs, "reference"),
        &form_value(&pairs, "ship_from"),
        &form_value(&pairs, "hold_minutes"),
    );
    let mut problem = None;
    let mut status = StatusCode::OK;
    if action == Action::Create && !entry.refused {
        let hold = form_value(&pairs, "hold_minutes");
        let hold_minutes = match hold.parse::<i64>() {
            _ if hold.is_empty() => Ok(None),
            Ok(m) => Ok(Some(m)),
            Err(_) => Err(()),
        };
        let customer_id = Uuid::parse_str(&customer).ok();
        if hold_minutes.is_err() {
            fields[2].error = Some("must be a whole number of minutes".to_owned());
            problem = Some("Check the fields marked below.".to_owned());
        } else if entry.lines.is_empty() {
            problem = Some("Add at least one line: scan or type a SKU.".to_owned());
        } else {
            let input = CreateSalesOrder {
                customer_id,
                reference: filled(&Some(form_value(&pairs, "reference"))),
                ship_from: filled(&Some(form_value(&pairs, "ship_from"))),
                lines: Some(
                    entry
                        .lines
                        .iter()
                        .map(|l| CreateSalesLine {
                            item_id: Some(l.item_id),
                            quantity: Some(l.quantity),
                            unit_price: Some(l.price.clone()),
                        })
                        .collect(),
                ),
                hold_minutes: hold_minutes.unwrap_or(None),
            };
            match app
                .create_sales_order(&visitor.principal, input, None)
                .await
            {
                Ok(Outcome::New(order)) => {
                    return Ok(see_other(&format!(
                        "/sales-orders/{}?done=created",
                        order.id
                    )))
                }
                Ok(Outcome::Replay(_)) => return Ok(see_other("/sales-orders")),
                Err(e) => {
                    let e = form_refusal(e)?;
                    let p = HttpError::Domain(e.clone()).problem();
                    status = p.status;
                    let mut detail = p.detail;
                    if let Some(errors) = e.field_errors() {
                        let rest = super::shared::place_errors(&mut fields, errors, |f| f);
                        detail = if rest.is_empty() {
                            "Check the fields marked below.".to_owned()
                        } else {
                            rest.iter()
                                .map(|e| format!("{}: {}", e.field, e.message))
                                .collect::<Vec<_>>()
                                .join("; ")
                        };
                    }
                    problem = Some(format!("The order was not created: {detail}"));
                }
            }
        }
    } else if entry.refused {
        status = StatusCode::UNPROCESSABLE_ENTITY;
    }
    if action == Action::Add && entry.status.is_none() && !entry.refused {
        entry.status = Some("Scan or type a SKU to add a line.".to_owned());
    }
    render(
        status,
        &NewPage {
            customers: party_choices(&app, &visitor, |k| {
                matches!(k, PartyKind::Customer | PartyKind::Both)
            })
            .await?,
            chrome: visitor.chrome("New sales order", "sales"),
            customer,
            fields,
            entry,
            price_column: PRICE_LABEL,
            problem,
        },
    )
}

/// An order's line as its page shows it.
pub struct LineView {
    pub line_id: Uuid,
    pub number: usize,
    pub sku: String,
    pub item_id: Uuid,
    pub quantity: i64,
    pub shipped: i64,
    pub reserved: i64,
    pub outstanding: i64,
    pub unit_price: String,
    pub line_total: String,
    /// A refusal naming this line.
    pub error: Option<String>,
    /// What the ship form holds for it (kept after a refusal).
    pub ship: String,
}

#[derive(Template)]
#[template(path = "sales/show.html")]
struct ShowPage {
    chrome: Chrome,
    order: SalesOrder,
    status: &'static str,
    customer: String,
    hold_until: String,
    lines: Vec<LineView>,
    notice: Option<&'static str>,
    problem: Option<String>,
    may_write: bool,
    may_cancel: bool,
    is_draft: bool,
    may_ship: bool,
    may_cancel_now: bool,
}

#[derive(Deserialize)]
pub struct ShowParams {
    done: Option<String>,
}

fn order_id(text: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(text).map_err(|_| Error::NotFound("sales order").into())
}

async fn show_page(
    app: &App,
    visitor: &Visitor,
    order: SalesOrder,
    status: StatusCode,
    notice: Option<&'static str>,
    refusal: Option<Error>,
    ship: &HashMap<Uuid, String>,
) -> Result<Response, WebError> {
    let customer = match order.customer_id {
        Some(id) => party_names(app, visitor, std::iter::once(id))
            .await?
            .remove(&id)
            .unwrap_or_default(),
        None => String::new(),
    };
    let mut lines: Vec<LineView> = order
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| LineView {
            line_id: l.line_id,
            number: i + 1,
            sku: l.sku.clone(),
            item_id: l.item_id,
            quantity: l.quantity,
            shipped: l.shipped,
            reserved: l.reserved,
            outstanding: l.outstanding(),
            unit_price: inventory_core::money::format_unit_cost(l.unit_price),
            line_total: l.line_total.clone(),
            error: None,
            ship: ship.get(&l.line_id).cloned().unwrap_or_default(),
        })
        .collect();
    let problem = refusal.map(|e| refusal_text(e, &mut lines));
    let is_draft = order.status == SalesOrderStatus::Draft;
    let may_ship = matches!(
        order.status,
        SalesOrderStatus::Confirmed | SalesOrderStatus::PartiallyShipped
    );
    let may_cancel_now = is_draft || may_ship;
    render(
        status,
        &ShowPage {
            chrome: visitor.chrome(format!("Sales order {}", order.number), "sales"),
            status: status_label(order.status),
            customer,
            hold_until: order
                .hold_expires_at
                .filter(|_| is_draft)
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default(),
            lines,
            notice,
            problem,
            may_write: visitor.may(Permission::SalesOrdersWrite),
            may_cancel: visitor.may(Permission::OrdersCancel),
            is_draft,
            may_ship,
            may_cancel_now,
            order,
        },
    )
}

/// The line above the order saying why an action was refused; a refusal of
/// one line (a short line on confirm, too much to ship) is also put beside
/// that line.
fn refusal_text(e: Error, lines: &mut [LineView]) -> String {
    let p = HttpError::Domain(e.clone()).problem();
    match e {
        Error::AtLine {
            index, sku, source, ..
        } => {
            let why = match *source {
                Error::InsufficientStock {
                    location,
                    available,
                    requested,
                    ..
                } => format!(
                    "not enough stock at {location}: {available} available, {requested} requested"
                ),
                other => HttpError::Domain(other).problem().detail,
            };
            if let Some(line) = lines.get_mut(index) {
                line.error = Some(why.clone());
            }
            format!(
                "Line {} ({sku}) is short: {why}. Nothing was changed.",
                index + 1
            )
        }
        Error::Validation(errors) => {
            let mut rest = Vec::new();
            for fe in errors {
                let index = fe
                    .field
                    .strip_prefix("lines[")
                    .and_then(|f| f.split(']').next())
                    .and_then(|n| n.parse::<usize>().ok());
                match index.and_then(|i| lines.get_mut(i)) {
                    Some(line) => line.error = Some(fe.message.clone()),
                    None => rest.push(format!("{}: {}", fe.field, fe.message)),
                }
            }
            if rest.is_empty() {
                "Check the lines marked below; nothing was changed.".to_owned()
            } else {
                rest.join("; ")
            }
        }
        _ => p.detail,
    }
}

/// `GET /sales-orders/{id}`.
pub async fn show(
    State(app): State<App>,
    visitor: Visitor,
    Path(id): Path<String>,
    Query(p): Query<ShowParams>,
) -> Result<Response, WebError> {
    let id = order_id(&id)?;
    let order = app.get_sales_order(&visitor.principal, id).await?;
    let notice = match p.done.as_deref() {
        Some("created") => Some("Created: a draft. Confirm it to reserve its stock."),
        Some("confirmed") => Some("Confirmed: every line's stock is reserved."),
        Some("shipped") => Some("Shipped: the stock is issued with the order's number."),
        Some("held") => Some("Held: the stock is held until the time shown."),
        Some("cancelled") => Some("Cancelled: what was still reserved is released."),
        _ => None,
    };
    show_page(
        &app,
        &visitor,
        order,
        StatusCode::OK,
        notice,
        None,
        &HashMap::new(),
    )
    .await
}

/// Answers a transition: to the order's page on success, or the page again
/// with the refusal (its status, the line it names) on failure.
async fn after_transition(
    app: &App,
    visitor: &Visitor,
    id: Uuid,
    outcome: Result<Outcome<SalesOrder>, Error>,
    done: &str,
    ship: &HashMap<Uuid, String>,
) -> Result<Response, WebError> {
    match outcome {
        Ok(_) => Ok(see_other(&format!("/sales-orders/{id}?done={done}"))),
        Err(e) => {
            let e = form_refusal(e)?;
            let status = HttpError::Domain(e.clone()).problem().status;
            let order = app.get_sales_order(&visitor.principal, id).await?;
            show_page(app, visitor, order, status, None, Some(e), ship).await
        }
    }
}

/// `POST /sales-orders/{id}/confirm`.
pub async fn confirm(
    State(app): State<App>,
    Path(id): Path<String>,
    form: CsrfForm<super::shared::NoFields>,
) -> Result<Response, WebError> {
    let id = order_id(&id)?;
    let outcome = app
        .confirm_sales_order(&form.visitor.principal, id, None)
        .await;
    after_transition(
        &app,
        &form.visitor,
        id,
        outcome,
        "confirmed",
        &HashMap::new(),
    )
    .await
}

/// `POST /sales-orders/{id}/cancel`.
pub async fn cancel(
    State(app): State<App>,
    Path(id): Path<String>,
    form: CsrfForm<super::shared::NoFields>,
) -> Result<Response, WebError> {
    let id = order_id(&id)?;
    let outcome = app
        .cancel_sales_order(&form.visitor.principal, id, None)
        .await;
    after_transition(
        &app,
        &form.visitor,
        id,
        outcome,
        "cancelled",
        &HashMap::new(),
    )
    .await
}

#[derive(Deserialize)]
pub struct HoldForm {
    minutes: Option<String>,
}

/// `POST /sales-orders/{id}/hold`: hold (again) a draft's stock.
pub async fn hold(
    State(app): State<App>,
    Path(id): Path<String>,
    form: CsrfForm<HoldForm>,
) -> Result<Response, WebError> {
    let id = order_id(&id)?;
    let minutes = filled(&form.value.minutes);
    let outcome = match minutes.as_deref().map(str::parse::<i64>) {
        Some(Ok(m)) => {
            app.hold_sales_order(
                &form.visitor.principal,
                id,
                HoldRequest { minutes: Some(m) },
                None,
            )
            .await
        }
        _ => Err(Error::invalid(
            "minutes",
            "must be a whole number of minutes",
        )),
    };
    after_transition(&app, &form.visitor, id, outcome, "held", &HashMap::new()).await
}

/// `POST /sales-orders/{id}/ship`: `all` ships everything outstanding;
/// otherwise the quantity typed for each line (`ship-<line_id>`; blank or 0
/// ships none of it).
pub async fn ship(
    State(app): State<App>,
    Path(id): Path<String>,
    form: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let id = order_id(&id)?;
    let CsrfForm {
        visitor,
        value: pairs,
    } = form;
    let mut typed = HashMap::new();
    if !form_value(&pairs, "all").is_empty() {
        let outcome = app
            .ship_sales_order(&visitor.principal, id, ShipRequest { lines: None }, None)
            .await;
        return after_transition(&app, &visitor, id, outcome, "shipped", &typed).await;
    }
    let order = app.get_sales_order(&visitor.principal, id).await?;
    // The page names a line by its place in the order.
    let position = |line_id: Uuid| {
        order
            .lines
            .iter()
            .position(|o| o.line_id == line_id)
            .unwrap_or(usize::MAX)
    };
    let mut lines = Vec::new();
    let mut positions = Vec::new();
    let mut errors = Vec::new();
    for (name, value) in &pairs {
        let Some(line_id) = name
            .strip_prefix("ship-")
            .and_then(|l| Uuid::parse_str(l).ok())
        else {
            continue;
        };
        let value = value.trim();
        typed.insert(line_id, value.to_owned());
        match value.parse::<i64>() {
            _ if value.is_empty() => {}
            Ok(0) => {}
            Ok(q) => {
                positions.push(position(line_id));
                lines.push(ShipLine {
                    line_id: Some(line_id),
                    quantity: Some(q),
                });
            }
            Err(_) => errors.push(inventory_core::FieldError::new(
                format!("lines[{}].quantity", position(line_id)),
                "must be a whole number",
            )),
        }
    }
    let refusal = if !errors.is_empty() {
        Some(Error::Validation(errors))
    } else if lines.is_empty() {
        Some(Error::invalid(
            "lines",
            "type how many of a line to ship (or ship everything outstanding)",
        ))
    } else {
        None
    };
    if let Some(e) = refusal {
        return show_page(
            &app,
            &visitor,
            order,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(e),
            &typed,
        )
        .await;
    }
    let outcome = app
        .ship_sales_order(
            &visitor.principal,
            id,
            ShipRequest { lines: Some(lines) },
            None,
        )
        .await
        .map_err(|e| renumber(e, &positions));
    after_transition(&app, &visitor, id, outcome, "shipped", &typed).await
}

/// Field errors naming `lines[i]` of the request, renamed to the order's line.
fn renumber(e: Error, positions: &[usize]) -> Error {
    match e {
        Error::Validation(errors) => Error::Validation(
            errors
                .into_iter()
                .map(|mut fe| {
                    if let Some(rest) = fe.field.strip_prefix("lines[") {
                        if let Some((n, tail)) = rest.split_once(']') {
                            if let Some(p) = n.parse::<usize>().ok().and_then(|n| positions.get(n))
                            {
                                fe.field = format!("lines[{p}]{tail}");
                            }
                        }
                    }
                    fe
                })
                .collect(),
        ),
        Error::AtLine {
            index,
            line_id,
            sku,
            source,
        } => Error::AtLine {
            index: positions.get(index).copied().unwrap_or(index),
            line_id,
            sku,
            source,
        },
        other => other,
    }
}
