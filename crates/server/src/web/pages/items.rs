//! Items: the searchable list, an item's page (stock per location and its
//! history), creating and editing (a stale edit shows the other person's
//! values beside yours), and the scanner's look-up.

use super::shared::{
    filled, form_refusal, ledger_page, parse_before, show_refusal, Field, MovementRow,
};
use crate::http::error::HttpError;
use crate::web::chart::{chart, Chart, Kind};
use crate::web::page::{render, see_other, Chrome, WebError};
use crate::web::session::{CsrfForm, Visitor};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use inventory_app::items::IfMatch;
use inventory_app::{App, Outcome, UseCase};
use inventory_core::access::Permission;
use inventory_core::catalogue::{CreateItem, Item, ItemPatch};
use inventory_core::error::ConflictKind;
use inventory_core::money::format_unit_cost;
use inventory_core::paging::{decode_cursor, encode_cursor, ItemCursor, ItemQuery, ItemSort};
use inventory_core::reservations::{Reservation, ReservationQuery, ReservationStatus};
use inventory_core::{Error, FieldError};
use serde::Deserialize;
use uuid::Uuid;

const PAGE: u32 = 50;

/// An item as the list shows it.
pub struct ItemRow {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub category: String,
    pub unit: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub incoming: i64,
    pub reorder_point: i64,
    pub low: bool,
}

impl From<Item> for ItemRow {
    fn from(i: Item) -> Self {
        Self {
            low: i.reorder_point > 0 && i.available <= i.reorder_point,
            id: i.id,
            sku: i.sku,
            name: i.name,
            category: i.category.unwrap_or_default(),
            unit: i.unit,
            on_hand: i.on_hand,
            reserved: i.reserved,
            available: i.available,
            incoming: i.incoming,
            reorder_point: i.reorder_point,
        }
    }
}

#[derive(Template)]
#[template(path = "items/list.html")]
struct ListPage {
    chrome: Chrome,
    q: String,
    category: String,
    low_stock: bool,
    sort: String,
    sorts: Vec<(&'static str, &'static str)>,
    rows: Vec<ItemRow>,
    next: Option<String>,
    may_edit: bool,
    /// The CSV export of what the list shows (its filters and sort).
    export: String,
}

#[derive(Deserialize)]
pub struct ListParams {
    q: Option<String>,
    category: Option<String>,
    low_stock: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
}

const SORTS: [(&str, &str); 4] = [
    ("sku", "SKU, A to Z"),
    ("-sku", "SKU, Z to A"),
    ("-created_at", "Newest first"),
    ("created_at", "Oldest first"),
];

/// `GET /items`: search, filters, sort and keyset paging (the API's).
pub async fn list(
    State(app): State<App>,
    visitor: Visitor,
    Query(p): Query<ListParams>,
) -> Result<Response, WebError> {
    let sort_text = filled(&p.sort).unwrap_or_else(|| "sku".to_owned());
    let sort = ItemSort::parse(&sort_text)?;
    let after: Option<ItemCursor> = match filled(&p.cursor) {
        Some(c) => Some(
            decode_cursor::<ItemCursor>(&c)
                .ok()
                .filter(|c| c.sort == sort)
                .ok_or_else(|| Error::invalid("cursor", "is not a page link of this list"))?,
        ),
        None => None,
    };
    let low_stock = matches!(p.low_stock.as_deref(), Some("true" | "on" | "1"));
    let query = ItemQuery {
        q: filled(&p.q),
        category: filled(&p.category),
        low_stock,
        sort,
        limit: PAGE,
        after,
        ..ItemQuery::default()
    };
    let page = app.list_items(&visitor.principal, query).await?;
    let export = {
        let mut link = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [("q", &p.q), ("category", &p.category)] {
            if let Some(v) = filled(value) {
                link.append_pair(name, &v);
            }
        }
        if low_stock {
            link.append_pair("low_stock", "true");
        }
        link.append_pair("sort", &sort_text);
        format!("/items/export.csv?{}", link.finish())
    };
    let next = page.next_cursor.map(|key| {
        let mut link = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [("q", &p.q), ("category", &p.category)] {
            if let Some(v) = filled(value) {
                link.append_pair(name, &v);
            }
        }
        if low_stock {
            link.append_pair("low_stock", "true");
        }
        link.append_pair("sort", &sort_text);
        link.append_pair("cursor", &encode_cursor(&ItemCursor { sort, key }));
        format!("/items?{}", link.finish())
    });
    render(
        StatusCode::OK,
        &ListPage {
            chrome: visitor.chrome("Items", "items"),
            q: p.q.unwrap_or_default(),
            category: p.category.unwrap_or_default(),
            low_stock,
            sort: sort_text,
            sorts: SORTS.to_vec(),
            rows: page.rows.into_iter().map(ItemRow::from).collect(),
            next,
            may_edit: visitor.may(Permission::ItemsWrite),
            export,
        },
    )
}

