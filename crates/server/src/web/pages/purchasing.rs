//! Purchase orders: the list by status, a new order (a supplier and the
//! scanner line entry), and an order's page: its lines with ordered and
//! received, submit (managers), cancel (managers), and receiving with the
//! scanner field. Receiving more than a line still expects is the API's
//! 409 `over-receipt`, shown as a warning with a button that receives it
//! anyway (`allow_over_receipt`).

use super::order_lines::{self, Action, LineEntry};
use super::sales::party_choices;
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
use inventory_core::money::format_unit_cost;
use inventory_core::parties::PartyKind;
use inventory_core::purchasing::{
    CreatePoLine, CreatePurchaseOrder, PoQuery, PoStatus, PurchaseOrder, ReceiptLine,
    ReceivePurchaseOrder,
};
use inventory_core::Error;
use serde::Deserialize;
use uuid::Uuid;

const PAGE: u32 = 50;

pub fn status_label(s: PoStatus) -> &'static str {
    match s {
        PoStatus::Draft => "Draft",
        PoStatus::Submitted => "Submitted",
        PoStatus::PartiallyReceived => "Partially received",
        PoStatus::Received => "Received",
        PoStatus::Cancelled => "Cancelled",
        PoStatus::Closed => "Closed",
    }
}

pub struct OrderRow {
    pub id: Uuid,
    pub number: String,
    pub status: &'static str,
    pub supplier: String,
    pub reference: String,
    pub lines: usize,
    pub total: String,
    pub expected: String,
}

