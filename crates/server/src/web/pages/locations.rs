//! `GET/POST /locations`: the locations, a new one, and which one is the
//! default.

use super::shared::{filled, form_refusal, show_refusal, Field, NoFields};
use crate::web::page::{render, see_other, Chrome, WebError};
use crate::web::session::{CsrfForm, Visitor};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use inventory_app::App;
use inventory_core::access::Permission;
use inventory_core::catalogue::{CreateLocation, Location, LocationPatch};
use inventory_core::Error;
use serde::Deserialize;

const PAGE: u32 = 100;

#[derive(Template)]
#[template(path = "locations.html")]
struct LocationsPage {
    chrome: Chrome,
    rows: Vec<Location>,
    next: Option<String>,
    may_edit: bool,
    fields: Vec<Field>,
    notice: Option<String>,
    problem: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    after: Option<String>,
    saved: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct LocationForm {
    code: Option<String>,
    name: Option<String>,
}

fn fields(form: &LocationForm) -> Vec<Field> {
    vec![
        Field::text("code", "Code", form.code.clone().unwrap_or_default())
            .required()
            .hint("Short, e.g. SHELF-A; stored in capitals"),
        Field::text("name", "Name", form.name.clone().unwrap_or_default()).required(),
    ]
}

async fn page(
    app: &App,
    visitor: &Visitor,
    after: Option<String>,
    form: &LocationForm,
    refusal: Option<Error>,
    notice: Option<String>,
) -> Result<(StatusCode, LocationsPage), WebError> {
    let list = app.list_locations(&visitor.principal, after, PAGE).await?;
    let next = list.next_cursor.as_ref().and(list.rows.last()).map(|l| {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("after", &l.code)
            .finish();
        format!("/locations?{query}")
    });
    let mut fields = fields(form);
    let (status, problem) = match refusal {
        Some(e) => show_refusal(&mut fields, e, |_| "code"),
        None => (StatusCode::OK, None),
    };
    Ok((
        status,
        LocationsPage {
            chrome: visitor.chrome("Locations", "locations"),
            rows: list.rows,
            next,
            may_edit: visitor.may(Permission::LocationsWrite),
            fields,
            notice,
            problem,
        },
    ))
}

/// `GET /locations`.
pub async fn list(
    State(app): State<App>,
    visitor: Visitor,
    Query(p): Query<ListParams>,
) -> Result<Response, WebError> {
    let notice = filled(&p.saved).map(|code| format!("Saved {code}."));
    let (status, page) = page(
        &app,
        &visitor,
        filled(&p.after),
        &LocationForm::default(),
        None,
        notice,
    )
    .await?;
    render(status, &page)
}

fn done(code: &str) -> Response {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("saved", code)
        .finish();
    see_other(&format!("/locations?{query}"))
}

/// `POST /locations`: creates one.
pub async fn create(
    State(app): State<App>,
    form: CsrfForm<LocationForm>,
) -> Result<Response, WebError> {
    let CsrfForm {
        visitor,
        value: form,
    } = form;
    let input = CreateLocation {
        code: form.code.clone().unwrap_or_default().trim().to_owned(),
        name: form.name.clone().unwrap_or_default().trim().to_owned(),
        default: None,
    };
    match app.create_location(&visitor.principal, input, None).await {
        Ok(outcome) => {
            let code = match outcome {
                inventory_app::Outcome::New(l) => l.code,
                inventory_app::Outcome::Replay(_) => String::new(),
            };
            Ok(done(&code))
        }
        Err(e) => {
            let e = form_refusal(e)?;
            let (status, page) = page(&app, &visitor, None, &form, Some(e), None).await?;
            render(status, &page)
        }
    }
}

/// `POST /locations/{code}/default`: makes it the default location.
pub async fn make_default(
    State(app): State<App>,
    Path(code): Path<String>,
    form: CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    let patch = LocationPatch {
        default: Some(Some(true)),
        ..LocationPatch::default()
    };
    let location = app
        .update_location(&form.visitor.principal, &code, patch)
        .await?;
    Ok(done(&location.code))
}
