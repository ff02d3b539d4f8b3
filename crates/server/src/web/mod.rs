//! The web UI: server-rendered pages (askama templates under
//! `crates/server/templates/`, one handler module per page area under
//! `pages/`) over the same use cases as the API. Forms and links work
//! without JavaScript; `assets/app.js` and htmx only save round trips.
//! `page` holds what every page shares (chrome, rendering, the HTML error
//! renderer and the security headers), `session` the cookie, the signed-in
//! visitor and the CSRF check.

pub mod assets;
pub mod chart;
pub mod cookies;
pub mod page;
pub mod pages;
pub mod session;

use axum::routing::{get, post};
use axum::Router;
use inventory_app::{App, UseCase};

/// Use cases only the UI reaches (the API reaches every other one: see
/// `api::v1::ROUTES`).
pub const UI_ONLY_USE_CASES: &[UseCase] = &[
    UseCase::Dashboard,
    UseCase::ListUsers,
    UseCase::ChangeUserRole,
];

/// Every form the UI posts: path template and the use case it runs. A
/// test walks them for every role against the permission table, and fails
/// when the router has a form that is not here.
pub const UI_FORMS: &[(&str, UseCase)] = &[
    ("/login", UseCase::Login),
    ("/logout", UseCase::Logout),
    ("/items/import", UseCase::ImportItems),
    ("/items/new", UseCase::CreateItem),
    ("/items/{id}/edit", UseCase::UpdateItem),
    ("/items/{id}/archive", UseCase::ArchiveItem),
    ("/items/{id}/restore", UseCase::RestoreItem),
    ("/reservations/{id}/release", UseCase::ReleaseReservation),
    ("/movements/{id}/reverse", UseCase::ReverseMovement),
    ("/movements/delivery", UseCase::RecordMovements),
    ("/movements/new", UseCase::RecordMovement),
    ("/counts", UseCase::PostStockCount),
    ("/counts/review", UseCase::PostStockCount),
    ("/locations", UseCase::CreateLocation),
    ("/locations/{code}/default", UseCase::UpdateLocation),
    ("/sales-orders/new", UseCase::CreateSalesOrder),
    ("/sales-orders/{id}/confirm", UseCase::ConfirmSalesOrder),
    ("/sales-orders/{id}/ship", UseCase::ShipSalesOrder),
    ("/sales-orders/{id}/hold", UseCase::HoldSalesOrder),
    ("/sales-orders/{id}/cancel", UseCase::CancelSalesOrder),
    ("/parties/new", UseCase::CreateParty),
    ("/parties/{id}", UseCase::UpdateParty),
    ("/parties/{id}/archive", UseCase::UpdateParty),
    ("/parties/{id}/restore", UseCase::UpdateParty),
    ("/purchase-orders/new", UseCase::CreatePurchaseOrder),
    ("/purchase-orders/{id}/submit", UseCase::SubmitPurchaseOrder),
    (
        "/purchase-orders/{id}/receive",
        UseCase::ReceivePurchaseOrder,
    ),
    ("/purchase-orders/{id}/cancel", UseCase::CancelPurchaseOrder),
    ("/users", UseCase::CreateUser),
    ("/users/{id}/role", UseCase::ChangeUserRole),
    ("/users/{id}/reset-password", UseCase::ResetUserPassword),
    ("/users/{id}/{action}", UseCase::UpdateUser),
    ("/account/password", UseCase::ChangeOwnPassword),
    ("/account/sessions/{id}/end", UseCase::EndMySession),
    ("/account/tokens", UseCase::CreateApiToken),
    ("/account/tokens/{id}/revoke", UseCase::RevokeApiToken),
];

/// The use case of the form posted to `path`, by [`UI_FORMS`] (the most
/// specific template when several match).
pub fn form_use_case(path: &str) -> Option<UseCase> {
    let segments: Vec<&str> = path.split('/').collect();
    UI_FORMS
        .iter()
        .filter(|(template, _)| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t.starts_with('{') || t == s)
        })
        .min_by_key(|(template, _)| template.matches('{').count())
        .map(|(_, use_case)| *use_case)
}

/// Every form is checked against the permission table before its handler
/// reads it: a visitor who may not run the form's use case gets the 403
/// page whatever the form holds (rather than, say, a validation error
/// first). Visitors without a session are left to the handler, which
/// sends them to sign in.
/// The caller it found travels on to the handler's `Visitor`, so a form is
/// authenticated once.
async fn form_access(
    axum::extract::State(app): axum::extract::State<App>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if request.method() == axum::http::Method::POST {
        if let Some(use_case) = form_use_case(request.uri().path()) {
            if let Some(token) = session::session_token(request.headers()) {
                if let Ok(principal) = app.authenticate(token).await {
                    if let Err(e) = principal.require(use_case) {
                        return page::WebError::from(e).into_response();
                    }
                    request
                        .extensions_mut()
                        .insert(session::Authenticated(principal));
                }
            }
        }
    }
    next.run(request).await
}

