//! Parties (suppliers and customers): the list, a new party, editing one,
//! archiving and restoring (refused while it has open orders).

use super::shared::{filled, form_refusal, show_refusal, Field};
use crate::web::page::{render, see_other, Chrome, WebError};
use crate::web::session::{CsrfForm, Visitor};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use inventory_app::items::IfMatch;
use inventory_app::{App, Outcome, UseCase};
use inventory_core::access::Permission;
use inventory_core::error::ConflictKind;
use inventory_core::parties::{CreateParty, Party, PartyKind, PartyPatch, PartyQuery};
use inventory_core::Error;
use serde::Deserialize;
use uuid::Uuid;

const PAGE: u32 = 50;

const KINDS: [(&str, &str); 3] = [
    ("supplier", "Supplier"),
    ("customer", "Customer"),
    ("both", "Supplier and customer"),
];

fn kind_label(kind: PartyKind) -> &'static str {
    KINDS
        .iter()
        .find(|(v, _)| *v == kind.as_str())
        .map(|(_, l)| *l)
        .unwrap_or("")
}

pub struct PartyRow {
    pub id: Uuid,
    pub name: String,
    pub kind: &'static str,
    pub code: String,
    pub email: String,
    pub phone: String,
}

#[derive(Template)]
#[template(path = "parties/list.html")]
struct ListPage {
    chrome: Chrome,
    archived: bool,
    rows: Vec<PartyRow>,
    next: Option<String>,
    notice: Option<&'static str>,
    may_edit: bool,
}

#[derive(Deserialize)]
pub struct ListParams {
    archived: Option<String>,
    after: Option<String>,
    saved: Option<String>,
}

/// `GET /parties` (`?archived=true` for the archived ones).
pub async fn list(
    State(app): State<App>,
    visitor: Visitor,
    Query(p): Query<ListParams>,
) -> Result<Response, WebError> {
    let archived = p.archived.as_deref() == Some("true");
    let after = match filled(&p.after) {
        None => None,
        Some(a) => Some(
            Uuid::parse_str(&a)
                .map_err(|_| Error::invalid("after", "is not a page link of this list"))?,
        ),
    };
    let page = app
        .list_parties(
            &visitor.principal,
            PartyQuery {
                kind: None,
                q: None,
                archived: Some(archived),
                limit: PAGE,
                after,
            },
        )
        .await?;
    let next = page.next_cursor.as_ref().and(page.rows.last()).map(|last| {
        format!(
            "/parties?{}after={}",
            if archived { "archived=true&" } else { "" },
            last.id
        )
    });
    render(
        StatusCode::OK,
        &ListPage {
            chrome: visitor.chrome("Parties", "parties"),
            archived,
            rows: page
                .rows
                .into_iter()
                .map(|p| PartyRow {
                    id: p.id,
                    kind: kind_label(p.kind),
                    name: p.name,
                    code: p.code.unwrap_or_default(),
                    email: p.email.unwrap_or_default(),
                    phone: p.phone.unwrap_or_default(),
                })
                .collect(),
            next,
            notice: p.saved.is_some().then_some("Saved."),
            may_edit: visitor.may(Permission::PartiesWrite),
        },
    )
}

#[derive(Deserialize, Default, Clone)]
pub struct PartyForm {
    name: Option<String>,
    kind: Option<String>,
    code: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    notes: Option<String>,
    version: Option<String>,
}

impl PartyForm {
    fn of(p: &Party) -> Self {
        Self {
            name: Some(p.name.clone()),
            kind: Some(p.kind.as_str().to_owned()),
            code: p.code.clone(),
            email: p.email.clone(),
            phone: p.phone.clone(),
            address: p.address.clone(),
            notes: p.notes.clone(),
            version: Some(p.version.to_string()),
        }
    }

    fn fields(&self) -> Vec<Field> {
        let v = |x: &Option<String>| x.clone().unwrap_or_default();
        vec![
            Field::text("name", "Name", v(&self.name)).required(),
            Field::text("code", "Code", v(&self.code))
                .hint("Optional, unique: your short name for them"),
            Field::text("email", "Email", v(&self.email)),
            Field::text("phone", "Phone", v(&self.phone)),
            Field::text("address", "Address", v(&self.address)),
            Field::text("notes", "Notes", v(&self.notes)),
        ]
    }
}

#[derive(Template)]
#[template(path = "parties/form.html")]
struct FormPage {
    chrome: Chrome,
    heading: String,
    action: String,
    kinds: Vec<(&'static str, &'static str)>,
    kind: String,
    kind_error: Option<String>,
    fields: Vec<Field>,
    version: String,
    problem: Option<String>,
    party: Option<Party>,
    may_edit: bool,
}

