//! The error half of the OpenAPI document, derived in one place.
//!
//! Every error the server sends is an RFC 9457 `application/problem+json`
//! document (`http::error::ProblemDoc`, the schema `Problem`). Rather than typing `(status = 4xx, body =
//! Problem)` on each `#[utoipa::path]`, where one is soon forgotten, the
//! [`ProblemResponses`] modifier walks every operation of the generated
//! document and adds the problem responses that follow from what the
//! operation declares:
//!
//! | the operation has | it documents |
//! |---|---|
//! | anything | 500 (a bug: logged, answered as a problem) |
//! | a `bearer` security requirement | 401 (no token, or a token that is not valid) |
//! | a use case needing more than a viewer (`api::v1::ROUTES` → `UseCase::access`) | 403, naming the permission |
//! | a route under `/api/` | 422 (a query parameter it does not take, or one given twice) |
//! | a request body (`ApiJson`) | 400 malformed JSON, 413 over 1 MiB, 415 not JSON, 422 wrong shape or invalid |
//! | a `text/csv` request body (an import) | 413 over 32 MiB, 415 not CSV in UTF-8, 422 rows or header invalid |
//! | a path parameter (ids) | 404 (no such resource; an id that is not a UUID names none) |
//! | a query parameter, or a header parameter other than `If-Match` | 422 (a value that cannot be used) |
//! | an `Idempotency-Key` header | 409 (the same key is still in flight) |
//! | an `If-Match` header | 412 (the resource changed since that ETag) |
//! | a database behind it (all but [`NO_DATABASE`]) | 503 (database unavailable; `Retry-After`) |
//!
//! The 403s come from the application's permission table, through the use
//! case each route calls. What no rule can see is in one small table,
//! [`BY_OPERATION`], keyed by operation id: the business conflicts (409)
//! and the login's own 401.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Ref, RefOr, Type};
use utoipa::Modify;

use crate::api::v1::use_case;
use inventory_app::Access;
use inventory_core::identity::Role;

/// The media type of every error response.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Operations that never reach the database, so never answer 503 problems
/// (`ready` reports the database itself, with a 503 of its own).
pub const NO_DATABASE: &[&str] = &["health", "ready"];

const STOCK_REFUSALS: &str =
    "Insufficient stock (`insufficient-stock`, with `location`, `available`, \
     `requested` and `elsewhere`, where else the item is available), or the item is archived \
     (`item-archived`)";