async fn party_name(app: &App, visitor: &Visitor, id: Uuid) -> Result<String, WebError> {
    match app.get_party(&visitor.principal, id).await {
        Ok(p) => Ok(p.name),
        Err(Error::NotFound(_)) => Ok("(unknown)".to_owned()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "purchasing/list.html")]
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

/// `GET /purchase-orders?status=`.
pub async fn list(
    State(app): State<App>,
    visitor: Visitor,
    Query(p): Query<ListParams>,
) -> Result<Response, WebError> {
    let status_text = filled(&p.status).unwrap_or_default();
    let status = match status_text.as_str() {
        "" => None,
        s => Some(
            PoStatus::parse(s)
                .ok_or_else(|| Error::invalid("status", format!("unknown status '{s}'")))?,
        ),
    };
    let after_seq = match filled(&p.after) {
        None => None,
        Some(a) => Some(
            a.parse::<i64>()
                .map_err(|_| Error::invalid("after", "is not a page link of this list"))?,
        ),
    };
    let page = app
        .list_purchase_orders(
            &visitor.principal,
            PoQuery {
                status,
                limit: PAGE,
                after_seq,
                ..PoQuery::default()
            },
        )
        .await?;
    let names =
        super::sales::party_names(&app, &visitor, page.rows.iter().map(|o| o.supplier_id)).await?;
    let mut rows = Vec::new();
    for o in &page.rows {
        rows.push(OrderRow {
            id: o.id,
            number: o.number.clone(),
            status: status_label(o.status),
            supplier: names[&o.supplier_id].clone(),
            reference: o.reference.clone().unwrap_or_default(),
            lines: o.lines.len(),
            total: o.total.clone(),
            expected: o
                .expected_at
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
        });
    }
    let next = page.next_cursor.map(|after| {
        let mut link = form_urlencoded::Serializer::new(String::new());
        if !status_text.is_empty() {
            link.append_pair("status", &status_text);
        }
        link.append_pair("after", &after);
        format!("/purchase-orders?{}", link.finish())
    });
    let mut tabs = vec![("", "All")];
    tabs.extend(
        PoStatus::ALL
            .into_iter()
            .map(|s| (s.as_str(), status_label(s))),
    );
    render(
        StatusCode::OK,
        &ListPage {
            chrome: visitor.chrome("Purchase orders", "purchasing"),
            tabs,
            status: status_text,
            rows,
            next,
            may_create: visitor.may(Permission::PurchaseOrdersWrite),
        },
    )
}

#[derive(Template)]
#[template(path = "purchasing/new.html")]
struct NewPage {
    chrome: Chrome,
    suppliers: Vec<(String, String)>,
    supplier: String,
    supplier_error: Option<String>,
    fields: Vec<Field>,
    entry: LineEntry,
    price_column: &'static str,
    problem: Option<String>,
}

const COST_LABEL: &str = "Unit cost";
const COST_HINT: &str = "Blank: the item's unit cost";

fn header_fields(reference: &str, expected: &str, receive_to: &str) -> Vec<Field> {
    vec![
        Field::text("reference", "Reference", reference)
            .hint("The supplier's quote or order number"),
        Field::text("expected_at", "Expected on", expected)
            .hint("A date, e.g. 2026-03-31; optional"),
        Field::text("receive_to", "Receive to", receive_to)
            .hint("Location code; blank: the default"),
    ]
}

async fn suppliers(app: &App, visitor: &Visitor) -> Result<Vec<(String, String)>, WebError> {
    party_choices(app, visitor, PartyKind::supplies).await
}

/// `GET /purchase-orders/new`.
pub async fn new_form(State(app): State<App>, visitor: Visitor) -> Result<Response, WebError> {
    visitor.principal.require(UseCase::CreatePurchaseOrder)?;
    render(
        StatusCode::OK,
        &NewPage {
            suppliers: suppliers(&app, &visitor).await?,
            chrome: visitor.chrome("New purchase order", "purchasing"),
            supplier: String::new(),
            supplier_error: None,
            fields: header_fields("", "", ""),
            entry: LineEntry::blank(COST_LABEL, COST_HINT),
            price_column: COST_LABEL,
            problem: None,
        },
    )
}

/// `POST /purchase-orders/new`: "Add line" (Enter) or "Create order".
pub async fn create(
    State(app): State<App>,
    form: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let CsrfForm {
        visitor,
        value: pairs,
    } = form;
    visitor.principal.require(UseCase::CreatePurchaseOrder)?;
    let (entry, action) =
        order_lines::read(&app, &visitor, &pairs, COST_LABEL, COST_HINT, false).await?;
    let supplier = form_value(&pairs, "supplier_id");
    let expected = form_value(&pairs, "expected_at");
    let mut fields = header_fields(
        &form_value(&pairs, "reference"),
        &expected,
        &form_value(&pairs, "receive_to"),
    );
    let mut supplier_error = None;
    let mut problem = None;
    let mut status = if entry.refused {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    if action == Action::Create && !entry.refused {
        let supplier_id = Uuid::parse_str(&supplier).ok();
        let expected_at = match chrono::NaiveDate::parse_from_str(&expected, "%Y-%m-%d") {
            _ if expected.is_empty() => Ok(None),
            Ok(d) => Ok(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc())),
            Err(_) => Err(()),
        };
        if supplier_id.is_none() {
            supplier_error = Some("pick the supplier".to_owned());
        }
        if expected_at.is_err() {
            fields[1].error = Some("must be a date such as 2026-03-31".to_owned());
        }
        status = StatusCode::UNPROCESSABLE_ENTITY;
        if supplier_error.is_some() || expected_at.is_err() {
            problem = Some("Check the fields marked below.".to_owned());
        } else if entry.lines.is_empty() {
            problem = Some("Add at least one line: scan or type a SKU.".to_owned());
        } else if let (Some(supplier_id), Ok(expected_at)) = (supplier_id, expected_at) {
            let input = CreatePurchaseOrder {
                supplier_id,
                reference: filled(&Some(form_value(&pairs, "reference"))),
                expected_at,
                receive_to: filled(&Some(form_value(&pairs, "receive_to"))),
                lines: entry
                    .lines
                    .iter()
                    .map(|l| CreatePoLine {
                        item_id: l.item_id,
                        quantity: l.quantity,
                        unit_cost: Some(l.price.clone()).filter(|p| !p.is_empty()),
                    })
                    .collect(),
            };
            match app
                .create_purchase_order(&visitor.principal, input, None)
                .await
            {
                Ok(Outcome::New(order)) => {
                    return Ok(see_other(&format!(
                        "/purchase-orders/{}?done=created",
                        order.id
                    )))
                }
                Ok(Outcome::Replay(_)) => return Ok(see_other("/purchase-orders")),
                Err(e) => {
                    let e = form_refusal(e)?;
                    let p = HttpError::Domain(e.clone()).problem();
                    status = p.status;
                    let mut detail = p.detail;
                    if let Some(errors) = e.field_errors() {
                        let rest = super::shared::place_errors(&mut fields, errors, |f| f);
                        detail = rest
                            .iter()
                            .map(|e| {
                                if e.field == "supplier_id" {
                                    supplier_error = Some(e.message.clone());
                                }
                                format!("{}: {}", e.field, e.message)
                            })
                            .collect::<Vec<_>>()
                            .join("; ");
                        if detail.is_empty() {
                            detail = "check the fields marked below".to_owned();
                        }
                    }
                    problem = Some(format!("The order was not created: {detail}"));
                }
            }
        }
    }
    render(
        status,
        &NewPage {
            suppliers: suppliers(&app, &visitor).await?,
            chrome: visitor.chrome("New purchase order", "purchasing"),
            supplier,
            supplier_error,
            fields,
            entry,
            price_column: COST_LABEL,
            problem,
        },
    )
}

pub struct LineView {
    pub number: usize,
    pub item_id: Uuid,
    pub sku: String,
    pub quantity: i64,
    pub received: i64,
    pub outstanding: i64,
    pub unit_cost: String,
    pub line_total: String,
}

/// A receipt the visitor asked for that goes beyond what a line expects.
pub struct OverReceipt {
    pub sku: String,
    pub outstanding: i64,
    pub requested: i64,
}

#[derive(Template)]
#[template(path = "purchasing/show.html")]
struct ShowPage {
    chrome: Chrome,
    order: PurchaseOrder,
    status: &'static str,
    supplier: String,
    lines: Vec<LineView>,
    notice: Option<String>,
    problem: Option<String>,
    receive: Vec<Field>,
    focus: &'static str,
    over: Option<OverReceipt>,
    may_receive: bool,
    may_submit: bool,
    may_cancel: bool,
    is_draft: bool,
    receiving: bool,
    is_open: bool,
}

fn order_id(text: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(text).map_err(|_| Error::NotFound("purchase order").into())
}

fn receive_fields(code: &str, quantity: &str, location: &str) -> Vec<Field> {
    vec![
        Field::text("code", "SKU or barcode", code).hint("Scan it, or type it and press Enter"),
        Field::text("quantity", "Quantity", quantity).inputmode("numeric"),
        Field::text("location", "Location", location).hint("Blank: the order's"),
    ]
}

struct Receiving {
    fields: Vec<Field>,
    focus: &'static str,
    over: Option<OverReceipt>,
}

async fn show_page(
    app: &App,
    visitor: &Visitor,
    order: PurchaseOrder,
    status: StatusCode,
    notice: Option<String>,
    problem: Option<String>,
    receiving: Option<Receiving>,
) -> Result<Response, WebError> {
    let supplier = party_name(app, visitor, order.supplier_id).await?;
    let lines = order
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| LineView {
            number: i + 1,
            item_id: l.item_id,
            sku: l.sku.clone(),
            quantity: l.quantity,
            received: l.received,
            outstanding: (l.quantity - l.received).max(0),
            unit_cost: format_unit_cost(l.unit_cost),
            line_total: l.line_total.clone(),
        })
        .collect();
    let receiving = receiving.unwrap_or(Receiving {
        fields: receive_fields("", "", ""),
        focus: "code",
        over: None,
    });
    render(
        status,
        &ShowPage {
            chrome: visitor.chrome(format!("Purchase order {}", order.number), "purchasing"),
            status: status_label(order.status),
            supplier,
            lines,
            notice,
            problem,
            receive: receiving.fields,
            focus: receiving.focus,
            over: receiving.over,
            may_receive: visitor.may(Permission::PurchaseOrdersWrite),
            may_submit: visitor.may(Permission::PurchaseOrdersSubmit),
            may_cancel: visitor.may(Permission::OrdersCancel),
            is_draft: order.status == PoStatus::Draft,
            receiving: order.status.counts_incoming(),
            is_open: order.status.is_open(),
            order,
        },
    )
}

