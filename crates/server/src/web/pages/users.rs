//! `GET/POST /users`: who may sign in, with which role (administrators
//! only): the list, a new user, and changing a user's role.

use super::shared::{filled, form_refusal, show_refusal, Field};
use crate::http::error::HttpError;
use crate::web::page::{render, see_other, Chrome, WebError};
use crate::web::session::{CsrfForm, Visitor};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use inventory_app::{App, Outcome};
use inventory_core::access::Role;
use inventory_core::identity::{CreateUser, User, UserQuery};
use inventory_core::Error;
use serde::Deserialize;
use uuid::Uuid;

const PAGE: u32 = 100;

/// A user as the list shows them.
pub struct UserRow {
    pub id: Uuid,
    pub username: String,
    pub role: &'static str,
    pub since: String,
    pub disabled: bool,
}

impl From<&User> for UserRow {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            role: u.role.as_str(),
            since: u.created_at.format("%Y-%m-%d").to_string(),
            disabled: u.disabled,
        }
    }
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    chrome: Chrome,
    rows: Vec<UserRow>,
    roles: Vec<&'static str>,
    next: Option<String>,
    fields: Vec<Field>,
    new_role: String,
    notice: Option<String>,
    /// A refused role change, shown above the list.
    list_problem: Option<String>,
    /// A refused new user, shown above its form.
    problem: Option<String>,
    /// After a reset: whose password, and the one-time password, shown once.
    reset: Option<(String, String)>,
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    after: Option<String>,
    saved: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct NewUserForm {
    username: Option<String>,
    password: Option<String>,
    role: Option<String>,
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: Option<String>,
}

fn role_of(text: Option<&str>) -> Result<Role, Error> {
    let text = text.unwrap_or_default().trim();
    Role::ALL
        .into_iter()
        .find(|r| r.as_str() == text)
        .ok_or_else(|| Error::invalid("role", "choose one of viewer, clerk, manager or admin"))
}

struct Refusals {
    list: Option<Error>,
    new_user: Option<Error>,
}

async fn page(
    app: &App,
    visitor: &Visitor,
    after: Option<String>,
    form: &NewUserForm,
    refusals: Refusals,
    notice: Option<String>,
) -> Result<(StatusCode, UsersPage), WebError> {
    let list = app
        .list_users(
            &visitor.principal,
            UserQuery {
                after,
                limit: PAGE,
                ..UserQuery::default()
            },
        )
        .await?;
    let next = list.next_cursor.as_ref().map(|cursor| {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("after", cursor)
            .finish();
        format!("/users?{query}")
    });
    let mut fields = vec![
        Field::text(
            "username",
            "Username",
            form.username.clone().unwrap_or_default(),
        )
        .required()
        .hint("Letters, digits, '.', '_', '-' or '@'"),
        Field::new_password("password", "Password")
            .required()
            .hint("At least 12 characters and hard to guess (a few unrelated words); tell it to the user in person"),
    ];
    let (mut status, problem) = match refusals.new_user {
        Some(e) => show_refusal(&mut fields, e, |_| "username"),
        None => (StatusCode::OK, None),
    };
    let list_problem = refusals.list.map(|e| {
        let p = HttpError::Domain(e).problem();
        status = p.status;
        p.detail
    });
    Ok((
        status,
        UsersPage {
            chrome: visitor.chrome("Users", "users"),
            rows: list.rows.iter().map(UserRow::from).collect(),
            roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
            next,
            fields,
            new_role: form.role.clone().unwrap_or_else(|| "clerk".to_owned()),
            notice,
            list_problem,
            problem,
            reset: None,
        },
    ))
}

/// `GET /users`.
pub async fn list(
    State(app): State<App>,
    visitor: Visitor,
    Query(p): Query<ListParams>,
) -> Result<Response, WebError> {
    let notice = filled(&p.saved).map(|name| format!("Saved {name}."));
    let refusals = Refusals {
        list: None,
        new_user: None,
    };
    let (status, page) = page(
        &app,
        &visitor,
        filled(&p.after),
        &NewUserForm::default(),
        refusals,
        notice,
    )
    .await?;
    render(status, &page)
}

fn saved(username: &str) -> Response {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("saved", username)
        .finish();
    see_other(&format!("/users?{query}"))
}