#[derive(Deserialize)]
pub struct LookupParams {
    code: Option<String>,
}

/// `GET /items/lookup?code=`: the item a scanned code names, as JSON for
/// the movement form's script (404 problem when no item has it).
pub async fn lookup(
    State(app): State<App>,
    visitor: Visitor,
    Query(p): Query<LookupParams>,
) -> Response {
    let Some(code) = filled(&p.code) else {
        return HttpError::Domain(Error::invalid("code", "scan a barcode or type a SKU"))
            .into_response();
    };
    match app.find_item_by_code(&visitor.principal, &code).await {
        Ok(Some(item)) => Json(serde_json::json!({
            "id": item.id,
            "sku": item.sku,
            "name": item.name,
            "available": item.available,
        }))
        .into_response(),
        Ok(None) => {
            let mut problem = HttpError::Domain(Error::NotFound("item")).problem();
            problem.detail = format!("No item has the SKU or barcode '{code}'.");
            problem.into_response()
        }
        Err(e) => HttpError::Domain(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "items/show.html")]
struct ItemPage {
    chrome: Chrome,
    /// The feed position the page was read after (see `pages::live`).
    live_after: i64,
    item: ItemView,
    /// Per location: code, on hand, reserved, available.
    locations: Vec<(String, i64, i64, i64)>,
    reservations: Vec<ReservationRow>,
    may_release: bool,
    chart: Chart,
    latest: Vec<MovementRow>,
    next: Option<String>,
    notice: Option<&'static str>,
    problem: Option<String>,
    may_edit: bool,
    may_move: bool,
}

/// An item's values as text, as pages show them.
pub struct ItemView {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub barcode: String,
    pub unit: String,
    pub reorder_point: i64,
    pub unit_cost: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub incoming: i64,
    pub archived: bool,
    pub version: i64,
}

impl From<&Item> for ItemView {
    fn from(i: &Item) -> Self {
        Self {
            id: i.id,
            sku: i.sku.clone(),
            name: i.name.clone(),
            description: i.description.clone().unwrap_or_default(),
            category: i.category.clone().unwrap_or_default(),
            barcode: i.barcode.clone().unwrap_or_default(),
            unit: i.unit.clone(),
            reorder_point: i.reorder_point,
            unit_cost: format_unit_cost(i.unit_cost),
            on_hand: i.on_hand,
            reserved: i.reserved,
            available: i.available,
            incoming: i.incoming,
            archived: i.archived,
            version: i.version,
        }
    }
}

#[derive(Deserialize)]
pub struct ShowParams {
    before: Option<String>,
    saved: Option<String>,
    reversed: Option<String>,
    archived: Option<String>,
    restored: Option<String>,
    released: Option<String>,
}

fn item_id(text: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(text).map_err(|_| Error::NotFound("item").into())
}

/// `GET /items/{id}`: stock per location and the item's history.
/// How many days the item page's stock chart covers (today included).
const ITEM_CHART_DAYS: u32 = 30;

pub async fn show(
    State(app): State<App>,
    visitor: Visitor,
    Path(id): Path<String>,
    Query(p): Query<ShowParams>,
) -> Result<Response, WebError> {
    let id = item_id(&id)?;
    let before = parse_before(p.before.as_deref())?;
    let live_after = app.feed_position(&visitor.principal).await?;
    let item = app.read_item(&visitor.principal, id).await?;
    let stock = app.item_stock(&visitor.principal, id, None).await?;
    let reservations = app
        .list_reservations(
            &visitor.principal,
            ReservationQuery {
                item_id: Some(id),
                status: Some(ReservationStatus::Active),
                limit: 200,
                ..ReservationQuery::default()
            },
        )
        .await?
        .rows;
    let history: Vec<_> = app
        .item_stock_history(&visitor.principal, id, ITEM_CHART_DAYS)
        .await?
        .iter()
        .map(|d| (d.day, i128::from(d.value)))
        .collect();
    let (latest, next) = ledger_page(
        &app,
        &visitor,
        Some(id),
        20,
        before,
        &format!("/items/{id}"),
    )
    .await?;
    render(
        StatusCode::OK,
        &ItemPage {
            live_after,
            chrome: visitor.chrome(format!("{} – {}", item.sku, item.name), "items"),
            item: ItemView::from(&item),
            locations: stock
                .locations
                .into_iter()
                .filter(|l| l.on_hand != 0 || l.reserved != 0)
                .map(|l| (l.location, l.on_hand, l.reserved, l.available))
                .collect(),
            reservations: reservations.iter().map(ReservationRow::from).collect(),
            may_release: visitor.may(Permission::ReservationsWrite),
            chart: chart(
                Kind::Steps,
                "stock-chart",
                &format!(
                    "Stock of {} on hand at the end of each day, last {ITEM_CHART_DAYS} days",
                    item.sku
                ),
                &format!("On hand ({})", item.unit),
                &history,
                |v| v.to_string(),
            ),
            latest,
            next,
            notice: if p.saved.is_some() {
                Some("Saved.")
            } else if p.reversed.is_some() {
                Some("Reversed: the opposite movement is recorded.")
            } else if p.archived.is_some() {
                Some("Archived.")
            } else if p.restored.is_some() {
                Some("Restored.")
            } else if p.released.is_some() {
                Some("Released: the stock is available again.")
            } else {
                None
            },
            problem: None,
            may_edit: visitor.may(Permission::ItemsWrite),
            may_move: visitor.may(Permission::StockMove),
        },
    )
}

#[derive(Template)]
#[template(path = "items/form.html")]
struct FormPage {
    chrome: Chrome,
    heading: String,
    action: String,
    cancel: String,
    version: Option<i64>,
    fields: Vec<Field>,
    problem: Option<String>,
    theirs: Option<ItemView>,
}

/// The item form's fields, as posted.
#[derive(Deserialize, Default, Clone)]
pub struct ItemForm {
    sku: Option<String>,
    name: Option<String>,
    description: Option<String>,
    category: Option<String>,
    barcode: Option<String>,
    unit: Option<String>,
    reorder_point: Option<String>,
    unit_cost: Option<String>,
    version: Option<String>,
}

impl ItemForm {
    fn of(item: &Item) -> Self {
        Self {
            sku: Some(item.sku.clone()),
            name: Some(item.name.clone()),
            description: item.description.clone(),
            category: item.category.clone(),
            barcode: item.barcode.clone(),
            unit: Some(item.unit.clone()),
            reorder_point: Some(item.reorder_point.to_string()),
            unit_cost: Some(format_unit_cost(item.unit_cost)),
            version: Some(item.version.to_string()),
        }
    }

    fn fields(&self) -> Vec<Field> {
        let v = |x: &Option<String>| x.clone().unwrap_or_default();
        vec![
            Field::text("sku", "SKU", v(&self.sku))
                .required()
                .hint("Unique, without regard to case"),
            Field::text("name", "Name", v(&self.name)).required(),
            Field::text("description", "Description", v(&self.description)),
            Field::text("category", "Category", v(&self.category)),
            Field::text("barcode", "Barcode", v(&self.barcode))
                .hint("EAN, UPC or any code on the goods: scan it here. Optional, unique"),
            Field::text("unit", "Unit", v(&self.unit)).hint("pcs, kg, m… Blank: pcs"),
            Field::text("reorder_point", "Reorder point", v(&self.reorder_point))
                .inputmode("numeric")
                .hint("Low stock at or below this; 0 for never"),
            Field::text("unit_cost", "Unit cost", v(&self.unit_cost))
                .inputmode("decimal")
                .hint("e.g. 12.50"),
        ]
    }

    /// The reorder point, when it is a number (else an error for its field).
    fn reorder_point(&self, errors: &mut Vec<FieldError>) -> Option<i64> {
        let text = filled(&self.reorder_point)?;
        match text.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.push(FieldError::new("reorder_point", "must be a whole number"));
                None
            }
        }
    }
}

