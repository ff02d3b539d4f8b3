//! Signing in to the UI: the session cookie, the signed-in visitor, and
//! the CSRF check on every form that changes something.
//!
//! The cookie holds the same session token the API's `Authorization:
//! Bearer` carries (`App::login`), so signing out, expiry and revocation end
//! both. The CSRF token is derived from the session token (a hash the page
//! can show without revealing the session): a form from another session, or
//! from another site, cannot carry it.

use super::cookies::COOKIE;
use super::page::{Badge, Chrome, WebError};
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
        match app.authenticate(token).await {
            Ok(principal) => Ok(Visitor {
                principal,
                csrf: csrf_token(token),
            }),
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

impl Visitor {
    /// The shared parts of a page shown to this visitor.
    pub fn chrome(&self, title: impl Into<String>, section: &'static str) -> Chrome {
        let user = &self.principal.user;
        Chrome {
            section,
            user: Some(Badge {
                username: user.username.clone(),
                role: user.role.as_str(),
                may_move: self.may(Permission::StockMove),
            }),
            csrf: self.csrf.clone(),
            ..Chrome::anonymous(title)
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
    fn csrf_tokens_differ_per_session_and_do_not_reveal_it() {
        let a = csrf_token("inv_a");
        assert_eq!(a, csrf_token("inv_a"));
        assert_ne!(a, csrf_token("inv_b"));
        assert!(!a.contains("inv_a"));
    }
}
