//! What every page is made of: the shared chrome, rendering, redirects,
//! and the error renderer. Errors are the API's [`Problem`]s rendered as
//! HTML: a handler returns a [`WebError`], which leaves the problem on the
//! response, and [`finish_page`] renders it with the request id (on a 5xx)
//! and adds the security headers every page carries.

use super::assets;
use crate::http::error::{HttpError, Problem};
use crate::telemetry::RequestId;
use askama::Template;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use inventory_core::{Error, FieldError};
use std::sync::{Arc, Mutex};

/// What every page shares: its title, the navigation, who is signed in,
/// the CSRF token for forms, and the asset links.
pub struct Chrome {
    pub title: String,
    /// Which navigation entry is the current page.
    pub section: &'static str,
    pub user: Option<Badge>,
    pub csrf: String,
    pub css: &'static str,
    pub js: &'static str,
    pub htmx: &'static str,
}

/// The signed-in user, as the header shows them.
#[derive(Clone)]
pub struct Badge {
    pub username: String,
    pub role: &'static str,
    pub may_move: bool,
    pub may_adjust: bool,
    pub may_manage_users: bool,
    /// Whether the audit log is theirs to read.
    pub may_read_audit: bool,
}

/// Who the request turned out to be from, once a handler has checked the
/// session: [`finish_page`] puts an empty one on each request, the visitor
/// extractor fills it, so that an error page keeps the navigation of a
/// signed-in visitor.
#[derive(Clone, Default)]
pub struct SeenVisitor(Arc<Mutex<Option<(Badge, String)>>>);

impl SeenVisitor {
    pub fn record(&self, badge: Badge, csrf: String) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((badge, csrf));
    }

    fn take(&self) -> Option<(Badge, String)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl Chrome {
    /// A page for nobody in particular (sign-in, errors).
    pub fn anonymous(title: impl Into<String>) -> Self {
        let assets = &*assets::ASSETS;
        Self {
            title: title.into(),
            section: "",
            user: None,
            csrf: String::new(),
            css: &assets.css.path,
            js: &assets.js.path,
            htmx: &assets.htmx.path,
        }
    }

    /// Whether the signed-in user may move stock (shows the controls that
    /// do; the use case checks again).
    pub fn may_move(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.may_move)
    }

    /// Whether the visitor may undo a movement of this kind (undoing an
    /// adjustment is one).
    pub fn may_reverse(&self, kind: &str) -> bool {
        self.user
            .as_ref()
            .is_some_and(|u| u.may_move && (kind != "adjust" || u.may_adjust))
    }
}

/// A page as a response (200 unless `status` says otherwise).
pub fn render(status: StatusCode, page: &impl Template) -> Result<Response, WebError> {
    let html = page
        .render()
        .map_err(|e| Error::internal(format!("template: {e}")))?;
    let mut response = (status, html).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Ok(response)
}

/// `303 See Other` to `location` (after a form post, so that reloading the
/// page does not post again).
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum WebError {
    /// The same failure the API would answer with a problem.
    Http(HttpError),
    /// Nobody (or an expired session) is signed in: to the sign-in page,
    /// then back to `next`.
    SignIn { next: String },
    /// A form without this session's CSRF token.
    Csrf,
}

impl From<Error> for WebError {
    fn from(e: Error) -> Self {
        Self::Http(HttpError::Domain(e))
    }
}

impl From<HttpError> for WebError {
    fn from(e: HttpError) -> Self {
        Self::Http(e)
    }
}

/// A problem left on a response for [`finish_page`] to render.
#[derive(Clone)]
struct PendingProblem(Problem);

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let problem = match self {
            Self::SignIn { next } => {
                let query: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", &next)
                    .finish();
                return see_other(&format!("/login?{query}"));
            }
            Self::Csrf => Problem {
                status: StatusCode::FORBIDDEN,
                slug: "csrf",
                title: "This form has expired",
                detail: "The form did not carry this session's security token (it may be from \
                         an older session, or from another site), so nothing was changed. \
                         Open the page again and resubmit."
                    .to_owned(),
                errors: Vec::new(),
                members: Default::default(),
            },
            Self::Http(e) => e.problem(),
        };
        metrics::counter!("inventory_errors_total", "type" => problem.slug).increment(1);
        let mut response = problem.status.into_response();
        response.extensions_mut().insert(PendingProblem(problem));
        response
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    title: &'a str,
    detail: &'a str,
    errors: &'a [FieldError],
    request_id: Option<&'a str>,
    back: &'a str,
    back_label: &'a str,
}

