//! The one HTTP error type. Every failure, domain or protocol, becomes one
//! [`Problem`] (RFC 9457): the API renders it as
//! `application/problem+json` ([`IntoResponse`]), the web UI as an HTML
//! page with the same meaning (`crate::web::error_page`). 5xx details go to
//! the log, never to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use inventory_core::error::{Availability, ConflictKind, MovedItem};
use inventory_core::identity::Role;
use inventory_core::{Error, FieldError};
use serde::Serialize;
use utoipa::ToSchema;

pub type ApiResult<T> = Result<T, HttpError>;

/// A failure to answer a request.
#[derive(Debug)]
pub enum HttpError {
    /// What the application layer refused or could not do.
    Domain(Error),
    MalformedJson(String),
    BadRequest(String),
    /// The body is not of the media type the route takes (named here).
    UnsupportedMediaType(&'static str),
    /// The body is over the route's limit, in bytes.
    PayloadTooLarge(usize),
    /// A validation problem with a summary of its own (a file whose rows
    /// each have errors: the detail counts them, `errors` lists them all).
    Invalid {
        detail: String,
        errors: Vec<FieldError>,
    },
    RouteNotFound,
    MethodNotAllowed,
    ShuttingDown,
}

impl From<Error> for HttpError {
    fn from(e: Error) -> Self {
        Self::Domain(e)
    }
}

/// The problem document: what every error response carries, and what the
/// OpenAPI document describes (the renderer serializes this very struct, so
/// the schema names every member the server sends). Clients should ignore
/// members they do not know.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemDoc {
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
    /// For insufficient stock: the other locations where the item is available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elsewhere: Option<Vec<Availability>>,
    /// For an outdated stock count: the counted items that moved after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved: Option<Vec<MovedItem>>,
    /// For an action the current status does not allow (`invalid-transition`):
    /// that status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_status: Option<String>,
    /// For a refusal of one line of an order (a short line, an
    /// over-receipt): that line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_id: Option<uuid::Uuid>,
    /// For a refusal of the caller's role: the permission the request needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
    /// For a refusal of the caller's role: the least role that has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_role: Option<Role>,
    /// For an invalid transition: what was asked (`submit`, `receive`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// For an over-receipt: what the line still expects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outstanding: Option<i64>,
    /// For throttled sign-ins (`too-many-attempts`): seconds until the next
    /// attempt is looked at, as the `Retry-After` header says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// For an API token refused for its scopes (`scope-missing`): the
    /// scope it lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The members some problems add to the four every problem has.
#[derive(Debug, Clone, Default)]
pub struct Members {
    /// For a batch of movements: the index of the first failing entry.
    pub index: Option<u32>,
    /// For insufficient stock: the location code that lacks it.
    pub location: Option<String>,
    /// For insufficient stock: the quantity that location has available.
    pub available: Option<i64>,
    /// For insufficient stock: the quantity asked for.
    pub requested: Option<i64>,
    /// For insufficient stock: the other locations where the item is available.
    pub elsewhere: Option<Vec<Availability>>,
    /// For an outdated stock count: the counted items that moved after it.
    pub moved: Option<Vec<MovedItem>>,
    /// For an invalid transition: the entity's current status.
    pub current_status: Option<String>,
    /// For a refusal of one line of an order: that line.
    pub line_id: Option<uuid::Uuid>,
    /// For a refusal of the caller's role: the permission the request needs.
    pub permission: Option<String>,
    /// For a refusal of the caller's role: the least role that has it.
    pub required_role: Option<Role>,
    /// For an invalid transition: what was asked.
    pub action: Option<String>,
    /// For an over-receipt: what the line still expects.
    pub outstanding: Option<i64>,
    /// For throttled sign-ins: seconds until the next attempt is looked at.
    pub retry_after: Option<u64>,
    /// For an API token refused for its scopes: the scope it lacks.
    pub scope: Option<String>,
}

/// A problem, ready for either renderer.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    /// Stable slug; the problem `type` is `/problems/<slug>`.
    pub slug: &'static str,
    pub title: &'static str,
    /// Safe to show: never internals.
    pub detail: String,
    /// For validation problems: what is wrong with which field.
    pub errors: Vec<FieldError>,
    /// Further members of the problem document.
    pub members: Members,
}

fn problem(
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: impl Into<String>,
) -> Problem {
    Problem {
        status,
        slug,
        title,
        detail: detail.into(),
        errors: Vec::new(),
        members: Members::default(),
    }
}

fn conflict_title(kind: ConflictKind) -> &'static str {
    match kind {
        ConflictKind::DuplicateSku => "Duplicate SKU",
        ConflictKind::DuplicateBarcode => "Duplicate barcode",
        ConflictKind::DuplicateLocationCode => "Duplicate location code",
        ConflictKind::DuplicateUsername => "Duplicate username",
        ConflictKind::LastAdmin => "Last administrator",
        ConflictKind::ItemArchived => "Item archived",
        ConflictKind::ItemHasStock => "Item has stock",
        ConflictKind::IdempotencyInFlight => "Request in flight",
        ConflictKind::AlreadyReversed => "Already reversed",
        ConflictKind::NotReversible => "Not reversible",
        ConflictKind::DuplicatePartyCode => "Duplicate party code",
        ConflictKind::PartyHasOpenOrders => "Party has open orders",
    }
}

