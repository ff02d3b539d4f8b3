//! `GET /account`: the signed-in user's own page: change the password,
//! see and end their sessions, make API tokens (the secret shown once) and
//! revoke them. Everyone signed in may use it.

use super::shared::{filled, form_refusal, show_refusal, Field};
use crate::web::page::{render, see_other, Chrome, WebError};
use crate::web::session::{CsrfForm, Visitor};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use inventory_app::App;
use inventory_core::identity::{ApiToken, ChangePassword, CreateApiToken, Scope};
use inventory_core::Error;
use serde::Deserialize;
use uuid::Uuid;

pub struct SessionRow {
    pub id: Uuid,
    pub created: String,
    pub last_used: String,
    pub client: String,
    pub current: bool,
}

pub struct TokenRow {
    pub id: Uuid,
    pub name: String,
    pub scopes: String,
    pub expires: String,
    pub last_used: String,
}

/// A scope as the token form offers it.
pub struct ScopeChoice {
    pub name: &'static str,
    pub field: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(
        || "never".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

impl From<&ApiToken> for TokenRow {
    fn from(t: &ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            scopes: t
                .scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            expires: t.expires_at.format("%Y-%m-%d").to_string(),
            last_used: when(t.last_used_at),
        }
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    must_change_password: bool,
    /// The password form.
    fields: Vec<Field>,
    password_problem: Option<String>,
    sessions: Vec<SessionRow>,
    tokens: Vec<TokenRow>,
    scopes: Vec<ScopeChoice>,
    token_name: String,
    token_days: String,
    token_problem: Option<String>,
    /// A token just made: its secret, shown this once.
    new_secret: Option<String>,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct AccountParams {
    saved: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct PasswordForm {
    current_password: Option<String>,
    new_password: Option<String>,
}

/// One checkbox per scope: a urlencoded form repeats names, which the
/// form extractor does not gather into a list.
#[derive(Deserialize, Default)]
pub struct TokenForm {
    name: Option<String>,
    days: Option<String>,
    scope_read: Option<String>,
    scope_stock_write: Option<String>,
    scope_orders_write: Option<String>,
    scope_catalog_write: Option<String>,
    scope_users_admin: Option<String>,
}

impl TokenForm {
    fn chosen(&self, scope: Scope) -> bool {
        match scope {
            Scope::Read => self.scope_read.is_some(),
            Scope::StockWrite => self.scope_stock_write.is_some(),
            Scope::OrdersWrite => self.scope_orders_write.is_some(),
            Scope::CatalogWrite => self.scope_catalog_write.is_some(),
            Scope::UsersAdmin => self.scope_users_admin.is_some(),
        }
    }
}

fn scope_field(scope: Scope) -> (&'static str, &'static str) {
    match scope {
        Scope::Read => (
            "scope_read",
            "read: see items, stock, orders and the ledger",
        ),
        Scope::StockWrite => (
            "scope_stock_write",
            "stock:write: record movements and counts, reserve",
        ),
        Scope::OrdersWrite => (
            "scope_orders_write",
            "orders:write: sales and purchase orders",
        ),
        Scope::CatalogWrite => (
            "scope_catalog_write",
            "catalog:write: items, locations, parties",
        ),
        Scope::UsersAdmin => ("scope_users_admin", "users:admin: users and checks"),
    }
}

/// What the page shows besides the lists.
#[derive(Default)]
struct Shown {
    password_refusal: Option<Error>,
    token_form: Option<TokenForm>,
    token_refusal: Option<Error>,
    new_secret: Option<String>,
    notice: Option<String>,
}

async fn page(app: &App, visitor: &Visitor, shown: Shown) -> Result<Response, WebError> {
    let caller = &visitor.principal;
    let sessions = app.list_my_sessions(caller).await?;
    let tokens = app.list_api_tokens(caller).await?;
    let mut fields = vec![
        Field::current_password("current_password", "Current password").required(),
        Field::new_password("new_password", "New password")
            .required()
            .hint("At least 12 characters and hard to guess: a few unrelated words"),
    ];
    let (mut status, password_problem) = match shown.password_refusal {
        Some(e) => show_refusal(&mut fields, e, |_| "new_password"),
        None => (StatusCode::OK, None),
    };
    let token_problem = shown.token_refusal.map(|e| {
        let p = crate::http::error::HttpError::Domain(e).problem();
        status = p.status;
        let details: Vec<String> = p.errors.iter().map(|e| e.message.clone()).collect();
        if details.is_empty() {
            p.detail
        } else {
            details.join("; ")
        }
    });
    let form = shown.token_form.unwrap_or_default();
    let scopes = Scope::ALL
        .into_iter()
        .filter(|s| s.useful_to(caller.user.role, Default::default()))
        .map(|scope| {
            let (field, label) = scope_field(scope);
            ScopeChoice {
                name: scope.as_str(),
                field,
                label,
                checked: form.chosen(scope),
            }
        })
        .collect();
    render(
        status,
        &AccountPage {
            chrome: visitor.chrome("Your account", "account"),
            must_change_password: caller.user.must_change_password,
            fields,
            password_problem,
            sessions: sessions
                .iter()
                .map(|s| SessionRow {
                    id: s.id,
                    created: when(Some(s.created_at)),
                    last_used: when(s.last_used_at),
                    client: [s.client_addr.as_deref(), s.user_agent.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" · "),
                    current: s.current,
                })
                .collect(),
            tokens: tokens.iter().map(TokenRow::from).collect(),
            scopes,
            token_name: form.name.clone().unwrap_or_default(),
            token_days: form.days.clone().unwrap_or_else(|| "90".to_owned()),
            token_problem,
            new_secret: shown.new_secret,
            notice: shown.notice,
        },
    )
}

/// `GET /account`.
pub async fn show(
    State(app): State<App>,
    visitor: Visitor,
    Query(p): Query<AccountParams>,
) -> Result<Response, WebError> {
    let notice = filled(&p.saved).map(|what| match what.as_str() {
        "password" => "Your password is changed; your other sessions have ended.".to_owned(),
        "session" => "The session has ended.".to_owned(),
        "token" => "The token is revoked; it no longer works anywhere.".to_owned(),
        other => format!("Saved {other}."),
    });
    page(
        &app,
        &visitor,
        Shown {
            notice,
            ..Shown::default()
        },
    )
    .await
}

/// `POST /account/password`.
pub async fn change_password(
    State(app): State<App>,
    form: CsrfForm<PasswordForm>,
) -> Result<Response, WebError> {
    let CsrfForm { visitor, value } = form;
    let input = ChangePassword {
        current_password: value.current_password.unwrap_or_default(),
        new_password: value.new_password.unwrap_or_default(),
    };
    match app.change_own_password(&visitor.principal, input).await {
        Ok(_) => Ok(see_other("/account?saved=password")),
        Err(e) => {
            let refusal = form_refusal(e)?;
            page(
                &app,
                &visitor,
                Shown {
                    password_refusal: Some(refusal),
                    ..Shown::default()
                },
            )
            .await
        }
    }
}

fn id_of(raw: &str, what: &'static str) -> Result<Uuid, WebError> {
    Uuid::parse_str(raw).map_err(|_| WebError::from(Error::NotFound(what)))
}

/// `POST /account/sessions/{id}/end`: ending the current one signs out.
pub async fn end_session(
    State(app): State<App>,
    Path(id): Path<String>,
    form: CsrfForm<super::shared::NoFields>,
) -> Result<Response, WebError> {
    let id = id_of(&id, "session")?;
    let visitor = form.visitor;
    app.end_my_session(&visitor.principal, id).await?;
    if id == visitor.principal.session_id() {
        return Ok(see_other("/login"));
    }
    Ok(see_other("/account?saved=session"))
}

/// `POST /account/tokens`: makes a token and shows its secret once.
pub async fn create_token(
    State(app): State<App>,
    form: CsrfForm<TokenForm>,
) -> Result<Response, WebError> {
    let CsrfForm { visitor, value } = form;
    let days = filled(&value.days).unwrap_or_else(|| "90".to_owned());
    let made = match days.parse::<i64>() {
        Ok(days) if (1..=366).contains(&days) => {
            let input = CreateApiToken {
                name: value.name.clone().unwrap_or_default(),
                scopes: Scope::ALL
                    .into_iter()
                    .filter(|s| value.chosen(*s))
                    .map(|s| s.as_str().to_owned())
                    .collect(),
                expires_at: Some(inventory_core::now() + chrono::Duration::days(days)),
            };
            app.create_api_token(&visitor.principal, input).await
        }
        _ => Err(Error::invalid(
            "days",
            "give the days it should work: a whole number from 1 to 366",
        )),
    };
    let shown = match made {
        Ok(made) => Shown {
            new_secret: Some(made.secret),
            notice: Some(format!(
                "Token “{}” made. Copy it now: it is shown only this once.",
                made.token.name
            )),
            ..Shown::default()
        },
        Err(e) => Shown {
            token_refusal: Some(form_refusal(e)?),
            token_form: Some(value),
            ..Shown::default()
        },
    };
    page(&app, &visitor, shown).await
}

/// `POST /account/tokens/{id}/revoke`.
pub async fn revoke_token(
    State(app): State<App>,
    Path(id): Path<String>,
    form: CsrfForm<super::shared::NoFields>,
) -> Result<Response, WebError> {
    let id = id_of(&id, "API token")?;
    app.revoke_api_token(&form.visitor.principal, id).await?;
    Ok(see_other("/account?saved=token"))
}
