//! Signing in to the UI: the session cookie, the signed-in visitor, and
//! the CSRF check on every form that changes something.
//!
//! The cookie holds the same session token the API's `Authorization:
//! Bearer` carries (`App::login`), so signing out, expiry and revocation end
//! both. The CSRF token is derived from the session token (a hash the page
//! can show without revealing the session): a form from another session, or
//! from another site, cannot carry it. Forms that upload a file
//! (`multipart/form-data`) are checked the same way ([`CsrfMultipart`]).

use super::cookies::COOKIE;
use super::page::{Badge, Chrome, SeenVisitor, WebError};
use crate::http::error::HttpError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use inventory_app::{App, Principal};
use inventory_core::access::Permission;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// The session token in the request's cookie, if any.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// The CSRF token of a session.
pub fn csrf_token(session_token: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"inventory-csrf\n");
    hash.update(session_token.as_bytes());
    hex::encode(hash.finalize())
}

/// The caller of this request's session cookie, when a layer has already
/// authenticated it (`web::form_access`).
#[derive(Clone)]
pub struct Authenticated(pub Principal);

/// A signed-in visitor: who they are, and the CSRF token their forms carry.
/// A visitor without a valid session is sent to the sign-in page, and back
/// here afterwards.
pub struct Visitor {
    pub principal: Principal,
    pub csrf: String,
}

impl Visitor {
    pub fn may(&self, permission: Permission) -> bool {
        self.principal.may(permission)
    }
}

/// Where to come back to after signing in: this request's path and query.
fn return_path(parts: &Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned())
}

impl FromRequestParts<App> for Visitor {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let back = if parts.method == axum::http::Method::GET {
            return_path(parts)
        } else {
            "/".to_owned()
        };
        let Some(token) = session_token(&parts.headers) else {
            return Err(WebError::SignIn { next: back });
        };
        let found = match parts.extensions.remove::<Authenticated>() {
            Some(Authenticated(principal)) => Ok(principal),
            None => app.authenticate(token).await,
        };
        match found {
            Ok(principal) => {
                let visitor = Visitor {
                    principal,
                    csrf: csrf_token(token),
                };
                if let Some(seen) = parts.extensions.get::<SeenVisitor>() {
                    seen.record(visitor.badge(), visitor.csrf.clone());
                }
                Ok(visitor)
            }
            Err(inventory_core::Error::Unauthorized) => Err(WebError::SignIn { next: back }),
            Err(e) => Err(e.into()),
        }
    }
}

/// A state-changing form from a signed-in visitor: the body is
/// `application/x-www-form-urlencoded`, carries this session's CSRF token
/// in `csrf` (403 and nothing changed otherwise), and the rest of its fields
/// deserialize into `T`.
pub struct CsrfForm<T> {
    pub visitor: Visitor,
    pub value: T,
}

impl<T: DeserializeOwned> FromRequest<App> for CsrfForm<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let visitor = Visitor::from_request_parts(&mut parts, app).await?;
        let bytes = axum::body::to_bytes(body, crate::http::body::MAX_BODY_BYTES)
            .await
            .map_err(|_| {
                WebError::Http(crate::http::error::HttpError::PayloadTooLarge(
                    crate::http::body::MAX_BODY_BYTES,
                ))
            })?;
        let mut csrf = None;
        let mut rest = form_urlencoded::Serializer::new(String::new());
        for (name, value) in form_urlencoded::parse(&bytes) {
            if name == "csrf" {
                csrf = Some(value.into_owned());
            } else {
                rest.append_pair(&name, &value);
            }
        }
        if csrf.as_deref() != Some(visitor.csrf.as_str()) {
            return Err(WebError::Csrf);
        }
        let value = serde_urlencoded::from_str(&rest.finish()).map_err(|e| {
            WebError::Http(crate::http::error::HttpError::BadRequest(format!(
                "the form could not be read: {e}"
            )))
        })?;
        Ok(CsrfForm { visitor, value })
    }
}

/// One field of a `multipart/form-data` form: a text field, or a file.
pub struct FormPart {
    pub name: String,
    /// The uploaded file's name, for a file field.
    pub filename: Option<String>,
    pub data: Bytes,
}

/// A state-changing form sent as `multipart/form-data` (a file upload) by a
/// signed-in visitor: like [`CsrfForm`], it must carry this session's CSRF
/// token in its `csrf` field (403 and nothing changed otherwise). The body
/// may be as large as the route's limit (`http::body::body_limit`).
pub struct CsrfMultipart {
    pub visitor: Visitor,
    pub parts: Vec<FormPart>,
}