fn field_detail(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn validation(errors: Vec<FieldError>) -> Problem {
    let detail = field_detail(&errors);
    let mut p = problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
        "Invalid request",
        detail,
    );
    p.errors = errors;
    p
}

fn domain_problem(e: Error) -> Problem {
    if let Some(errors) = e.field_errors() {
        return validation(errors);
    }
    match e {
        Error::NotFound(what) => problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("{what} not found"),
        ),
        Error::Conflict { kind, detail } => problem(
            StatusCode::CONFLICT,
            kind.slug(),
            conflict_title(kind),
            detail,
        ),
        e @ Error::InsufficientStock { .. } => {
            let detail = e.to_string();
            let Error::InsufficientStock {
                location,
                available,
                requested,
                elsewhere,
            } = e
            else {
                unreachable!("matched above")
            };
            let mut p = problem(
                StatusCode::CONFLICT,
                "insufficient-stock",
                "Insufficient stock",
                detail,
            );
            p.members.location = Some(location);
            p.members.available = Some(available);
            p.members.requested = Some(requested);
            p.members.elsewhere = Some(elsewhere);
            p
        }
        e @ Error::CountOutdated { .. } => {
            let detail = e.to_string();
            let Error::CountOutdated {
                location, moved, ..
            } = e
            else {
                unreachable!("matched above")
            };
            let mut p = problem(
                StatusCode::CONFLICT,
                "count-outdated",
                "Count outdated",
                detail,
            );
            p.members.location = Some(location);
            p.members.moved = Some(moved);
            p
        }
        e @ Error::InvalidTransition { .. } => {
            let detail = e.to_string();
            let Error::InvalidTransition { status, action, .. } = e else {
                unreachable!("matched above")
            };
            let mut p = problem(
                StatusCode::CONFLICT,
                "invalid-transition",
                "Invalid transition",
                detail,
            );
            p.members.current_status = Some(status);
            p.members.action = Some(action.to_owned());
            p
        }
        e @ Error::OverReceipt { .. } => {
            let detail = e.to_string();
            let Error::OverReceipt {
                line_id,
                outstanding,
                requested,
                ..
            } = e
            else {
                unreachable!("matched above")
            };
            let mut p = problem(StatusCode::CONFLICT, "over-receipt", "Over-receipt", detail);
            p.members.line_id = Some(line_id);
            p.members.outstanding = Some(outstanding);
            p.members.requested = Some(requested);
            p
        }
        Error::Unauthorized => problem(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            "a valid bearer token is required: get one with POST /api/v1/auth/login \
             {\"username\": ..., \"password\": ...} and send it as 'Authorization: Bearer <token>'",
        ),
        Error::InvalidCredentials => problem(
            StatusCode::UNAUTHORIZED,
            "invalid-credentials",
            "Invalid credentials",
            "the username or password is wrong",
        ),
        Error::TooManyAttempts { retry_after } => {
            let mut p = problem(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-attempts",
                "Too many sign-in attempts",
                format!(
                    "too many failed sign-ins for this username or from this address in the \
                     last 15 minutes; try again in {retry_after} seconds (an admin can reset \
                     the password meanwhile)"
                ),
            );
            p.members.retry_after = Some(retry_after);
            p
        }
        Error::PasswordChangeRequired => problem(
            StatusCode::FORBIDDEN,
            "password-change-required",
            "Password change required",
            "you signed in with a one-time password: choose your own with POST /api/v1/me/password \
             {\"current_password\": ..., \"new_password\": ...} before anything else \
             (GET /api/v1/me, your sessions and sign-out work meanwhile)",
        ),
        Error::WrongPassword => problem(
            StatusCode::BAD_REQUEST,
            "wrong-password",
            "Wrong password",
            "current_password is not your current password; nothing was changed",
        ),
        Error::Forbidden { permission, role } => {
            let mut p = problem(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                format!(
                    "this needs the permission '{}', which the role {} and above have; \
                     you are signed in as {} {}",
                    permission.as_str(),
                    permission.min_role().as_str(),
                    inventory_core::article(role.as_str()),
                    role.as_str()
                ),
            );
            p.members.permission = Some(permission.as_str().to_owned());
            p.members.required_role = Some(permission.min_role());
            p
        }
        Error::ScopeMissing { scope, permission } => {
            let mut p = problem(
                StatusCode::FORBIDDEN,
                "scope-missing",
                "Scope missing",
                format!(
                    "this API token's scopes do not cover the permission '{}': it needs the \
                     scope '{}' (make a token with it at POST /api/v1/me/tokens)",
                    permission.as_str(),
                    scope.as_str()
                ),
            );
            p.members.permission = Some(permission.as_str().to_owned());
            p.members.scope = Some(scope.as_str().to_owned());
            p
        }
        Error::SessionRequired => problem(
            StatusCode::FORBIDDEN,
            "session-required",
            "Session required",
            "an API token cannot do this (change a password, manage sessions or tokens): \
             sign in with POST /api/v1/auth/login and use that session's token",
        ),
        Error::PreconditionFailed => problem(
            StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            "Precondition failed",
            "the resource was changed since the given ETag; fetch it again",
        ),
        Error::IdempotencyMismatch => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency key reused",
            "this Idempotency-Key was used with a different request",
        ),
        Error::AtIndex { index, source } => {
            let mut p = domain_problem(*source);
            for e in &mut p.errors {
                e.field = format!("movements[{index}].{}", e.field);
            }
            p.detail = if p.errors.is_empty() {
                format!("movement {index}: {}", p.detail)
            } else {
                field_detail(&p.errors)
            };
            p.members.index = Some(u32::try_from(index).unwrap_or(u32::MAX));
            p
        }
        Error::AtLine {
            index,
            line_id,
            sku,
            source,
        } => {
            let mut p = domain_problem(*source);
            for e in &mut p.errors {
                e.field = format!("lines[{index}].{}", e.field);
            }
            let line = match sku.as_str() {
                "" => format!("line {index}"),
                sku => format!("line {index} ({sku})"),
            };
            p.detail = if p.errors.is_empty() {
                format!("{line}: {}", p.detail)
            } else {
                field_detail(&p.errors)
            };
            p.members.index = Some(u32::try_from(index).unwrap_or(u32::MAX));
            p.members.line_id = Some(line_id);
            p
        }
        Error::Unavailable(detail) => {
            tracing::error!(error = %detail, "database unavailable");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "service-unavailable",
                "Service unavailable",
                "the database is unavailable; retry shortly",
            )
        }
        Error::Internal(detail) => {
            tracing::error!(error = %detail, "internal error");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal-error",
                "Internal error",
                "an internal error occurred; the request id identifies it in the logs",
            )
        }
        Error::Validation(_) | Error::UnknownLocation { .. } => {
            unreachable!("validation errors are answered above")
        }
    }
}