#[derive(Deserialize)]
pub struct ShowParams {
    done: Option<String>,
    received: Option<String>,
}

/// `GET /purchase-orders/{id}` (`?received=` confirms the last receipt).
pub async fn show(
    State(app): State<App>,
    visitor: Visitor,
    Path(id): Path<String>,
    Query(p): Query<ShowParams>,
) -> Result<Response, WebError> {
    let id = order_id(&id)?;
    let order = app.get_purchase_order(&visitor.principal, id).await?;
    let notice = match (p.done.as_deref(), filled(&p.received)) {
        (_, Some(what)) => Some(format!("Received {what}. Scan the next item.")),
        (Some("created"), _) => {
            Some("Created: a draft. Submit it to count its lines as incoming.".to_owned())
        }
        (Some("submitted"), _) => {
            Some("Submitted: its lines count as incoming until received.".to_owned())
        }
        (Some("cancelled"), _) => Some("Cancelled: nothing more is expected.".to_owned()),
        _ => None,
    };
    show_page(&app, &visitor, order, StatusCode::OK, notice, None, None).await
}

async fn after_transition(
    app: &App,
    visitor: &Visitor,
    id: Uuid,
    outcome: Result<Outcome<PurchaseOrder>, Error>,
    done: &str,
) -> Result<Response, WebError> {
    match outcome {
        Ok(_) => Ok(see_other(&format!("/purchase-orders/{id}?done={done}"))),
        Err(e) => {
            let e = form_refusal(e)?;
            let p = HttpError::Domain(e).problem();
            let order = app.get_purchase_order(&visitor.principal, id).await?;
            show_page(app, visitor, order, p.status, None, Some(p.detail), None).await
        }
    }
}