fn form_page(
    visitor: &Visitor,
    item: Option<&Item>,
    form: &ItemForm,
    refusal: Option<Error>,
    theirs: Option<&Item>,
) -> (StatusCode, FormPage) {
    let mut fields = form.fields();
    let (status, problem) = match refusal {
        Some(e) => show_refusal(&mut fields, e, |kind| match kind {
            ConflictKind::DuplicateBarcode => "barcode",
            _ => "sku",
        }),
        None => (StatusCode::OK, None),
    };
    let page = FormPage {
        chrome: visitor.chrome(
            match item {
                Some(i) => format!("Edit {}", i.sku),
                None => "New item".to_owned(),
            },
            "items",
        ),
        heading: match item {
            Some(i) => format!("Edit {} – {}", i.sku, i.name),
            None => "New item".to_owned(),
        },
        action: match item {
            Some(i) => format!("/items/{}/edit", i.id),
            None => "/items/new".to_owned(),
        },
        cancel: match item {
            Some(i) => format!("/items/{}", i.id),
            None => "/items".to_owned(),
        },
        version: theirs
            .or(item)
            .map(|i| i.version)
            .or_else(|| form.version.as_deref().and_then(|v| v.parse().ok())),
        fields,
        problem,
        theirs: theirs.map(ItemView::from),
    };
    (status, page)
}

