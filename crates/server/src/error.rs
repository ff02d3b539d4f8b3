//! The one HTTP error type. Every failure renders as RFC 9457
//! `application/problem+json`; 5xx details go to the log, never the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use inventory_core::error::ConflictKind;
use inventory_core::{Error, FieldError};
use serde::Serialize;
use utoipa::ToSchema;

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug)]
pub enum ApiError {
    Domain(Error),
    Unauthorized,
    InvalidCredentials,
    Forbidden,
    MalformedJson(String),
    BadRequest(String),
    UnsupportedMediaType,
    PayloadTooLarge,
    RouteNotFound,
    MethodNotAllowed,
    ShuttingDown,
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self::Domain(e)
    }
}

/// The problem document: what every error response carries, and what the
/// OpenAPI document describes (`IntoResponse` serializes this very struct, so
/// the schema names every member the server sends). Clients should ignore
/// members they do not know.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// URI reference naming the problem type; its last segment is a stable slug.
    #[serde(rename = "type")]
    #[schema(example = "/problems/validation-error")]
    pub kind: String,
    pub title: String,
    /// The HTTP status, repeated.
    pub status: u16,
    pub detail: String,
    /// For validation problems: what is wrong with which field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// For a batch of movements: the index of the first failing entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// For insufficient stock: the location code that lacks it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// For insufficient stock: the quantity that location has available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<i64>,
    /// For insufficient stock: the quantity asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested: Option<i64>,
}

/// The members some problems add to the four every problem has.
#[derive(Default)]
struct Extra {
    errors: Option<Vec<FieldError>>,
    index: Option<u32>,
    location: Option<String>,
    available: Option<i64>,
    requested: Option<i64>,
}

struct Parts {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: String,
    extra: Extra,
}

fn parts(
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: impl Into<String>,
) -> Parts {
    Parts {
        status,
        slug,
        title,
        detail: detail.into(),
        extra: Extra::default(),
    }
}

fn domain_parts(e: Error) -> Parts {
    match e {
        Error::NotFound(what) => parts(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("{what} not found"),
        ),
        Error::Conflict { kind, detail } => {
            let title = match kind {
                ConflictKind::DuplicateSku => "Duplicate SKU",
                ConflictKind::DuplicateLocationCode => "Duplicate location code",
                ConflictKind::DuplicateUsername => "Duplicate username",
                ConflictKind::ItemArchived => "Item archived",
                ConflictKind::ItemHasStock => "Item has stock",
                ConflictKind::IdempotencyInFlight => "Request in flight",
            };
            parts(StatusCode::CONFLICT, kind.slug(), title, detail)
        }
        e @ Error::InsufficientStock { .. } => {
            let detail = e.to_string();
            let Error::InsufficientStock {
                location,
                available,
                requested,
            } = e
            else {
                unreachable!()
            };
            let mut p = parts(
                StatusCode::CONFLICT,
                "insufficient-stock",
                "Insufficient stock",
                detail,
            );
            p.extra.location = Some(location);
            p.extra.available = Some(available);
            p.extra.requested = Some(requested);
            p
        }
        Error::PreconditionFailed => parts(
            StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            "Precondition failed",
            "the resource was changed since the given ETag; fetch it again",
        ),
        Error::Validation(errors) => {
            let detail = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            let mut p = parts(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation-error",
                "Invalid request",
                detail,
            );
            p.extra.errors = Some(errors);
            p
        }
        Error::IdempotencyMismatch => parts(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency key reused",
            "this Idempotency-Key was used with a different request",
        ),
        Error::AtIndex { index, source } => {
            let mut p = domain_parts(*source);
            p.detail = format!("movement {index}: {}", p.detail);
            p.extra.index = Some(u32::try_from(index).unwrap_or(u32::MAX));
            p
        }
        Error::Unavailable(detail) => {
            tracing::error!(error = %detail, "database unavailable");
            parts(
                StatusCode::SERVICE_UNAVAILABLE,
                "service-unavailable",
                "Service unavailable",
                "the database is unavailable; retry shortly",
            )
        }
        Error::Internal(detail) => {
            tracing::error!(error = %detail, "internal error");
            parts(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal-error",
                "Internal error",
                "an internal error occurred; the request id identifies it in the logs",
            )
        }
    }
}

impl ApiError {
    fn parts(self) -> Parts {
        match self {
            Self::Domain(e) => domain_parts(e),
            Self::Unauthorized => parts(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
                "a valid bearer token is required",
            ),
            Self::InvalidCredentials => parts(
                StatusCode::UNAUTHORIZED,
                "invalid-credentials",
                "Invalid credentials",
                "the username or password is wrong",
            ),
            Self::Forbidden => parts(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                "your role does not allow this",
            ),
            Self::MalformedJson(detail) => parts(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                detail,
            ),
            Self::BadRequest(detail) => parts(
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Bad request",
                detail,
            ),
            Self::UnsupportedMediaType => parts(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the body as application/json",
            ),
            Self::PayloadTooLarge => parts(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
                "the body is larger than 1 MiB",
            ),
            Self::RouteNotFound => parts(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                "no such route",
            ),
            Self::MethodNotAllowed => parts(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this route does not take that method",
            ),
            Self::ShuttingDown => parts(
                StatusCode::SERVICE_UNAVAILABLE,
                "service-unavailable",
                "Service unavailable",
                "the server is shutting down",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let p = self.parts();
        metrics::counter!("inventory_errors_total", "type" => p.slug).increment(1);
        let body = Problem {
            kind: format!("/problems/{}", p.slug),
            title: p.title.to_owned(),
            status: p.status.as_u16(),
            detail: p.detail,
            errors: p.extra.errors,
            index: p.extra.index,
            location: p.extra.location,
            available: p.extra.available,
            requested: p.extra.requested,
        };
        let mut response = (p.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match p.status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            }
            _ => {}
        }
        response
    }
}

/// The answer when a handler panics: a 500 problem like any internal error
/// (logged with the panic message), instead of a connection dropped with no
/// response at all.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    ApiError::Domain(Error::internal(format!("handler panicked: {message}"))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use axum::Router;
    use serde_json::Value;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_is_answered_500_problem() {
        async fn boom() -> &'static str {
            panic!("boom")
        }
        let app = Router::new().route("/boom", get(boom)).layer(
            tower_http::catch_panic::CatchPanicLayer::custom(panic_response),
        );
        let request = Request::builder().uri("/boom").body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["status"], 500);
        assert!(
            !problem["detail"].as_str().unwrap().contains("boom"),
            "internals leak"
        );
    }
}
