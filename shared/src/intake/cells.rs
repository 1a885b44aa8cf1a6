//! Cell parsers more than one kind of partner file uses (dates, partner ids, clipped
//! values for reports), so kinds need not borrow them from each other.

use crate::domain::FieldError;
use chrono::NaiveDate;

/// `YYYY-MM-DD` exactly (zero-padded), a real calendar date. Hand-written: it runs once per
/// row, and chrono's format-string parser costs several times the CSV parsing itself.
pub(crate) fn parse_iso_date(raw: &str) -> Option<NaiveDate> {
    let b = raw.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| {
        b[range].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, num(5..7)?, num(8..10)?)
}

/// A cell value cut to 50 characters, for a report naming it.
pub(crate) fn clip(s: &str) -> String {
    s.chars().take(50).collect()
}

/// Checks an `external_id`: 1 to 64 of ASCII letters, digits, `-`, `_`, `.`, `:`, `/`.
pub fn check_external_id(raw: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b));
    if ok {
        Ok(())
    } else {
        Err("must be 1 to 64 letters, digits, '-', '_', '.', ':' or '/'".into())
    }
}

/// Parses a required `external_id` column value.
pub(crate) fn external_id(
    field: &str,
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match raw {
        None => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
        Some(raw) => match check_external_id(raw) {
            Ok(()) => Some(raw.to_owned()),
            Err(reason) => {
                errors.push(FieldError::new(field, reason));
                None
            }
        },
    }
}