/// `POST /purchase-orders/{id}/submit`.
pub async fn submit(
    State(app): State<App>,
    Path(id): Path<String>,
    form: CsrfForm<super::shared::NoFields>,
) -> Result<Response, WebError> {
    let id = order_id(&id)?;
    let outcome = app
        .submit_purchase_order(&form.visitor.principal, id, None)
        .await;
    after_transition(&app, &form.visitor, id, outcome, "submitted").await
}

/// `POST /purchase-orders/{id}/cancel`.
pub async fn cancel(
    State(app): State<App>,
    Path(id): Path<String>,
    form: CsrfForm<super::shared::NoFields>,
) -> Result<Response, WebError> {
    let id = order_id(&id)?;
    let outcome = app
        .cancel_purchase_order(&form.visitor.principal, id, None)
        .await;
    after_transition(&app, &form.visitor, id, outcome, "cancelled").await
}

#[derive(Deserialize)]
pub struct ReceiveForm {
    code: Option<String>,
    quantity: Option<String>,
    location: Option<String>,
    allow_over_receipt: Option<String>,
}

/// `POST /purchase-orders/{id}/receive`: the scanned item's line, the
/// quantity, and optionally a location. More than the line expects comes
/// back as a warning with "Receive anyway" (`allow_over_receipt`).
pub async fn receive(
    State(app): State<App>,
    Path(id): Path<String>,
    form: CsrfForm<ReceiveForm>,
) -> Result<Response, WebError> {
    let id = order_id(&id)?;
    let CsrfForm { visitor, value: f } = form;
    let code = filled(&f.code).unwrap_or_default();
    let quantity = filled(&f.quantity).unwrap_or_default();
    let location = filled(&f.location).unwrap_or_default();
    let allow = f.allow_over_receipt.as_deref() == Some("true");
    let order = app.get_purchase_order(&visitor.principal, id).await?;
    let mut fields = receive_fields(&code, &quantity, &location);
    let mut focus = "";
    fn mark(fields: &mut [Field], focus: &mut &'static str, name: &'static str, message: String) {
        if let Some(field) = fields.iter_mut().find(|f| f.name == name) {
            field.error = Some(message);
        }
        if focus.is_empty() {
            *focus = name;
        }
    }
    let mut line = None;
    if code.is_empty() {
        mark(
            &mut fields,
            &mut focus,
            "code",
            "scan or type the SKU or barcode".to_owned(),
        );
    } else {
        match app.find_item_by_code(&visitor.principal, &code).await? {
            None => mark(
                &mut fields,
                &mut focus,
                "code",
                format!("no item has the SKU or barcode '{code}'"),
            ),
            Some(item) => {
                let mut on_order = order.lines.iter().filter(|l| l.item_id == item.id);
                let first = on_order.clone().next();
                match on_order.find(|l| l.quantity > l.received).or(first) {
                    Some(l) => line = Some(l.clone()),
                    None => mark(
                        &mut fields,
                        &mut focus,
                        "code",
                        format!("{} is not on this order", item.sku),
                    ),
                }
            }
        }
    }
    let qty = match quantity.parse::<i64>() {
        _ if quantity.is_empty() => {
            mark(
                &mut fields,
                &mut focus,
                "quantity",
                "type the quantity received".to_owned(),
            );
            None
        }
        Ok(q) if q > 0 => Some(q),
        _ => {
            mark(
                &mut fields,
                &mut focus,
                "quantity",
                "must be a positive whole number".to_owned(),
            );
            None
        }
    };
    let (status, problem, over) = match (line, qty) {
        (Some(line), Some(q)) if focus.is_empty() => {
            let receipt = ReceivePurchaseOrder {
                lines: vec![ReceiptLine {
                    line_id: line.line_id,
                    quantity: q,
                    location: Some(location.clone()).filter(|l| !l.is_empty()),
                }],
                allow_over_receipt: Some(allow),
            };
            match app
                .receive_purchase_order(&visitor.principal, id, receipt, None)
                .await
            {
                Ok(_) => {
                    let what = format!("{q} × {}", line.sku);
                    let query: String = form_urlencoded::Serializer::new(String::new())
                        .append_pair("received", &what)
                        .finish();
                    return Ok(see_other(&format!("/purchase-orders/{id}?{query}")));
                }
                Err(Error::OverReceipt {
                    sku,
                    outstanding,
                    requested,
                    ..
                }) => (
                    StatusCode::CONFLICT,
                    Some(format!(
                        "Over-receipt: {sku} expects {outstanding} more, and this receives {requested}. Nothing was received."
                    )),
                    Some(OverReceipt {
                        sku,
                        outstanding,
                        requested,
                    }),
                ),
                Err(e) => {
                    let e = form_refusal(e)?;
                    let p = HttpError::Domain(e.clone()).problem();
                    if let Error::UnknownLocation { .. } = e {
                        mark(&mut fields, &mut focus, "location", p.detail.clone());
                    }
                    (p.status, Some(p.detail), None)
                }
            }
        }
        _ => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Nothing was received: check the fields marked below.".to_owned()),
            None,
        ),
    };
    let focus = if focus.is_empty() { "code" } else { focus };
    show_page(
        &app,
        &visitor,
        order,
        status,
        None,
        problem,
        Some(Receiving {
            fields,
            focus,
            over,
        }),
    )
    .await
}
