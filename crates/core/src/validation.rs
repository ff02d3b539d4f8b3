//! Field checks, limits and the clock shared by every area's rules.

use crate::error::{Error, FieldError, Result};
use chrono::{DateTime, Utc};

/// The largest quantity one movement may carry (and a reorder point may
/// name), so totals never overflow.
pub const MAX_QUANTITY: i64 = 1_000_000_000;

/// The current time at the precision every backend stores (microseconds),
/// so that a value built now reads back exactly as written.
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// Checks a free-text field's length (in characters) and content.
pub(crate) fn check_text(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: &str,
    min: usize,
    max: usize,
) {
    let len = value.chars().count();
    if len < min || len > max {
        let msg = if min > 0 {
            format!("must be {min}-{max} characters")
        } else {
            format!("must be at most {max} characters")
        };
        errors.push(FieldError::new(field, msg));
    } else if min > 0 && value.trim().is_empty() {
        errors.push(FieldError::new(field, "must not be blank"));
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
}

/// An empty or blank optional text means "none" (forms send empty fields);
/// other text is trimmed.
pub(crate) fn blank_is_none(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// Checks an email address as far as is useful: 1-254 characters with an `@`.
pub(crate) fn check_email(errors: &mut Vec<FieldError>, field: &str, email: &str) {
    check_text(errors, field, email, 1, 254);
    if !email.contains('@') {
        errors.push(FieldError::new(field, "must be an email address"));
    }
}

/// `Ok` when no check failed, else one validation error naming them all.
pub(crate) fn finish(errors: Vec<FieldError>) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

/// Case folding for case-insensitive matching (SKUs, names, categories).
/// Every backend stores and compares this form, computed here, so that they
/// agree beyond ASCII (SQLite's own `lower()` folds ASCII only).
pub fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// "a" or "an" before a word, for messages such as "an issue movement".
pub fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some(c) if "aeiouAEIOU".contains(c) => "an",
        _ => "a",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles_follow_the_sound_of_vowels() {
        assert_eq!(article("issue"), "an");
        assert_eq!(article("adjust"), "an");
        assert_eq!(article("receive"), "a");
        assert_eq!(article("transfer"), "a");
    }

    #[test]
    fn folding_goes_beyond_ascii() {
        assert_eq!(fold("ÄPFEL-Ø"), "äpfel-ø");
    }
}
