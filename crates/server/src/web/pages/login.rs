//! Signing in and out.

use super::shared::NoFields;
use crate::http::extract::Client;
use crate::web::cookies::{cleared_cookie, login_cookie, session_cookie, WebOptions, LOGIN_COOKIE};
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
    /// This form's token, also in the sign-in cookie.
    token: String,
    message: Option<String>,
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
    Extension(options): Extension<WebOptions>,
    headers: HeaderMap,
    Query(q): Query<NextParam>,
) -> Result<Response, WebError> {
    let next = safe_next(q.next.as_deref());
    if let Some(token) = session_token(&headers) {
        if app.authenticate(token).await.is_ok() {
            return Ok(see_other(&next));
        }
    }
    login_page(
        StatusCode::OK,
        None,
        next,
        String::new(),
        options.secure(&headers),
    )
}

/// The sign-in form with a fresh token, which the response's cookie holds too.
fn login_page(
    status: StatusCode,
    message: Option<String>,
    next: String,
    username: String,
    secure: bool,
) -> Result<Response, WebError> {
    let token = inventory_app::passwords::random_secret(18);
    let mut response = render(
        status,
        &LoginPage {
            chrome: Chrome::anonymous("Sign in"),
            token: token.clone(),
            message,
            next,
            username,
        },
    )?;
    response
        .headers_mut()
        .insert(header::SET_COOKIE, login_cookie(&token, secure));
    Ok(response)
}

/// The sign-in cookie's token, if the request carries one.
fn login_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == LOGIN_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
    #[serde(default)]
    csrf: String,
}

/// `POST /login`: on success the session cookie and a redirect to `next`;
/// on a wrong username or password the form again, saying so (never which).
pub async fn sign_in(
    State(app): State<App>,
    Extension(options): Extension<WebOptions>,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let form: SignInForm = serde_urlencoded::from_bytes(&body).map_err(|e| {
        crate::http::error::HttpError::BadRequest(format!("the form could not be read: {e}"))
    })?;
    let next = safe_next(form.next.as_deref());
    let secure = options.secure(&headers);
    if login_token(&headers) != Some(form.csrf.as_str()) {
        // Forged, or a form left open past its hour: nothing is checked.
        return login_page(
            StatusCode::FORBIDDEN,
            Some("This sign-in form had expired. Enter your username and password again.".into()),
            next,
            form.username,
            secure,
        );
    }
    match app
        .login(form.username.trim(), &form.password, &client)
        .await
    {
        Ok(signed_in) => {
            let mut response = see_other(&next);
            response.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(&signed_in.token, signed_in.expires_in, secure),
            );
            Ok(response)
        }
        Err(Error::InvalidCredentials) => login_page(
            StatusCode::UNAUTHORIZED,
            Some("Wrong username or password. Check both and try again.".into()),
            next,
            form.username,
            secure,
        ),
        Err(Error::TooManyAttempts { retry_after }) => {
            let minutes = retry_after.div_ceil(60);
            let message = format!(
                "Too many failed sign-ins for this username or from this computer. \
                 Try again in {minutes} minute{}, or ask an administrator to reset your password.",
                if minutes == 1 { "" } else { "s" }
            );
            let mut response = login_page(
                StatusCode::TOO_MANY_REQUESTS,
                Some(message),
                next,
                form.username,
                secure,
            )?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after.into());
            Ok(response)
        }
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
