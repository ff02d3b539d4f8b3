//! Parsing query-string values (and form fields) into domain values, with
//! errors that name the parameter. Shared by the API and the web UI.

use chrono::{DateTime, Utc};
use inventory_core::paging::{check_limit, decode_cursor};
use inventory_core::Error;
use serde::de::DeserializeOwned;

pub fn parse_bool(field: &str, value: Option<&str>) -> Result<bool, Error> {
    match value {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(Error::invalid(field, "must be true or false")),
    }
}

/// A free-text parameter: absent when empty; control characters (which no
/// stored text holds, and PostgreSQL cannot even take) are a 422.
pub fn text_param(field: &str, value: Option<String>) -> Result<Option<String>, Error> {
    match value.filter(|v| !v.is_empty()) {
        Some(v) if v.chars().any(char::is_control) => {
            Err(Error::invalid(field, "must not contain control characters"))
        }
        Some(v) if v.chars().count() > 200 => {
            Err(Error::invalid(field, "must be at most 200 characters"))
        }
        other => Ok(other),
    }
}

pub fn parse_limit(value: Option<&str>) -> Result<u32, Error> {
    let limit = match value {
        None | Some("") => None,
        Some(v) => Some(
            v.parse::<u32>()
                .map_err(|_| Error::invalid("limit", "must be from 1 to 500"))?,
        ),
    };
    check_limit(limit)
}

pub fn parse_time(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, Error> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    Error::invalid(
                        field,
                        "must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z",
                    )
                })
        })
        .transpose()
}

pub fn parse_uuid(field: &str, value: Option<&str>) -> Result<Option<uuid::Uuid>, Error> {
    value
        .filter(|s| !s.is_empty())
        .map(|s| uuid::Uuid::parse_str(s).map_err(|_| Error::invalid(field, "must be a UUID")))
        .transpose()
}

/// A cursor from a previous page, if given.
pub fn parse_cursor<T: DeserializeOwned>(value: Option<&str>) -> Result<Option<T>, Error> {
    value
        .filter(|c| !c.is_empty())
        .map(decode_cursor)
        .transpose()
}