/// `GET /items/new`.
pub async fn new_form(visitor: Visitor) -> Result<Response, WebError> {
    visitor.principal.require(UseCase::CreateItem)?;
    let (status, page) = form_page(&visitor, None, &ItemForm::default(), None, None);
    render(status, &page)
}

/// `POST /items/new`.
pub async fn create(
    State(app): State<App>,
    form: CsrfForm<ItemForm>,
) -> Result<Response, WebError> {
    let CsrfForm {
        visitor,
        value: form,
    } = form;
    let mut errors = Vec::new();
    let reorder_point = form.reorder_point(&mut errors);
    let input = CreateItem {
        sku: form.sku.clone().unwrap_or_default().trim().to_owned(),
        name: form.name.clone().unwrap_or_default().trim().to_owned(),
        description: filled(&form.description),
        category: filled(&form.category),
        barcode: filled(&form.barcode),
        unit: filled(&form.unit),
        reorder_point,
        unit_cost: filled(&form.unit_cost),
        attributes: None,
    };
    let outcome = if errors.is_empty() {
        app.create_item(&visitor.principal, input, None).await
    } else {
        // Every field's message at once: the form's own and the rules'.
        if let Err(Error::Validation(more)) = input.validate(inventory_core::now()) {
            errors.extend(more);
        }
        Err(Error::Validation(errors))
    };
    match outcome {
        Ok(Outcome::New(item)) => Ok(see_other(&format!("/items/{}?saved=1", item.id))),
        Ok(Outcome::Replay(_)) => Ok(see_other("/items")),
        Err(e) => {
            let e = form_refusal(e)?;
            let (status, page) = form_page(&visitor, None, &form, Some(e), None);
            render(status, &page)
        }
    }
}

/// `GET /items/{id}/edit`.
pub async fn edit_form(
    State(app): State<App>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id = item_id(&id)?;
    visitor.principal.require(UseCase::UpdateItem)?;
    let item = app.read_item(&visitor.principal, id).await?;
    let (status, page) = form_page(&visitor, Some(&item), &ItemForm::of(&item), None, None);
    render(status, &page)
}

