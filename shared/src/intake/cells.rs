//! Cell parsers more than one kind of partner file uses (dates, partner ids, clipped
//! values for reports), so kinds need not borrow them from each other.

use crate::domain::FieldError;
pub(crate) use crate::domain::field_error::{optional, or_default, required};
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

/// Why a cell shared by several kinds is refused; the text is the row report's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CellError {
    /// Not an `external_id`.
    #[error("must be 1 to 64 letters, digits, '-', '_', '.', ':' or '/'")]
    ExternalId,
    /// Not a `YYYY-MM-DD` date; holds the value (clipped), which the reason names.
    #[error("'{0}' is not a date in the form YYYY-MM-DD")]
    Date(String),
    /// A date after today where only past ones make sense.
    #[error("must not be in the future")]
    Future,
}

/// Checks an `external_id`: 1 to 64 of ASCII letters, digits, `-`, `_`, `.`, `:`, `/`.
pub fn check_external_id(raw: &str) -> Result<(), CellError> {
    let ok = (1..=64).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(CellError::ExternalId)
    }
}

/// Parses a required `external_id` column value.
pub(crate) fn external_id(
    field: &str,
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    required(field, raw, errors, |raw| {
        check_external_id(raw).map(|()| raw.to_owned())
    })
}

/// A row's violations in the order of the file's `columns` (a report reads left to right).
pub(crate) fn in_column_order(mut errors: Vec<FieldError>, columns: &[&str]) -> Vec<FieldError> {
    errors.sort_by_key(|e| columns.iter().position(|c| *c == e.field));
    errors
}

/// The skeleton of a kind's row rules: `rules` reads the row's cells, reports every
/// violation into `errors` and returns the row when each value it needs parsed; the row is
/// valid when nothing was reported. The violations come back in column order.
pub(crate) fn parse_cells<T>(
    values: Vec<Option<String>>,
    columns: &[&str],
    rules: impl FnOnce(&Cells, &mut Vec<FieldError>) -> Option<T>,
) -> Result<T, Vec<FieldError>> {
    let cells = Cells::new(values, columns);
    let mut errors = Vec::new();
    match rules(&cells, &mut errors) {
        Some(row) if errors.is_empty() => Ok(row),
        _ => Err(in_column_order(errors, columns)),
    }
}

/// One row's values, aligned with a kind's columns (missing trailing columns are empty).
pub(crate) struct Cells(Vec<Option<String>>);

impl Cells {
    /// The row's values, padded or cut to `columns`.
    pub(crate) fn new(mut values: Vec<Option<String>>, columns: &[&str]) -> Self {
        values.resize(columns.len(), None);
        Self(values)
    }

    /// Column `i`'s value, trimmed; `None` when empty.
    pub(crate) fn get(&self, i: usize) -> Option<&str> {
        self.0[i]
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }
}

/// A reason that names the refused value: `'<value>' <reason>` (the value clipped).
pub(crate) fn naming(raw: &str, reason: impl std::fmt::Display) -> String {
    format!("'{}' {reason}", clip(raw))
}

/// A `YYYY-MM-DD` cell ([`parse_iso_date`]), refused with a reason naming the value.
pub(crate) fn iso_date(raw: &str) -> Result<NaiveDate, CellError> {
    parse_iso_date(raw).ok_or_else(|| CellError::Date(clip(raw)))
}

/// A row's values as the reader gives them, written as text (tests): `""` is an empty cell.
#[cfg(test)]
pub(crate) fn row_values<const N: usize>(values: [&str; N]) -> Vec<Option<String>> {
    values
        .iter()
        .map(|s| Some((*s).to_owned()).filter(|s| !s.is_empty()))
        .collect()
}