/// What rules cannot know, by operation id: the conflicts a use case can
/// report, and the login's 401. The tests check each id against the document.
pub const BY_OPERATION: &[(&str, &[(u16, &str)])] = &[
    (
        "login",
        &[
            (401, "Invalid credentials: the username or password is wrong"),
            (
                429,
                "Too many failed sign-ins for this username (5) or from this address (20) in \
                 15 minutes (`too-many-attempts`, with `retry_after`); refused before any \
                 password is checked. Retry after `Retry-After` seconds",
            ),
        ],
    ),
    (
        "create_user",
        &[(409, "Duplicate username (`duplicate-username`)")],
    ),
    (
        "patch_user",
        &[(
            409,
            "The last enabled administrator would be disabled or demoted (`last-admin`)",
        )],
    ),
    (
        "change_password",
        &[(
            400,
            "The current password is wrong (`wrong-password`); nothing changed",
        )],
    ),
    (
        "create_item",
        &[(
            409,
            "Duplicate SKU (`duplicate-sku`) or barcode (`duplicate-barcode`)",
        )],
    ),
    (
        "patch_item",
        &[(
            409,
            "Duplicate SKU (`duplicate-sku`): the new SKU is taken, in any case; \
             or duplicate barcode (`duplicate-barcode`)",
        )],
    ),
    (
        "delete_item",
        &[(409, "The item holds stock (`item-has-stock`)")],
    ),
    (
        "create_location",
        &[(409, "Duplicate location code (`duplicate-location-code`)")],
    ),
    (
        "patch_location",
        &[(409, "Duplicate location code (`duplicate-location-code`)")],
    ),
    ("create_movement", &[(409, STOCK_REFUSALS)]),
    (
        "create_batch",
        &[(409, "Insufficient stock or an archived item, as for one movement; `index` names the first failing movement")],
    ),
    (
        "post_stock_count",
        &[(
            409,
            "A counted item moved at the location after `as_of_seq` (`count-outdated`, the items in \
             `moved`: count them again), or an adjustment was refused (an archived item, or \
             reserved stock the count would take away)",
        )],
    ),
    (
        "create_reservation",
        &[(
            409,
            "Not enough available at the location (`insufficient-stock`, with `available` and \
             `requested`), or the item is archived (`item-archived`)",
        )],
    ),
    (
        "patch_reservation",
        &[(
            409,
            "The reservation has ended (`invalid-transition`, its status in `current_status`)",
        )],
    ),
    (
        "release_reservation",
        &[(
            409,
            "The reservation has ended (`invalid-transition`, its status in `current_status`)",
        )],
    ),
    (
        "create_sales_order",
        &[(
            409,
            "A held cart's line lacks stock (`insufficient-stock`, naming the line in `index` and `line_id`), \
             or an item is archived (`item-archived`)",
        )],
    ),
    (
        "patch_sales_order",
        &[(409, SALES_REFUSALS)],
    ),
    ("hold_sales_order", &[(409, SALES_REFUSALS)]),
    ("confirm_sales_order", &[(409, SALES_REFUSALS)]),
    (
        "ship_sales_order",
        &[(
            409,
            "The order is not confirmed or partially shipped (`invalid-transition`, its status in \
             `current_status`)",
        )],
    ),
    (
        "cancel_sales_order",
        &[(
            409,
            "The order is shipped or cancelled already (`invalid-transition`, its status in `current_status`)",
        )],
    ),
    (
        "reverse_movement",
        &[
            (409, STOCK_REFUSALS),
            (409, "The movement was reversed already (`already-reversed`), or is itself a reversal (`not-reversible`)"),
        ],
    ),
    (
        "create_party",
        &[(409, "Duplicate party code (`duplicate-party-code`)")],
    ),
    (
        "patch_party",
        &[(
            409,
            "Duplicate party code (`duplicate-party-code`), or archiving a party with open \
             orders (`party-has-open-orders`)",
        )],
    ),
    ("patch_purchase_order", &[(409, INVALID_TRANSITION)]),
    ("submit_purchase_order", &[(409, INVALID_TRANSITION)]),
    (
        "receive_purchase_order",
        &[
            (409, INVALID_TRANSITION),
            (
                409,
                "More than a line still expects (`over-receipt`, with `line_id`, `outstanding` \
                 and `requested`) without `allow_over_receipt`, or an archived item \
                 (`item-archived`)",
            ),
        ],
    ),
    ("cancel_purchase_order", &[(409, INVALID_TRANSITION)]),
];

const SALES_REFUSALS: &str = "The order is no longer a draft (`invalid-transition`, its status in \
     `current_status`), or a line lacks stock (`insufficient-stock`, naming the line in `index` and \
     `line_id`, with `available` and `requested`)";
const INVALID_TRANSITION: &str =
    "Not allowed from the order's status (`invalid-transition`, with `current_status` and \
     `action`)";