/// `POST /users`: a new user.
pub async fn create(
    State(app): State<App>,
    form: CsrfForm<NewUserForm>,
) -> Result<Response, WebError> {
    let CsrfForm {
        visitor,
        value: form,
    } = form;
    let outcome = match role_of(form.role.as_deref()) {
        Ok(role) => {
            let input = CreateUser {
                username: form.username.clone().unwrap_or_default().trim().to_owned(),
                password: form.password.clone().unwrap_or_default(),
                role,
                display_name: None,
                email: None,
            };
            app.create_user(&visitor.principal, input, None).await
        }
        Err(e) => Err(e),
    };
    let refusal = match outcome {
        Ok(Outcome::New(user)) => return Ok(saved(&user.username)),
        // Without an idempotency key every create is new.
        Ok(Outcome::Replay(_)) => return Ok(see_other("/users")),
        Err(e) => form_refusal(e)?,
    };
    let refusals = Refusals {
        list: None,
        new_user: Some(refusal),
    };
    let (status, page) = page(&app, &visitor, None, &form, refusals, None).await?;
    render(status, &page)
}

/// `POST /users/{id}/role`: gives the user another role.
pub async fn change_role(
    State(app): State<App>,
    Path(id): Path<String>,
    form: CsrfForm<RoleForm>,
) -> Result<Response, WebError> {
    let CsrfForm {
        visitor,
        value: form,
    } = form;
    let id = Uuid::parse_str(&id).map_err(|_| WebError::from(Error::NotFound("user")))?;
    let outcome = match role_of(form.role.as_deref()) {
        Ok(role) => app.change_user_role(&visitor.principal, id, role).await,
        Err(e) => Err(e),
    };
    let refusal = match outcome {
        Ok(user) => return Ok(saved(&user.username)),
        Err(e) => form_refusal(e)?,
    };
    let refusals = Refusals {
        list: Some(refusal),
        new_user: None,
    };
    let (status, page) = page(
        &app,
        &visitor,
        None,
        &NewUserForm::default(),
        refusals,
        None,
    )
    .await?;
    render(status, &page)
}

/// `POST /users/{id}/disable` and `/enable`: a disabled user cannot sign
/// in, and their sessions and tokens end at once.
pub async fn set_disabled(
    State(app): State<App>,
    Path((id, action)): Path<(String, String)>,
    form: CsrfForm<super::shared::NoFields>,
) -> Result<Response, WebError> {
    let visitor = form.visitor;
    let id = Uuid::parse_str(&id).map_err(|_| WebError::from(Error::NotFound("user")))?;
    let disabled = match action.as_str() {
        "disable" => true,
        "enable" => false,
        _ => return Err(Error::NotFound("page").into()),
    };
    let patch = inventory_core::identity::UserPatch {
        disabled: Some(Some(disabled)),
        ..Default::default()
    };
    let outcome = app
        .update_user(
            &visitor.principal,
            id,
            patch,
            inventory_app::items::IfMatch::Any,
        )
        .await;
    let refusal = match outcome {
        Ok(user) => return Ok(saved(&user.username)),
        Err(e) => form_refusal(e)?,
    };
    let refusals = Refusals {
        list: Some(refusal),
        new_user: None,
    };
    let (status, page) = page(
        &app,
        &visitor,
        None,
        &NewUserForm::default(),
        refusals,
        None,
    )
    .await?;
    render(status, &page)
}

/// `POST /users/{id}/reset-password`: a one-time password, shown once on
/// the page; the user must choose their own at the next sign-in.
pub async fn reset_password(
    State(app): State<App>,
    Path(id): Path<String>,
    form: CsrfForm<super::shared::NoFields>,
) -> Result<Response, WebError> {
    let visitor = form.visitor;
    let id = Uuid::parse_str(&id).map_err(|_| WebError::from(Error::NotFound("user")))?;
    let reset = app.reset_user_password(&visitor.principal, id).await?;
    let refusals = Refusals {
        list: None,
        new_user: None,
    };
    let (status, mut page) = page(
        &app,
        &visitor,
        None,
        &NewUserForm::default(),
        refusals,
        None,
    )
    .await?;
    page.reset = Some((reset.user.username, reset.one_time_password));
    render(status, &page)
}