impl CsrfMultipart {
    /// The field called `name`, if the form has it.
    pub fn field(&self, name: &str) -> Option<&FormPart> {
        self.parts.iter().find(|p| p.name == name)
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|at| at + from)
}

fn boundary(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mut params = value.split(';').map(str::trim);
    if !params.next()?.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params
        .filter_map(|p| p.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty())
}

/// A `Content-Disposition: form-data; name="…"; filename="…"` parameter.
fn disposition_param(headers: &str, param: &str) -> Option<String> {
    let line = headers
        .split("\r\n")
        .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
    line.split(';')
        .map(str::trim)
        .filter_map(|p| p.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case(param))
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
}

/// Splits a `multipart/form-data` body (RFC 7578) into its fields; `None`
/// when it is not one.
pub fn parse_multipart(body: &Bytes, boundary: &str) -> Option<Vec<FormPart>> {
    let delimiter = format!("--{boundary}");
    let next_delimiter = format!("\r\n--{boundary}");
    let mut at = find(body, delimiter.as_bytes(), 0)? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        let rest = body.get(at..)?;
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        if !rest.starts_with(b"\r\n") {
            return None;
        }
        let head_end = find(body, b"\r\n\r\n", at + 2)?;
        let headers = std::str::from_utf8(&body[at + 2..head_end]).ok()?;
        let start = head_end + 4;
        let end = find(body, next_delimiter.as_bytes(), start)?;
        parts.push(FormPart {
            name: disposition_param(headers, "name")?,
            filename: disposition_param(headers, "filename"),
            data: body.slice(start..end),
        });
        at = end + next_delimiter.len();
    }
}

impl FromRequest<App> for CsrfMultipart {
    type Rejection = WebError;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let visitor = Visitor::from_request_parts(&mut parts, app).await?;
        let limit = crate::http::body::body_limit(parts.uri.path());
        let bytes = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| WebError::Http(HttpError::PayloadTooLarge(limit)))?;
        let form = boundary(&parts.headers)
            .and_then(|b| parse_multipart(&bytes, &b))
            .ok_or_else(|| {
                WebError::Http(HttpError::BadRequest(
                    "the form could not be read: send it as multipart/form-data".into(),
                ))
            })?;
        let csrf = form.iter().find(|p| p.name == "csrf").map(|p| &p.data[..]);
        if csrf != Some(visitor.csrf.as_bytes()) {
            return Err(WebError::Csrf);
        }
        Ok(CsrfMultipart {
            visitor,
            parts: form,
        })
    }
}

impl Visitor {
    /// The shared parts of a page shown to this visitor.
    pub fn chrome(&self, title: impl Into<String>, section: &'static str) -> Chrome {
        Chrome {
            section,
            user: Some(self.badge()),
            csrf: self.csrf.clone(),
            ..Chrome::anonymous(title)
        }
    }

    /// Who is signed in, as the header shows them.
    pub fn badge(&self) -> Badge {
        let user = &self.principal.user;
        Badge {
            username: user.username.clone(),
            role: user.role.as_str(),
            may_move: self.may(Permission::StockMove),
            may_adjust: self.may(Permission::StockAdjust),
            may_manage_users: self.may(Permission::UsersManage),
            may_read_audit: self.may(Permission::SystemInspect),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; inventory_session=inv_abc ; b=2"),
        );
        assert_eq!(session_token(&headers), Some("inv_abc"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("inventory_session="),
        );
        assert_eq!(session_token(&headers), None);
    }

    #[test]
    fn a_multipart_form_splits_into_its_fields() {
        let body = Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"items.csv\"\r\n\
              Content-Type: text/csv\r\n\r\nsku,name\r\nA,--XyZ-not-a-boundary\r\n\r\n--XyZ--\r\n",
        );
        let parts = parse_multipart(&body, "XyZ").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), &parts[0].data[..]),
            ("csrf", &b"abc"[..])
        );
        assert_eq!(parts[1].filename.as_deref(), Some("items.csv"));
        assert_eq!(
            &parts[1].data[..],
            b"sku,name\r\nA,--XyZ-not-a-boundary\r\n"
        );
        assert!(parse_multipart(&Bytes::from_static(b"garbage"), "XyZ").is_none());
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("multipart/form-data; boundary=\"XyZ\""),
        );
        assert_eq!(boundary(&headers).as_deref(), Some("XyZ"));
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_do_not_reveal_it() {
        let a = csrf_token("inv_a");
        assert_eq!(a, csrf_token("inv_a"));
        assert_ne!(a, csrf_token("inv_b"));
        assert!(!a.contains("inv_a"));
    }
}