impl HttpError {
    /// The problem this error stands for (logging 5xx details as it goes).
    pub fn problem(self) -> Problem {
        match self {
            Self::Domain(e) => domain_problem(e),
            Self::MalformedJson(detail) => problem(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                detail,
            ),
            Self::BadRequest(detail) => problem(
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Bad request",
                detail,
            ),
            Self::UnsupportedMediaType(media_type) => problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                format!("send the body as {media_type}"),
            ),
            Self::PayloadTooLarge(limit) => problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
                format!("the body is larger than {} MiB", limit / (1024 * 1024)),
            ),
            Self::Invalid { detail, errors } => {
                let mut p = validation(errors);
                p.detail = detail;
                p
            }
            Self::RouteNotFound => problem(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                "no such route; the API is described at /api/openapi.json and browsable at /docs/",
            ),
            Self::MethodNotAllowed => problem(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this route does not take that method",
            ),
            Self::ShuttingDown => problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "service-unavailable",
                "Service unavailable",
                "the server is shutting down",
            ),
        }
    }
}

impl Problem {
    /// The RFC 9457 document.
    pub fn document(&self) -> ProblemDoc {
        ProblemDoc {
            kind: format!("/problems/{}", self.slug),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            errors: (!self.errors.is_empty()).then(|| self.errors.clone()),
            index: self.members.index,
            location: self.members.location.clone(),
            available: self.members.available,
            requested: self.members.requested,
            elsewhere: self.members.elsewhere.clone(),
            moved: self.members.moved.clone(),
            current_status: self.members.current_status.clone(),
            line_id: self.members.line_id,
            permission: self.members.permission.clone(),
            required_role: self.members.required_role,
            action: self.members.action.clone(),
            outstanding: self.members.outstanding,
            retry_after: self.members.retry_after,
            scope: self.members.scope.clone(),
        }
    }

    /// Headers every renderer sends with this problem.
    pub fn add_headers(&self, response: &mut Response) {
        let headers = response.headers_mut();
        match self.status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let seconds = self.members.retry_after.unwrap_or(1);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            _ => {}
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        self.problem().into_response()
    }
}

/// The problem+json renderer.
impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        metrics::counter!("inventory_errors_total", "type" => self.slug).increment(1);
        let mut response = (self.status, axum::Json(self.document())).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        self.add_headers(&mut response);
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
    HttpError::Domain(Error::internal(format!("handler panicked: {message}"))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use axum::Router;
    use inventory_core::identity::Permission;
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

    #[test]
    fn a_refusal_says_which_permission_and_role_it_needs() {
        let p = HttpError::Domain(Error::Forbidden {
            permission: Permission::ItemsWrite,
            role: Role::Clerk,
        })
        .problem();
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        assert!(p.detail.contains("'items:write'"), "{}", p.detail);
        assert!(p.detail.contains("manager"), "{}", p.detail);
        assert!(p.detail.contains("as a clerk"), "{}", p.detail);
        let p = HttpError::Domain(Error::Unauthorized).problem();
        assert!(p.detail.contains("POST /api/v1/auth/login"), "{}", p.detail);
    }
}
