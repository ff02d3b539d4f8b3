//! The session cookie: its name and attributes, and whether it is marked
//! `Secure` on this listener.

use axum::http::{HeaderMap, HeaderValue};

/// The session cookie's name.
pub const COOKIE: &str = "inventory_session";

/// How this listener's pages set cookies: whether clients reach it over
/// TLS (`INVENTORY_COOKIE_SECURE`), or a proxy in front says so
/// (`X-Forwarded-Proto: https`, trusted only with `INVENTORY_TRUST_PROXY`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebOptions {
    /// `Some(true)`: always `Secure`; `Some(false)`: never; `None`: follow
    /// the proxy header when it is trusted.
    pub cookie_secure: Option<bool>,
    pub trust_proxy: bool,
}

impl WebOptions {
    /// Whether a cookie set in answer to a request with these headers gets
    /// the `Secure` attribute.
    pub fn secure(&self, headers: &HeaderMap) -> bool {
        self.cookie_secure.unwrap_or_else(|| {
            self.trust_proxy
                && headers
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
        })
    }
}

/// `Set-Cookie` for a new session of `max_age` seconds.
pub fn session_cookie(token: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .expect("a token is printable ASCII")
}

/// The sign-in form's own CSRF cookie: before a session exists, a forged
/// cross-site sign-in (which would put the victim in the attacker's
/// account) is refused because it cannot read or send this cookie.
pub const LOGIN_COOKIE: &str = "inventory_login";

/// `Set-Cookie` for a sign-in form's token, good for an hour.
pub fn login_cookie(token: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
    ))
    .expect("a token is printable ASCII")
}

/// `Set-Cookie` that removes the session cookie.
pub fn cleared_cookie(secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"
    ))
    .expect("constant")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_follows_the_setting_then_a_trusted_proxy() {
        let mut https = HeaderMap::new();
        https.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let plain = HeaderMap::new();
        let default = WebOptions::default();
        assert!(!default.secure(&https), "an untrusted header is ignored");
        let proxied = WebOptions {
            trust_proxy: true,
            ..WebOptions::default()
        };
        assert!(proxied.secure(&https));
        assert!(!proxied.secure(&plain));
        let forced = WebOptions {
            cookie_secure: Some(true),
            ..WebOptions::default()
        };
        assert!(forced.secure(&plain));
        let never = WebOptions {
            cookie_secure: Some(false),
            trust_proxy: true,
        };
        assert!(!never.secure(&https));
        assert!(session_cookie("t", 60, true)
            .to_str()
            .unwrap()
            .ends_with("; Secure"));
        assert!(session_cookie("t", 60, false)
            .to_str()
            .unwrap()
            .contains("HttpOnly; SameSite=Lax"));
    }
}