/// The problem responses of one operation: status → reasons.
fn problem_statuses(id: &str, method: &str, path: &str, op: &Operation) -> Vec<(u16, Vec<String>)> {
    let mut out: Vec<(u16, Vec<String>)> = Vec::new();
    let mut add = |status: u16, reason: &str| match out.iter_mut().find(|(s, _)| *s == status) {
        Some((_, reasons)) => {
            if !reasons.iter().any(|r| r == reason) {
                reasons.push(reason.to_owned());
            }
        }
        None => out.push((status, vec![reason.to_owned()])),
    };

    add(
        500,
        "Internal error (details are logged under the request id, never sent)",
    );
    if is_secured(op) {
        add(
            401,
            "Unauthorized: no bearer token, or one that is not valid",
        );
    }
    match use_case(method, path).map(|u| u.access()) {
        Some(Access::Needs(permission)) => {
            let role = if permission.min_role() > Role::Viewer {
                format!(
                    "needs the permission `{}`, which the role {} and above have (`forbidden`); ",
                    permission.as_str(),
                    permission.min_role().as_str()
                )
            } else {
                String::new()
            };
            add(
                403,
                &format!(
                    "Forbidden: {role}an API token needs the scope `{}` (`scope-missing`); \
                     or the caller signed in with a one-time password and must change it first \
                     (`password-change-required`)",
                    permission.scope().as_str()
                ),
            );
        }
        Some(Access::Session) => add(
            403,
            "Forbidden: an API token cannot do this; sign in and use the session's token \
             (`session-required`)",
        ),
        _ => {}
    }
    if path.starts_with("/api/") {
        add(
            422,
            "Validation error (`validation-error`): a query parameter the route does not take, or one given twice",
        );
    }
    if op.request_body.as_ref().is_some_and(is_csv) {
        add(
            413,
            "The file is larger than 32 MiB (`payload-too-large`); split it",
        );
        add(
            415,
            "The body is not sent as `text/csv` in UTF-8 (`unsupported-media-type`)",
        );
        add(
            422,
            "Validation error (`validation-error`): nothing was written; `errors` names every \
             error by row and column (`row 7.barcode`; the header is row 1)",
        );
    } else if op.request_body.as_ref().is_some_and(has_content) {
        add(400, "Malformed JSON (`malformed-json`)");
        add(413, "The body is larger than 1 MiB (`payload-too-large`)");
        add(
            415,
            "The body is not sent as `application/json` (`unsupported-media-type`)",
        );
        add(
            422,
            "Validation error (`validation-error`): `errors` names each field and what is wrong",
        );
    }
    for param in op.parameters.iter().flatten() {
        match (&param.parameter_in, param.name.as_str()) {
            (ParameterIn::Path, _) => add(404, "Not found: no such resource (`not-found`)"),
            (ParameterIn::Header, name) if name.eq_ignore_ascii_case("if-match") => add(
                412,
                "Precondition failed: the resource changed since that ETag (`precondition-failed`)",
            ),
            (ParameterIn::Header, name) if name.eq_ignore_ascii_case("idempotency-key") => {
                add(
                    409,
                    "A request with this `Idempotency-Key` is still in flight (`idempotency-in-flight`)",
                );
                add(
                    422,
                    "The `Idempotency-Key` is not 1-255 visible ASCII characters (`validation-error`), or was used with another request (`idempotency-key-reused`)",
                );
            }
            (ParameterIn::Query | ParameterIn::Header, name) => add(
                422,
                &format!("Validation error (`validation-error`): `{name}` cannot be used"),
            ),
            (ParameterIn::Cookie, _) => {}
        }
    }
    if !NO_DATABASE.contains(&id) {
        add(
            503,
            "The database is unavailable (`service-unavailable`); retry after `Retry-After` seconds",
        );
    }
    for (_, extra) in BY_OPERATION.iter().filter(|(op_id, _)| *op_id == id) {
        for (status, reason) in *extra {
            add(*status, reason);
        }
    }
    out.sort_by_key(|(status, _)| *status);
    out
}

/// Whether the operation requires a credential (an empty requirement, `{}`,
/// would make it optional).
fn is_secured(op: &Operation) -> bool {
    op.security.as_ref().is_some_and(|reqs| {
        !reqs.is_empty() && reqs.iter().all(|r| *r != SecurityRequirement::default())
    })
}

fn has_content(body: &RequestBody) -> bool {
    !body.content.is_empty()
}

/// A body that is a CSV file (an import), not JSON.
fn is_csv(body: &RequestBody) -> bool {
    body.content
        .keys()
        .any(|media_type| media_type == "text/csv")
}

/// Adds every operation's problem responses; see the module docs.
pub struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (method, op) in [
                ("GET", &mut item.get),
                ("PUT", &mut item.put),
                ("POST", &mut item.post),
                ("DELETE", &mut item.delete),
                ("OPTIONS", &mut item.options),
                ("HEAD", &mut item.head),
                ("PATCH", &mut item.patch),
                ("TRACE", &mut item.trace),
            ] {
                let Some(op) = op else { continue };
                let id = op.operation_id.clone().unwrap_or_default();
                for (status, reasons) in problem_statuses(&id, method, path, op) {
                    let key = status.to_string();
                    // A response the path attribute documents itself (such as
                    // `ready`'s 503) stands.
                    if op.responses.responses.contains_key(&key) {
                        continue;
                    }
                    op.responses
                        .responses
                        .insert(key, RefOr::T(problem_response(status, &reasons)));
                }
            }
        }
    }
}