/// `POST /items/{id}/edit`: saves only over the version the form was
/// opened on; if someone saved in between, shows their values beside
/// yours (the API's 412) and saves yours only when posted again.
pub async fn update(
    State(app): State<App>,
    Path(id): Path<String>,
    form: CsrfForm<ItemForm>,
) -> Result<Response, WebError> {
    let id = item_id(&id)?;
    let CsrfForm {
        visitor,
        value: form,
    } = form;
    let mut errors = Vec::new();
    let reorder_point = form.reorder_point(&mut errors);
    let version = form
        .version
        .as_deref()
        .and_then(|v| v.trim().parse::<i64>().ok());
    let outcome = if errors.is_empty() {
        let text = |v: &Option<String>| Some(Some(v.clone().unwrap_or_default().trim().to_owned()));
        let patch = ItemPatch {
            sku: text(&form.sku),
            name: text(&form.name),
            description: Some(filled(&form.description)),
            category: Some(filled(&form.category)),
            barcode: Some(filled(&form.barcode)),
            unit: filled(&form.unit).map(Some),
            reorder_point: Some(Some(reorder_point.unwrap_or(0))),
            unit_cost: Some(Some(
                filled(&form.unit_cost).unwrap_or_else(|| "0".to_owned()),
            )),
            attributes: None,
        };
        let if_match = match version {
            Some(v) => IfMatch::Versions(vec![v]),
            None => IfMatch::Any,
        };
        app.update_item(&visitor.principal, id, patch, if_match)
            .await
    } else {
        Err(Error::Validation(errors))
    };
    match outcome {
        Ok(item) => Ok(see_other(&format!("/items/{}?saved=1", item.id))),
        Err(Error::PreconditionFailed) => {
            let current = app.read_item(&visitor.principal, id).await?;
            let (_, page) = form_page(
                &visitor,
                Some(&current),
                &form,
                Some(Error::PreconditionFailed),
                Some(&current),
            );
            render(StatusCode::PRECONDITION_FAILED, &page)
        }
        Err(e) => {
            let e = form_refusal(e)?;
            let current = app.read_item(&visitor.principal, id).await?;
            let (status, page) = form_page(&visitor, Some(&current), &form, Some(e), None);
            render(status, &page)
        }
    }
}

#[derive(Deserialize)]
pub struct VersionForm {
    version: Option<String>,
}

/// `POST /items/{id}/archive` and `/restore`: only over the version the
/// page showed (someone else's change in between is a 412 page).
async fn archive_or_restore(
    app: &App,
    id: &str,
    form: CsrfForm<VersionForm>,
    archive: bool,
) -> Result<Response, WebError> {
    let id = item_id(id)?;
    let if_match = match form.value.version.as_deref().map(str::trim).map(str::parse) {
        Some(Ok(v)) => IfMatch::Versions(vec![v]),
        _ => IfMatch::Any,
    };
    let principal = &form.visitor.principal;
    if archive {
        app.archive_item(principal, id, if_match).await?;
        Ok(see_other(&format!("/items/{id}?archived=1")))
    } else {
        app.restore_item(principal, id, if_match).await?;
        Ok(see_other(&format!("/items/{id}?restored=1")))
    }
}

pub async fn archive(
    State(app): State<App>,
    Path(id): Path<String>,
    form: CsrfForm<VersionForm>,
) -> Result<Response, WebError> {
    archive_or_restore(&app, &id, form, true).await
}

pub async fn restore(
    State(app): State<App>,
    Path(id): Path<String>,
    form: CsrfForm<VersionForm>,
) -> Result<Response, WebError> {
    archive_or_restore(&app, &id, form, false).await
}

/// An active reservation as the item's page shows it.
pub struct ReservationRow {
    pub id: Uuid,
    pub reference: String,
    pub quantity: i64,
    pub location: String,
    pub expires: String,
    pub created_by: String,
    pub note: String,
}

impl From<&Reservation> for ReservationRow {
    fn from(r: &Reservation) -> Self {
        Self {
            id: r.id,
            reference: r.reference.clone().unwrap_or_default(),
            quantity: r.quantity,
            location: r.location.clone(),
            expires: r
                .expires_at
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_else(|| "until released".to_owned()),
            created_by: r.created_by.clone(),
            note: r.note.clone().unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
pub struct ReleaseForm {
    item: Option<String>,
}

/// `POST /reservations/{id}/release`: ends an active reservation (the
/// API's `DELETE /api/v1/reservations/{id}`), back to the item's page.
pub async fn release_reservation(
    State(app): State<App>,
    Path(id): Path<String>,
    form: CsrfForm<ReleaseForm>,
) -> Result<Response, WebError> {
    let id = Uuid::parse_str(&id).map_err(|_| Error::NotFound("reservation"))?;
    let released = app.release_reservation(&form.visitor.principal, id).await?;
    let item = filled(&form.value.item)
        .and_then(|i| Uuid::parse_str(&i).ok())
        .unwrap_or(released.item_id);
    Ok(see_other(&format!("/items/{item}?released=1")))
}