/// The HTML renderer of a problem: a page with its title and detail, each
/// field error beside its field's name, a way back, and for a server error
/// the request id (so that the log line can be found) and nothing internal.
pub fn error_page(
    problem: &Problem,
    request_id: Option<&str>,
    back: &str,
    visitor: Option<(Badge, String)>,
) -> Response {
    let mut chrome = Chrome::anonymous(problem.title);
    if let Some((badge, csrf)) = visitor {
        chrome.user = Some(badge);
        chrome.csrf = csrf;
    }
    let page = ErrorPage {
        chrome,
        title: problem.title,
        detail: &problem.detail,
        errors: &problem.errors,
        request_id: request_id.filter(|_| problem.status.is_server_error()),
        back,
        back_label: if back == "/" {
            "Go to the dashboard"
        } else {
            "Go back"
        },
    };
    let mut response = match render(problem.status, &page) {
        Ok(response) => response,
        Err(_) => (problem.status, problem.title).into_response(),
    };
    problem.add_headers(&mut response);
    response
}

/// The headers every page carries: a strict Content-Security-Policy (no
/// inline script or style, no eval, no framing), no MIME sniffing, no
/// referrer to other sites, and no caching of pages that show stock.
fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
             object-src 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Renders a pending problem as its HTML page and adds the page headers.
pub async fn finish_page(mut req: Request, next: Next) -> Response {
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let back = back_link(req.headers());
    let seen = SeenVisitor::default();
    req.extensions_mut().insert(seen.clone());
    let mut response = next.run(req).await;
    if let Some(PendingProblem(problem)) = response.extensions_mut().remove::<PendingProblem>() {
        response = error_page(&problem, request_id.as_deref(), &back, seen.take());
    }
    secure(response.headers_mut());
    response
}

/// Where an error page's "back" link goes: the page the visitor came from
/// when it is on this site, else the dashboard.
fn back_link(headers: &HeaderMap) -> String {
    let referer = headers.get(header::REFERER).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (referer, host) {
        (Some(referer), Some(host)) => {
            let path = ["http://", "https://"]
                .iter()
                .find_map(|scheme| referer.strip_prefix(scheme))
                .and_then(|rest| rest.strip_prefix(host))
                .filter(|path| path.starts_with('/') && !path.starts_with("//"));
            path.map(str::to_owned).unwrap_or_else(|| "/".to_owned())
        }
        _ => "/".to_owned(),
    }
}

/// Whether a request for an unknown route came from a browser (then it
/// gets an HTML 404 page with a way back, not problem+json).
pub fn wants_html(req: &Request) -> bool {
    !req.uri().path().starts_with("/api/")
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
}

/// The fallback for unknown routes: an HTML page for browsers, problem+json
/// for everyone else.
pub async fn not_found(req: Request) -> Response {
    if wants_html(&req) {
        let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
        let problem = HttpError::Domain(Error::NotFound("page")).problem();
        let mut response = error_page(&problem, request_id.as_deref(), "/", None);
        secure(response.headers_mut());
        response
    } else {
        HttpError::RouteNotFound.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_validation_error_shows_each_message_beside_its_field() {
        let problem = HttpError::Domain(Error::invalid("sku", "must be <64> characters")).problem();
        let response = error_page(&problem, Some("r-1"), "/items", None);
        assert_eq!(response.status(), 422);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let html = text(response).await;
        assert!(
            html.contains("<strong>sku</strong>: must be &#60;64&#62; characters")
                || html.contains("<strong>sku</strong>: must be &lt;64&gt; characters"),
            "{html}"
        );
        assert!(html.contains("href=\"/items\""));
        assert!(!html.contains("r-1"), "a request id only on a server error");
    }

    #[tokio::test]
    async fn a_server_error_shows_the_request_id_and_nothing_internal() {
        let problem = HttpError::Domain(Error::internal("secret table broke")).problem();
        let html = text(error_page(&problem, Some("req-42"), "/", None)).await;
        assert!(html.contains("req-42"));
        assert!(!html.contains("secret table"), "{html}");
    }

    #[test]
    fn the_back_link_stays_on_this_site() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("shop:3000"));
        headers.insert(
            header::REFERER,
            HeaderValue::from_static("http://shop:3000/items?q=a"),
        );
        assert_eq!(back_link(&headers), "/items?q=a");
        headers.insert(
            header::REFERER,
            HeaderValue::from_static("http://evil.example/items"),
        );
        assert_eq!(back_link(&headers), "/");
    }
}