/// The UI's routes (everything outside `/api`, the probes, `/docs` and
/// `/metrics`), with their page finishing layer.
pub fn routes(app: App, options: cookies::WebOptions) -> Router<App> {
    Router::new()
        .route("/", get(pages::dashboard::show))
        .route(
            "/login",
            get(pages::login::form).post(pages::login::sign_in),
        )
        .route("/logout", post(pages::login::sign_out))
        .route("/live", get(pages::live::stream))
        .route("/items", get(pages::items::list))
        .route("/items/lookup", get(pages::items::lookup))
        .route("/items/export.csv", get(pages::spreadsheets::export_items))
        .route(
            "/items/import",
            get(pages::spreadsheets::import_form).post(pages::spreadsheets::import),
        )
        .route(
            "/items/new",
            get(pages::items::new_form).post(pages::items::create),
        )
        .route("/items/{id}", get(pages::items::show))
        .route(
            "/items/{id}/edit",
            get(pages::items::edit_form).post(pages::items::update),
        )
        .route("/items/{id}/archive", post(pages::items::archive))
        .route("/items/{id}/restore", post(pages::items::restore))
        .route(
            "/reservations/{id}/release",
            post(pages::items::release_reservation),
        )
        .route("/movements", get(pages::movements::list))
        .route(
            "/movements/export.csv",
            get(pages::spreadsheets::export_movements),
        )
        .route(
            "/movements/{id}/reverse",
            get(pages::movements::reverse_form).post(pages::movements::reverse),
        )
        .route(
            "/movements/delivery",
            get(pages::delivery::form).post(pages::delivery::receive),
        )
        .route(
            "/movements/new",
            get(pages::movements::new_form).post(pages::movements::record),
        )
        .route(
            "/counts",
            get(pages::counts::sheet).post(pages::counts::post),
        )
        .route("/counts/review", post(pages::counts::review))
        .route(
            "/locations",
            get(pages::locations::list).post(pages::locations::create),
        )
        .route(
            "/locations/{code}/default",
            post(pages::locations::make_default),
        )
        .route("/sales-orders", get(pages::sales::list))
        .route(
            "/sales-orders/new",
            get(pages::sales::new_form).post(pages::sales::create),
        )
        .route("/sales-orders/{id}", get(pages::sales::show))
        .route("/sales-orders/{id}/confirm", post(pages::sales::confirm))
        .route("/sales-orders/{id}/ship", post(pages::sales::ship))
        .route("/sales-orders/{id}/hold", post(pages::sales::hold))
        .route("/sales-orders/{id}/cancel", post(pages::sales::cancel))
        .route("/parties", get(pages::parties::list))
        .route(
            "/parties/new",
            get(pages::parties::new_form).post(pages::parties::create),
        )
        .route(
            "/parties/{id}",
            get(pages::parties::show).post(pages::parties::update),
        )
        .route("/parties/{id}/archive", post(pages::parties::archive))
        .route("/parties/{id}/restore", post(pages::parties::restore))
        .route("/purchase-orders", get(pages::purchasing::list))
        .route(
            "/purchase-orders/new",
            get(pages::purchasing::new_form).post(pages::purchasing::create),
        )
        .route("/purchase-orders/{id}", get(pages::purchasing::show))
        .route(
            "/purchase-orders/{id}/submit",
            post(pages::purchasing::submit),
        )
        .route(
            "/purchase-orders/{id}/receive",
            post(pages::purchasing::receive),
        )
        .route(
            "/purchase-orders/{id}/cancel",
            post(pages::purchasing::cancel),
        )
        .route("/users", get(pages::users::list).post(pages::users::create))
        .route("/users/{id}/role", post(pages::users::change_role))
        .route(
            "/users/{id}/reset-password",
            post(pages::users::reset_password),
        )
        .route("/users/{id}/{action}", post(pages::users::set_disabled))
        .route("/audit", get(pages::audit::list))
        .route("/audit/export.csv", get(pages::audit::export))
        .route("/account", get(pages::account::show))
        .route("/account/password", post(pages::account::change_password))
        .route(
            "/account/sessions/{id}/end",
            post(pages::account::end_session),
        )
        .route("/account/tokens", post(pages::account::create_token))
        .route(
            "/account/tokens/{id}/revoke",
            post(pages::account::revoke_token),
        )
        .route("/assets/{name}", get(assets::serve))
        .layer(axum::middleware::from_fn_with_state(app, form_access))
        .layer(axum::Extension(options))
        .layer(axum::middleware::from_fn(page::finish_page))
}