fn problem_response(status: u16, reasons: &[String]) -> utoipa::openapi::Response {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build();
    let mut response = ResponseBuilder::new()
        .description(reasons.join(". "))
        .content(PROBLEM_JSON, content);
    let string = || {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(Type::String)
            .build()
    };
    match status {
        401 => {
            response = response.header(
                "WWW-Authenticate",
                HeaderBuilder::new()
                    .schema(string())
                    .description(Some("`Bearer`"))
                    .build(),
            );
        }
        429 | 503 => {
            response = response.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(string())
                    .description(Some("Seconds to wait before retrying"))
                    .build(),
            );
        }
        _ => {}
    }
    response.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::openapi::ApiDoc;
    use crate::http::error::HttpError;
    use axum::response::IntoResponse;
    use inventory_core::error::Availability;
    use inventory_core::identity::Permission;
    use inventory_core::{Error, FieldError};
    use serde_json::Value;
    use utoipa::OpenApi;

    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    /// The document as clients read it.
    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).unwrap()
    }

    /// (operation id, "METHOD path", operation) for every operation.
    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in METHODS {
                if let Some(op) = item.get(method) {
                    let id = op["operationId"].as_str().unwrap_or_default().to_owned();
                    out.push((id, format!("{} {path}", method.to_uppercase()), op.clone()));
                }
            }
        }
        assert!(out.len() >= 20, "only {} operations", out.len());
        out
    }

    fn secured(op: &Value) -> bool {
        op["security"].as_array().is_some_and(|reqs| {
            !reqs.is_empty() && reqs.iter().all(|r| r != &serde_json::json!({}))
        })
    }

    /// Fails unless `op` documents `status` as a problem+json `Problem`.
    fn assert_problem(name: &str, op: &Value, status: &str) {
        let response = &op["responses"][status];
        assert!(
            response.is_object(),
            "{name} does not document {status}; it documents {:?}",
            op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>()
        );
        let content = response["content"].as_object();
        let types: Vec<&String> = content.map(|c| c.keys().collect()).unwrap_or_default();
        assert_eq!(
            types,
            vec![PROBLEM_JSON],
            "{name} documents {status} as {types:?}"
        );
        assert_eq!(
            response["content"][PROBLEM_JSON]["schema"]["$ref"], "#/components/schemas/Problem",
            "{name} {status}"
        );
    }

    #[test]
    fn every_authenticated_operation_documents_401_as_problem_json() {
        let doc = document();
        let mut checked = 0;
        for (_, name, op) in operations(&doc) {
            if secured(&op) {
                assert_problem(&name, &op, "401");
                assert!(
                    op["responses"]["401"]["headers"]["WWW-Authenticate"].is_object(),
                    "{name}: 401 without WWW-Authenticate"
                );
                checked += 1;
            }
        }
        assert!(checked >= 15, "only {checked} authenticated operations");
    }

    #[test]
    fn no_error_response_is_documented_as_application_json() {
        let doc = document();
        for (id, name, op) in operations(&doc) {
            for (status, response) in op["responses"].as_object().unwrap() {
                let code: u16 = status.parse().unwrap_or(0);
                // `ready` answers its own readiness report, 200 or 503.
                if code < 400 || (id == "ready" && code == 503) {
                    continue;
                }
                assert_problem(&name, &op, status);
                assert!(
                    !response["description"]
                        .as_str()
                        .unwrap_or_default()
                        .is_empty(),
                    "{name} {status} has no description"
                );
            }
        }
    }

    #[test]
    fn the_rules_apply_to_every_operation() {
        let doc = document();
        for (id, name, op) in operations(&doc) {
            assert_problem(&name, &op, "500");
            if let Some(body) = op.get("requestBody") {
                // A CSV file is not JSON: it cannot be malformed JSON.
                let statuses: &[&str] = if body["content"].get("text/csv").is_some() {
                    &["413", "415", "422"]
                } else {
                    &["400", "413", "415", "422"]
                };
                for status in statuses {
                    assert_problem(&name, &op, status);
                }
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let has = |place: &str, name: Option<&str>| {
                params.iter().any(|p| {
                    p["in"] == place
                        && name.is_none_or(|n| p["name"].as_str().unwrap().eq_ignore_ascii_case(n))
                })
            };
            if has("path", None) {
                assert_problem(&name, &op, "404");
            }
            if has("query", None) || has("header", Some("Idempotency-Key")) {
                assert_problem(&name, &op, "422");
            }
            if has("header", Some("Idempotency-Key")) {
                assert_problem(&name, &op, "409");
            }
            if has("header", Some("If-Match")) {
                assert_problem(&name, &op, "412");
            }
            if NO_DATABASE.contains(&id.as_str()) {
                assert!(
                    op["responses"]["503"].is_null() || id == "ready",
                    "{name} documents a 503 problem but touches no database"
                );
            } else {
                assert_problem(&name, &op, "503");
                assert!(
                    op["responses"]["503"]["headers"]["Retry-After"].is_object(),
                    "{name}: 503 without Retry-After"
                );
            }
        }
    }

    #[test]
    fn the_table_names_only_operations_that_exist() {
        let doc = document();
        let ids: Vec<String> = operations(&doc).into_iter().map(|(id, ..)| id).collect();
        for (id, extra) in BY_OPERATION {
            assert!(
                ids.iter().any(|i| i == id),
                "BY_OPERATION names `{id}`, no operation"
            );
            for (status, _) in *extra {
                let op = operations(&doc)
                    .into_iter()
                    .find(|(i, ..)| i == id)
                    .unwrap();
                assert_problem(&op.1, &op.2, &status.to_string());
            }
        }
    }

    /// The handler sources, split at each `#[utoipa::path(`: (handler name,
    /// its attribute and body up to the next one).
    fn handlers() -> Vec<(String, String)> {
        let sources = [
            include_str!("../../api/v1/auth.rs"),
            include_str!("../../api/v1/events.rs"),
            include_str!("../../api/v1/items.rs"),
            include_str!("../../api/v1/locations.rs"),
            include_str!("../../api/v1/movements.rs"),
            include_str!("../../api/v1/users.rs"),
            include_str!("../../api/system.rs"),
        ];
        let mut out = Vec::new();
        for source in sources {
            for chunk in source.split("#[utoipa::path(").skip(1) {
                let name = chunk
                    .split("pub async fn ")
                    .nth(1)
                    .and_then(|rest| rest.split('(').next())
                    .expect("a handler after #[utoipa::path]")
                    .to_owned();
                out.push((name, chunk.to_owned()));
            }
        }
        assert!(out.len() >= 20, "found only {} handlers", out.len());
        out
    }

    /// 403 is documented where a role can be refused (a permission above a
    /// viewer's, named), where an API token can (every permission: its
    /// scope, named; a use case that needs a session), and nowhere else.
    #[test]
    fn a_403_is_documented_exactly_where_a_role_or_a_token_can_be_refused() {
        let doc = document();
        for (_, name, op) in operations(&doc) {
            let (method, path) = name.split_once(' ').unwrap();
            let reason = op["responses"]["403"]["description"].as_str();
            match use_case(method, path).map(|u| u.access()) {
                Some(Access::Needs(permission)) => {
                    assert_problem(&name, &op, "403");
                    let reason = reason.unwrap();
                    assert!(
                        reason.contains(&format!("`{}`", permission.scope().as_str())),
                        "{name}: {reason}"
                    );
                    assert_eq!(
                        reason.contains(permission.as_str()),
                        permission.min_role() > Role::Viewer,
                        "{name}: {reason}"
                    );
                }
                Some(Access::Session) => {
                    assert_problem(&name, &op, "403");
                    assert!(reason.unwrap().contains("session-required"), "{name}");
                }
                _ => assert!(reason.is_none(), "{name} documents 403"),
            }
        }
        // Each permission above a viewer's is documented somewhere.
        for permission in Permission::ALL
            .iter()
            .filter(|p| p.min_role() > Role::Viewer)
        {
            let text = doc.to_string();
            assert!(
                text.contains(permission.as_str()),
                "{}",
                permission.as_str()
            );
        }
    }

    #[test]
    fn no_path_attribute_types_its_own_problem_responses() {
        for (handler, code) in handlers() {
            let attribute = code.split("pub async fn").next().unwrap();
            assert!(
                !attribute.contains("Problem"),
                "{handler}: problem responses come from routes::openapi, not the attribute"
            );
        }
    }

    /// Every member a problem can carry is in the `Problem` schema, with
    /// the type it is sent as.
    #[tokio::test]
    async fn the_problem_schema_names_every_member_the_server_sends() {
        let doc = document();
        let schema = &doc["components"]["schemas"]["Problem"];
        let properties = schema["properties"].as_object().unwrap();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(required, ["type", "title", "status", "detail"]);
        let errors: Vec<HttpError> = vec![
            Error::Unauthorized.into(),
            HttpError::MalformedJson("x".into()),
            Error::Validation(vec![FieldError::new("sku", "is required")]).into(),
            Error::Forbidden {
                permission: Permission::ItemsWrite,
                role: Role::Clerk,
            }
            .into(),
            Error::InsufficientStock {
                location: "A1".into(),
                available: 1,
                requested: 2,
                elsewhere: vec![Availability {
                    location: "B2".into(),
                    available: 5,
                }],
            }
            .at_index(3)
            .into(),
            Error::Validation(vec![FieldError::new("quantity", "must be positive")])
                .at_index(7)
                .into(),
            Error::CountOutdated {
                location: "MAIN".into(),
                as_of_seq: 4,
                moved: vec![inventory_core::error::MovedItem {
                    item_id: uuid::Uuid::nil(),
                    sku: "A".into(),
                }],
            }
            .into(),
            Error::AtLine {
                index: 1,
                line_id: uuid::Uuid::nil(),
                sku: "A".into(),
                source: Box::new(Error::InsufficientStock {
                    location: "MAIN".into(),
                    available: 1,
                    requested: 2,
                    elsewhere: Vec::new(),
                }),
            }
            .into(),
            Error::InvalidTransition {
                entity: "reservation",
                status: "released".into(),
                action: "release",
            }
            .into(),
            Error::invalid_transition("purchase order", "received", "submit").into(),
            Error::OverReceipt {
                line_id: uuid::Uuid::nil(),
                sku: "A".into(),
                outstanding: 1,
                requested: 2,
            }
            .into(),
            Error::TooManyAttempts { retry_after: 60 }.into(),
            Error::ScopeMissing {
                scope: inventory_core::identity::Scope::Read,
                permission: inventory_core::identity::Permission::InventoryRead,
            }
            .into(),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for error in errors {
            let response = error.into_response();
            let body = axum::body::to_bytes(response.into_body(), 65536)
                .await
                .unwrap();
            let problem: Value = serde_json::from_slice(&body).unwrap();
            for (key, value) in problem.as_object().unwrap() {
                let property = properties
                    .get(key)
                    .unwrap_or_else(|| panic!("`{key}` is sent but not in the Problem schema"));
                // An enum (the role) is documented by reference to its schema.
                if property.get("$ref").is_some() || property.get("oneOf").is_some() {
                    assert!(value.is_string(), "`{key}` is sent as {value}");
                    seen.insert(key.clone());
                    continue;
                }
                let types: Vec<&str> = match &property["type"] {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap()).collect(),
                    _ => panic!("`{key}` has no type: {property}"),
                };
                let sent = match value {
                    Value::String(_) => "string",
                    Value::Number(_) => "integer",
                    Value::Array(_) => "array",
                    other => panic!("`{key}` is sent as {other}"),
                };

                assert!(
                    types.contains(&sent),
                    "`{key}` is sent as {sent}, documented as {types:?}"
                );
                seen.insert(key.clone());
            }
        }
        for member in [
            "errors",
            "index",
            "location",
            "available",
            "requested",
            "elsewhere",
            "moved",
            "current_status",
            "line_id",
            "permission",
            "required_role",
            "action",
            "outstanding",
            "retry_after",
            "scope",
        ] {
            assert!(
                seen.contains(member),
                "no sample problem carried `{member}`"
            );
        }
    }
}
