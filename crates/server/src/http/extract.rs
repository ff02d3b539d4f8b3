//! Request extractors that fail with a [`HttpError`] (so a problem+json
//! answer) instead of axum's plain text, and that refuse what a careless
//! client would otherwise see silently ignored: unknown query parameters,
//! unknown body fields.

use crate::http::error::HttpError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use inventory_app::items::IfMatch;
use inventory_app::{App, IdempotencyKey, Principal};
use inventory_core::identity::SessionClient;
use inventory_core::{Error, FieldError};
use serde::de::{self, DeserializeOwned, Visitor};
use serde::Deserialize;
use serde_json::error::Category;
use uuid::Uuid;

/// A JSON body: 415 for another content type, 413 over the size limit, 400
/// for malformed JSON, 422 (naming the field) for JSON of the wrong shape.
/// Keeps the raw bytes for idempotency hashing.
pub struct ApiJson<T> {
    pub value: T,
    pub raw: Bytes,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// The field a serde message is about, when it names one: "missing field
/// `name`" is about `name`, not about the body as a whole.
fn field_of(path: &str, message: &str) -> String {
    let named = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        (".", Some(field)) => field.to_owned(),
        (".", None) => "body".to_owned(),
        (path, Some(field)) => format!("{path}.{field}"),
        (path, None) => path.to_owned(),
    }
}

/// What chrono says when a timestamp does not parse.
const CHRONO_MESSAGES: &[&str] = &[
    "input contains invalid characters",
    "premature end of input",
    "trailing input",
    "input is out of range",
    "input is not enough for unique date and time",
    "no possible date and time matching input",
];

pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, HttpError> {
    let mut de = serde_json::Deserializer::from_slice(raw);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            Category::Data => {
                // serde's own message; strip the position, which helps nobody here.
                let message = inner.to_string();
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_owned();
                let field = field_of(&path, &message);
                let message = if message.starts_with("missing field `") {
                    "is required".to_owned()
                } else if CHRONO_MESSAGES.contains(&message.as_str()) {
                    // chrono's words say what is wrong, not what is right.
                    format!("{message}: expected an RFC 3339 time such as 2030-01-31T17:00:00Z")
                } else {
                    message
                };
                HttpError::Domain(Error::Validation(vec![FieldError::new(field, message)]))
            }
            _ => HttpError::MalformedJson(format!("the body is not valid JSON: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| HttpError::MalformedJson(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(HttpError::UnsupportedMediaType("application/json"));
        }
        let raw = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                HttpError::PayloadTooLarge(crate::http::body::MAX_BODY_BYTES)
            } else {
                HttpError::MalformedJson("the body could not be read".into())
            }
        })?;
        let value = parse_json(&raw)?;
        Ok(Self { value, raw })
    }
}

/// A JSON body that may be left out: no body at all is `T::default()`
/// (`POST /sales-orders/{id}/confirm` needs none); a body is read as
/// [`ApiJson`] reads it.
pub struct OptionalJson<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers());
        let raw = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                HttpError::PayloadTooLarge(crate::http::body::MAX_BODY_BYTES)
            } else {
                HttpError::MalformedJson("the body could not be read".into())
            }
        })?;
        if raw.is_empty() {
            return Ok(Self {
                value: T::default(),
                raw,
            });
        }
        if !json {
            return Err(HttpError::UnsupportedMediaType("application/json"));
        }
        let value = parse_json(&raw)?;
        Ok(Self { value, raw })
    }
}

/// Query parameters: every parameter must be one `T` knows (an unknown one
/// is a 422 that lists the accepted ones), none may repeat, and values are
/// strings that the handler parses with the helpers in [`crate::http::params`].
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let accepted = struct_fields::<T>();
        let mut seen: Vec<String> = Vec::new();
        let mut errors = Vec::new();
        for (name, _) in form_urlencoded::parse(query.as_bytes()) {
            if !accepted.contains(&name.as_ref()) {
                errors.push(FieldError::new(
                    name.to_string(),
                    if accepted.is_empty() {
                        "is not a parameter of this route, which takes none".to_owned()
                    } else {
                        format!(
                            "is not a parameter of this route; it takes {}",
                            accepted.join(", ")
                        )
                    },
                ));
            } else if seen.iter().any(|s| s == name.as_ref()) {
                errors.push(FieldError::new(name.to_string(), "is given more than once"));
            } else {
                seen.push(name.into_owned());
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors).into());
        }
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| Error::invalid("query", e.to_string()).into())
    }
}

