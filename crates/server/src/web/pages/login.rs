//! Signing in and out.

use super::shared::NoFields;
use crate::web::cookies::{cleared_cookie, session_cookie, WebOptions};
use crate::web::page::{render, see_other, Chrome, WebError};
use crate::web::session::{session_token, CsrfForm};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use inventory_app::App;
use inventory_core::Error;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    message: Option<&'static str>,
    next: String,
    username: String,
}

/// Only a path on this site: never `//elsewhere` or a full URL.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[derive(Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

/// `GET /login`: the sign-in form (or, already signed in, where `next` goes).
pub async fn form(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<NextParam>,
) -> Result<Response, WebError> {
    let next = safe_next(q.next.as_deref());
    if let Some(token) = session_token(&headers) {
        if app.authenticate(token).await.is_ok() {
            return Ok(see_other(&next));
        }
    }
    render(
        StatusCode::OK,
        &LoginPage {
            chrome: Chrome::anonymous("Sign in"),
            message: None,
            next,
            username: String::new(),
        },
    )
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// `POST /login`: on success the session cookie and a redirect to `next`;
/// on a wrong username or password the form again, saying so (never which).
pub async fn sign_in(
    State(app): State<App>,
    Extension(options): Extension<WebOptions>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let form: SignInForm = serde_urlencoded::from_bytes(&body).map_err(|e| {
        crate::http::error::HttpError::BadRequest(format!("the form could not be read: {e}"))
    })?;
    let next = safe_next(form.next.as_deref());
    match app.login(form.username.trim(), &form.password).await {
        Ok(signed_in) => {
            let mut response = see_other(&next);
            response.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(
                    &signed_in.token,
                    signed_in.expires_in,
                    options.secure(&headers),
                ),
            );
            Ok(response)
        }
        Err(Error::InvalidCredentials) => render(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                chrome: Chrome::anonymous("Sign in"),
                message: Some("Wrong username or password. Check both and try again."),
                next,
                username: form.username,
            },
        ),
        Err(e) => Err(e.into()),
    }
}

/// `POST /logout`: ends the session (for the API's token too) and clears
/// the cookie.
pub async fn sign_out(
    State(app): State<App>,
    Extension(options): Extension<WebOptions>,
    headers: HeaderMap,
    form: CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    app.logout(&form.visitor.principal).await?;
    let mut response = see_other("/login");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cleared_cookie(options.secure(&headers)));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/items?q=a")), "/items?q=a");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
