//! A field-level validation failure, shared by use cases and the HTTP problem body.

use serde::{Deserialize, Serialize};
use std::fmt::Display;

/// Which field was refused and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// JSON path of the field (e.g. `answers.7`, `birth_date`), or a header name.
    pub field: String,
    /// Why it was refused.
    pub reason: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A value that is not one of a fixed set of names (a list filter or a file cell):
/// "must be one of a, b, c".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of {}", .0.join(", "))]
pub struct NotOneOf(pub Vec<&'static str>);

/// The name in `names` that `raw` is, if any, else the refusal listing them all.
pub fn one_of<T: Copy>(
    raw: &str,
    names: impl IntoIterator<Item = (&'static str, T)>,
) -> Result<T, NotOneOf> {
    let mut seen = Vec::new();
    for (name, value) in names {
        if name == raw {
            return Ok(value);
        }
        seen.push(name);
    }
    Err(NotOneOf(seen))
}

/// Parses a required field: an absent one is reported `is required`, one that `parse` refuses
/// with `parse`'s reason.
pub fn required<T, E: Display>(
    field: &str,
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Option<T> {
    match raw {
        None => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
        Some(raw) => parsed(field, raw, errors, parse),
    }
}

/// Parses an optional field: an absent one is `default`, one that `parse` refuses is reported
/// with `parse`'s reason.
pub fn or_default<T, E: Display>(
    field: &str,
    raw: Option<&str>,
    default: T,
    errors: &mut Vec<FieldError>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Option<T> {
    match raw {
        None => Some(default),
        Some(raw) => parsed(field, raw, errors, parse),
    }
}

fn parsed<T, E: Display>(
    field: &str,
    raw: &str,
    errors: &mut Vec<FieldError>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Option<T> {
    parse(raw)
        .map_err(|reason| errors.push(FieldError::new(field, reason.to_string())))
        .ok()
}

/// Parses an optional field: an absent one is `None`, one that `parse` refuses is reported
/// with `parse`'s reason.
pub fn optional<T, E: Display>(
    field: &str,
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Option<T> {
    parsed(field, raw?, errors, parse)
}