fn form_page(
    visitor: &Visitor,
    party: Option<Party>,
    form: &PartyForm,
    refusal: Option<Error>,
) -> (StatusCode, FormPage) {
    let mut fields = form.fields();
    let mut kind_error = None;
    let (status, problem) = match refusal {
        Some(Error::PreconditionFailed) => (
            StatusCode::PRECONDITION_FAILED,
            Some(
                "Someone else saved this party since you opened it: the form shows yours; \
                 open the party again to see theirs."
                    .to_owned(),
            ),
        ),
        Some(e) => {
            if let Some(errors) = e.field_errors() {
                kind_error = errors
                    .iter()
                    .find(|e| e.field == "kind")
                    .map(|e| e.message.clone());
            }
            show_refusal(&mut fields, e, |kind| match kind {
                ConflictKind::DuplicatePartyCode => "code",
                _ => "",
            })
        }
        None => (StatusCode::OK, None),
    };
    let title = match &party {
        Some(p) => format!("{} (party)", p.name),
        None => "New party".to_owned(),
    };
    let page = FormPage {
        chrome: visitor.chrome(title.clone(), "parties"),
        heading: match &party {
            Some(p) => p.name.clone(),
            None => "New party".to_owned(),
        },
        action: match &party {
            Some(p) => format!("/parties/{}", p.id),
            None => "/parties/new".to_owned(),
        },
        kinds: KINDS.to_vec(),
        kind: form.kind.clone().unwrap_or_default(),
        kind_error,
        fields,
        version: form.version.clone().unwrap_or_default(),
        problem,
        party,
        may_edit: visitor.may(Permission::PartiesWrite),
    };
    (status, page)
}

fn parse_kind(form: &PartyForm) -> Result<PartyKind, Error> {
    form.kind
        .as_deref()
        .and_then(PartyKind::parse)
        .ok_or_else(|| Error::invalid("kind", "pick supplier, customer or both"))
}

/// `GET /parties/new`.
pub async fn new_form(visitor: Visitor) -> Result<Response, WebError> {
    visitor.principal.require(UseCase::CreateParty)?;
    let form = PartyForm {
        kind: Some("supplier".to_owned()),
        ..PartyForm::default()
    };
    let (status, page) = form_page(&visitor, None, &form, None);
    render(status, &page)
}

/// `POST /parties/new`.
pub async fn create(
    State(app): State<App>,
    form: CsrfForm<PartyForm>,
) -> Result<Response, WebError> {
    let CsrfForm {
        visitor,
        value: form,
    } = form;
    let outcome = match parse_kind(&form) {
        Ok(kind) => {
            let input = CreateParty {
                name: form.name.clone().unwrap_or_default().trim().to_owned(),
                kind,
                code: filled(&form.code),
                email: filled(&form.email),
                phone: filled(&form.phone),
                address: filled(&form.address),
                notes: filled(&form.notes),
            };
            app.create_party(&visitor.principal, input, None).await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(Outcome::New(_)) | Ok(Outcome::Replay(_)) => Ok(see_other("/parties?saved=1")),
        Err(e) => {
            let e = form_refusal(e)?;
            let (status, page) = form_page(&visitor, None, &form, Some(e));
            render(status, &page)
        }
    }
}

fn party_id(text: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(text).map_err(|_| Error::NotFound("party").into())
}

/// `GET /parties/{id}`: the party, as a form for those who may edit it.
pub async fn show(
    State(app): State<App>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let party = app.get_party(&visitor.principal, party_id(&id)?).await?;
    let form = PartyForm::of(&party);
    let (status, page) = form_page(&visitor, Some(party), &form, None);
    render(status, &page)
}

fn version_of(form: &PartyForm) -> IfMatch {
    match form.version.as_deref().map(str::trim).map(str::parse) {
        Some(Ok(v)) => IfMatch::Versions(vec![v]),
        _ => IfMatch::Any,
    }
}

/// `POST /parties/{id}`: saves an edit over the version the form showed.
pub async fn update(
    State(app): State<App>,
    Path(id): Path<String>,
    form: CsrfForm<PartyForm>,
) -> Result<Response, WebError> {
    let id = party_id(&id)?;
    let CsrfForm {
        visitor,
        value: form,
    } = form;
    let outcome = match parse_kind(&form) {
        Ok(kind) => {
            let patch = PartyPatch {
                name: Some(Some(
                    form.name.clone().unwrap_or_default().trim().to_owned(),
                )),
                kind: Some(Some(kind)),
                code: Some(filled(&form.code)),
                email: Some(filled(&form.email)),
                phone: Some(filled(&form.phone)),
                address: Some(filled(&form.address)),
                notes: Some(filled(&form.notes)),
                archived: None,
            };
            app.update_party(&visitor.principal, id, patch, version_of(&form))
                .await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(_) => Ok(see_other("/parties?saved=1")),
        Err(e) => {
            let e = form_refusal(e)?;
            let party = app.get_party(&visitor.principal, id).await?;
            let (status, page) = form_page(&visitor, Some(party), &form, Some(e));
            render(status, &page)
        }
    }
}

async fn set_archived(
    app: &App,
    id: &str,
    form: CsrfForm<PartyForm>,
    archived: bool,
) -> Result<Response, WebError> {
    let id = party_id(id)?;
    let patch = PartyPatch {
        archived: Some(Some(archived)),
        ..PartyPatch::default()
    };
    match app
        .update_party(&form.visitor.principal, id, patch, version_of(&form.value))
        .await
    {
        Ok(_) => Ok(see_other(&format!("/parties/{id}"))),
        Err(e) => {
            let e = form_refusal(e)?;
            let party = app.get_party(&form.visitor.principal, id).await?;
            let current = PartyForm::of(&party);
            let (status, page) = form_page(&form.visitor, Some(party), &current, Some(e));
            render(status, &page)
        }
    }
}

pub async fn archive(
    State(app): State<App>,
    Path(id): Path<String>,
    form: CsrfForm<PartyForm>,
) -> Result<Response, WebError> {
    set_archived(&app, &id, form, true).await
}

pub async fn restore(
    State(app): State<App>,
    Path(id): Path<String>,
    form: CsrfForm<PartyForm>,
) -> Result<Response, WebError> {
    set_archived(&app, &id, form, false).await
}