/// The field names a struct deserializes, as serde's derive declares them
/// (read by asking it to deserialize from a deserializer that records them).
pub fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Fields(Option<&'static [&'static str]>);
    impl<'de> de::Deserializer<'de> for &mut Fields {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("fields only"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(fields);
            Err(de::Error::custom("fields only"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields = Fields(None);
    let _ = T::deserialize(&mut fields);
    fields.0.unwrap_or(&[])
}

/// A route that takes no query parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// The authenticated caller: the application's [`Principal`].
pub struct Caller(pub Principal);

pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<App> for Caller {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(Error::Unauthorized)?;
        Ok(Caller(app.authenticate(token).await?))
    }
}

/// The bearer token, not yet checked (for handlers that authenticate
/// together with their read: see `App::authenticated_item`).
pub struct Bearer(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        bearer_token(&parts.headers)
            .map(|t| Bearer(t.to_owned()))
            .ok_or(HttpError::Domain(Error::Unauthorized))
    }
}

/// Parses an id from the path; anything that is not a UUID names no resource.
pub fn path_id(raw: &str, what: &'static str) -> Result<Uuid, HttpError> {
    Uuid::parse_str(raw).map_err(|_| HttpError::Domain(Error::NotFound(what)))
}

/// What an `If-Match` header accepts: any version when absent or `*`.
pub fn if_match(headers: &HeaderMap) -> Result<IfMatch, HttpError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(IfMatch::Any);
    };
    let value = value.to_str().map_err(|_| Error::PreconditionFailed)?;
    if value.trim() == "*" {
        return Ok(IfMatch::Any);
    }
    // Strong comparison: weak tags (W/"..") never match.
    let versions = value
        .split(',')
        .filter_map(|tag| {
            tag.trim()
                .strip_prefix('"')?
                .strip_suffix('"')?
                .parse()
                .ok()
        })
        .collect();
    Ok(IfMatch::Versions(versions))
}

/// The request's `Idempotency-Key`, bound to the route and body it came with.
pub fn idempotency_key(
    headers: &HeaderMap,
    route: &str,
    body: &[u8],
) -> Result<Option<IdempotencyKey>, HttpError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or("\u{1}");
    Ok(Some(IdempotencyKey::new(key, route, body)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Params {
        q: Option<String>,
        limit: Option<String>,
    }

    #[test]
    fn the_accepted_parameters_come_from_the_struct() {
        assert_eq!(struct_fields::<Params>(), ["q", "limit"]);
        assert!(struct_fields::<NoParams>().is_empty());
    }

    #[test]
    fn a_missing_field_is_named() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Body {
            name: String,
        }
        let err = parse_json::<Body>(b"{}").unwrap_err();
        let HttpError::Domain(Error::Validation(fields)) = err else {
            panic!("{err:?}")
        };
        assert_eq!(fields[0].field, "name");
        assert_eq!(
            field_of("movements[2]", "missing field `kind`"),
            "movements[2].kind"
        );
    }

    #[test]
    fn a_bad_time_says_what_a_good_one_looks_like() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Body {
            at: chrono::DateTime<chrono::Utc>,
        }
        for bad in [r#"{"at": "tomorrow"}"#, r#"{"at": "2030-01-31"}"#] {
            let err = parse_json::<Body>(bad.as_bytes()).unwrap_err();
            let HttpError::Domain(Error::Validation(fields)) = err else {
                panic!("{err:?}")
            };
            assert_eq!(fields[0].field, "at");
            assert!(
                fields[0].message.contains("RFC 3339"),
                "{}",
                fields[0].message
            );
        }
    }
}

/// The address of the peer a connection came from (the listener puts it
/// on every request of the connection).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// Whether a proxy's `X-Forwarded-For` is believed (`INVENTORY_TRUST_PROXY`;
/// the service puts it on every request).
#[derive(Debug, Clone, Copy)]
pub struct TrustProxy(pub bool);

/// Where a sign-in comes from, as its session records it: the client
/// address (the first `X-Forwarded-For` entry behind a trusted proxy, else
/// the peer's IP) and the `User-Agent`.
pub struct Client(pub SessionClient);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header = |name: header::HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let trusted = parts.extensions.get::<TrustProxy>().is_some_and(|t| t.0);
        let forwarded = trusted
            .then(|| header(header::HeaderName::from_static("x-forwarded-for")))
            .flatten()
            .and_then(|v| v.split(',').next().map(|a| a.trim().to_owned()));
        let addr = forwarded.or_else(|| {
            parts
                .extensions
                .get::<PeerAddr>()
                .map(|p| p.0.ip().to_string())
        });
        Ok(Self(SessionClient::new(addr, header(header::USER_AGENT))))
    }
}
