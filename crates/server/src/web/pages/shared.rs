//! What the pages share: movement rows, form fields with their errors,
//! and reading form and query values.

use crate::http::error::HttpError;
use crate::web::page::WebError;
use axum::http::StatusCode;
use inventory_core::error::ConflictKind;
use inventory_core::ledger::{Movement, MovementKind};
use inventory_core::{Error, FieldError};

/// A movement as the tables show it.
pub struct MovementRow {
    pub at: String,
    pub at_iso: String,
    pub item_id: String,
    pub sku: String,
    pub kind: &'static str,
    pub quantity: i64,
    /// Where: the location, or "FROM → TO" for a transfer.
    pub place: String,
    /// Reason and reference, as one line.
    pub note: String,
    pub id: String,
    /// Whether it can still be reversed (not a reversal, not reversed).
    pub reversible: bool,
}

impl From<&Movement> for MovementRow {
    fn from(m: &Movement) -> Self {
        let place = match m.kind {
            MovementKind::Transfer => format!(
                "{} → {}",
                m.from_location.as_deref().unwrap_or("?"),
                m.to_location.as_deref().unwrap_or("?")
            ),
            _ => m.location.clone().unwrap_or_default(),
        };
        let note = [m.reason.as_deref(), m.reference.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ");
        Self {
            at: m.created_at.format("%Y-%m-%d %H:%M").to_string(),
            at_iso: m.created_at.to_rfc3339(),
            item_id: m.item_id.to_string(),
            sku: m.sku.clone(),
            kind: m.kind.as_str(),
            quantity: m.quantity,
            place,
            note,
            id: m.id.to_string(),
            reversible: m.reverses.is_none() && m.reversed_by.is_none(),
        }
    }
}

/// One text input of a form, with its value and its error.
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub hint: Option<&'static str>,
    pub value: String,
    pub error: Option<String>,
    pub required: bool,
    /// `text`, `numeric` or `decimal`: the keyboard a phone shows.
    pub inputmode: &'static str,
    /// The input's `type`: `text`, or `password` (never filled back in).
    pub input_type: &'static str,
    /// Its `autocomplete` hint for the browser.
    pub autocomplete: &'static str,
}

impl Field {
    pub fn text(name: &'static str, label: &'static str, value: impl Into<String>) -> Self {
        Self {
            name,
            label,
            hint: None,
            value: value.into(),
            error: None,
            required: false,
            inputmode: "text",
            input_type: "text",
            autocomplete: "off",
        }
    }

    /// A new password: hidden as typed, offered to a password manager.
    pub fn new_password(name: &'static str, label: &'static str) -> Self {
        Self {
            input_type: "password",
            autocomplete: "new-password",
            ..Self::text(name, label, "")
        }
    }

    /// The password the user has now: hidden, offered by a password manager.
    pub fn current_password(name: &'static str, label: &'static str) -> Self {
        Self {
            input_type: "password",
            autocomplete: "current-password",
            ..Self::text(name, label, "")
        }
    }

    pub fn hint(mut self, hint: &'static str) -> Self {
        self.hint = Some(hint);
        self
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn inputmode(mut self, mode: &'static str) -> Self {
        self.inputmode = mode;
        self
    }
}

/// Sorts a use case's refusal for a form handler: what the visitor can fix
/// comes back to show beside the form; a missing permission, a missing
/// resource or a failure becomes the error page.
pub fn form_refusal(e: Error) -> Result<Error, WebError> {
    match e {
        Error::Forbidden { .. }
        | Error::PasswordChangeRequired
        | Error::NotFound(_)
        | Error::Unavailable(_)
        | Error::Internal(_) => Err(e.into()),
        other => Ok(other),
    }
}

/// Shows a refusal on a form: each field error beside its field, a
/// conflict (a taken SKU, code or name) beside the field `conflict_field`
/// names. Returns the status to answer with and the line to show above the
/// form (none for a stale version, which the page explains itself).
pub fn show_refusal(
    fields: &mut [Field],
    e: Error,
    conflict_field: impl Fn(ConflictKind) -> &'static str,
) -> (StatusCode, Option<String>) {
    let p = HttpError::Domain(e.clone()).problem();
    let check = || Some("Check the fields marked below.".to_owned());
    let line = match e {
        Error::Conflict { kind, .. } => {
            let name = conflict_field(kind);
            match fields.iter_mut().find(|f| f.name == name) {
                Some(field) => {
                    field.error = Some(p.detail);
                    check()
                }
                None => Some(p.detail),
            }
        }
        Error::PreconditionFailed => None,
        e => match e.field_errors() {
            Some(errors) => {
                let rest = place_errors(fields, errors, |f| f);
                if rest.is_empty() {
                    check()
                } else {
                    Some(
                        rest.iter()
                            .map(|e| format!("{}: {}", e.field, e.message))
                            .collect::<Vec<_>>()
                            .join("; "),
                    )
                }
            }
            None => Some(p.detail),
        },
    };
    (p.status, line)
}

/// Puts each field error beside its field (`rename` maps the use case's
/// field names to the form's); returns the errors no field took.
pub fn place_errors(
    fields: &mut [Field],
    errors: Vec<FieldError>,
    rename: impl Fn(&str) -> &str,
) -> Vec<FieldError> {
    let mut rest = Vec::new();
    for e in errors {
        let name = rename(&e.field);
        match fields.iter_mut().find(|f| f.name == name) {
            Some(field) if field.error.is_none() => field.error = Some(e.message),
            Some(_) => {}
            None => rest.push(e),
        }
    }
    rest
}

/// A form value: trimmed, `None` when blank.
pub fn filled(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The first value of a repeated-field form's `name`, trimmed ("" if absent).
pub fn form_value(pairs: &[(String, String)], name: &str) -> String {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

/// Parses a `before` ledger position (a page link's, so a bad one is a 422
/// page naming it).
pub fn parse_before(before: Option<&str>) -> Result<Option<i64>, WebError> {
    match before.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
            Error::invalid("before", "must be a ledger position (a whole number)").into()
        }),
    }
}

/// A page of the ledger, newest first (one item's, or all), older than the
/// ledger position `before`, with the link to the next page: `link` and
/// `?before=`.
pub async fn ledger_page(
    app: &inventory_app::App,
    visitor: &crate::web::session::Visitor,
    item_id: Option<uuid::Uuid>,
    limit: u32,
    before: Option<i64>,
    link: &str,
) -> Result<(Vec<MovementRow>, Option<String>), WebError> {
    use inventory_core::paging::{MovementQuery, SeqOrder};
    let page = app
        .list_movements(
            &visitor.principal,
            inventory_app::movements::MovementFilter {
                query: MovementQuery {
                    item_id,
                    order: SeqOrder::Desc,
                    limit,
                    after_seq: before,
                    ..MovementQuery::default()
                },
                sku: None,
            },
        )
        .await?;
    let next = page
        .next_cursor
        .as_ref()
        .and(page.rows.last())
        .map(|m| format!("{link}?before={}", m.seq));
    Ok((page.rows.iter().map(MovementRow::from).collect(), next))
}

/// A form with no fields but its CSRF token (sign out, "make default").
#[derive(serde::Deserialize)]
pub struct NoFields {}
