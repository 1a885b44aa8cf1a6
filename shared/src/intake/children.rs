//! The `children` file kind: its columns and the conversion of one row into a valid new
//! child with the same rules as `POST /children` ([`validate_new_child`]).

use crate::domain::{FieldError, PersonalCode, Sex};
use crate::services::children::{NewChildInput, ValidNewChild, validate_new_child};
use chrono::NaiveDate;

/// Columns of a children file, in this order (a CSV header may list them in any order).
pub const COLUMNS: &[&str] = &[
    "personal_code",
    "given_name",
    "family_name",
    "birth_date",
    "sex",
    "gestational_age_weeks",
    "atvk",
];

/// Validates one row (values aligned with [`COLUMNS`]); returns every violation.
pub fn child_from_row(
    mut values: Vec<Option<String>>,
    today: NaiveDate,
) -> Result<ValidNewChild, Vec<FieldError>> {
    values.resize(COLUMNS.len(), None);
    let personal_code = values[0].take();
    let get = |i: usize| values[i].as_deref();
    let mut errors = Vec::new();
    let birth_date = match get(3) {
        None => {
            errors.push(FieldError::new("birth_date", "is required"));
            None
        }
        Some(raw) => match parse_iso_date(raw) {
            Some(d) => Some(d),
            None => {
                errors.push(FieldError::new(
                    "birth_date",
                    format!("'{}' is not a date in the form YYYY-MM-DD", clip(raw)),
                ));
                None
            }
        },
    };
    let sex = match get(4) {
        Some("female") => Some(Sex::Female),
        Some("male") => Some(Sex::Male),
        None => {
            errors.push(FieldError::new("sex", "is required"));
            None
        }
        Some(other) => {
            errors.push(FieldError::new(
                "sex",
                format!("'{}' is not one of: female, male", clip(other)),
            ));
            None
        }
    };
    let gestational_age_weeks = match get(5) {
        None => None,
        Some(raw) => match raw.parse::<u8>() {
            Ok(w) => Some(w),
            Err(_) => {
                errors.push(FieldError::new(
                    "gestational_age_weeks",
                    format!("'{}' is not a whole number of weeks", clip(raw)),
                ));
                None
            }
        },
    };
    // When the birth date is unusable, the remaining rules still run, on the date the
    // personal code encodes (so no spurious mismatch) or on today.
    let placeholder_date = || {
        personal_code
            .as_deref()
            .and_then(|c| PersonalCode::parse(c).ok())
            .and_then(|c| c.birth_date())
            .unwrap_or(today)
    };
    let birth_date_or_placeholder = birth_date.unwrap_or_else(placeholder_date);
    let input = NewChildInput {
        personal_code,
        given_name: values[1].take().unwrap_or_default(),
        family_name: values[2].take().unwrap_or_default(),
        birth_date: birth_date_or_placeholder,
        sex: sex.unwrap_or(Sex::Female),
        gestational_age_weeks,
        atvk: values[6].take(),
    };
    match validate_new_child(input, today) {
        Ok(child) if errors.is_empty() => Ok(child),
        Ok(_) => Err(errors),
        Err(mut rule_errors) => {
            // Keep the file's column order: parse errors and rule errors together, by column.
            errors.append(&mut rule_errors);
            errors.sort_by_key(|e| COLUMNS.iter().position(|c| *c == e.field));
            Err(errors)
        }
    }
}

/// `YYYY-MM-DD` exactly (zero-padded), a real calendar date. Hand-written: it runs once per
/// row, and chrono's format-string parser costs several times the CSV parsing itself.
fn parse_iso_date(raw: &str) -> Option<NaiveDate> {
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

fn clip(s: &str) -> String {
    s.chars().take(50).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: [&str; 7]) -> Vec<Option<String>> {
        v.iter()
            .map(|s| Some((*s).to_owned()).filter(|s| !s.is_empty()))
            .collect()
    }

    fn today() -> NaiveDate {
        "2026-11-23".parse().unwrap()
    }

    fn fields(v: [&str; 7]) -> Vec<String> {
        child_from_row(row(v), today())
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_full_row_and_a_minimal_row_pass() {
        let c = child_from_row(
            row([
                "32579461005",
                " Anna ",
                "Bērziņa",
                "2024-10-01",
                "female",
                "39",
                "0001000",
            ]),
            today(),
        )
        .unwrap();
        assert_eq!(c.given_name, "Anna");
        assert_eq!(c.gestational_age_weeks, Some(39));
        assert_eq!(c.atvk.unwrap().as_str(), "0001000");
        let c = child_from_row(row(["", "A", "B", "2024-10-01", "male", "", ""]), today()).unwrap();
        assert!(c.personal_code.is_none() && c.atvk.is_none());
    }

    #[test]
    fn each_field_rule_names_its_field() {
        let ok = ["", "A", "B", "2024-10-01", "male", "", "0001000"];
        let with = |i: usize, v: &'static str| {
            let mut r = ok;
            r[i] = v;
            r
        };
        assert_eq!(fields(with(0, "123")), ["personal_code"]);
        assert_eq!(fields(with(1, "")), ["given_name"]);
        assert_eq!(fields(with(2, "")), ["family_name"]);
        assert_eq!(fields(with(3, "")), ["birth_date"]);
        assert_eq!(fields(with(3, "01.10.2024")), ["birth_date"]);
        assert_eq!(fields(with(3, "2024-1-01")), ["birth_date"]);
        assert_eq!(fields(with(3, "2030-01-01")), ["birth_date"]);
        assert_eq!(fields(with(3, "2000-01-01")), ["birth_date"]);
        assert_eq!(fields(with(4, "")), ["sex"]);
        assert_eq!(fields(with(4, "F")), ["sex"]);
        assert_eq!(fields(with(5, "forty")), ["gestational_age_weeks"]);
        assert_eq!(fields(with(5, "50")), ["gestational_age_weeks"]);
        assert_eq!(fields(with(6, "12")), ["atvk"]);
    }

    #[test]
    fn dates_are_exactly_yyyy_mm_dd() {
        assert_eq!(parse_iso_date("2024-02-29"), "2024-02-29".parse().ok());
        for bad in [
            "2023-02-29",
            "2024-1-01",
            "2024/01/01",
            "24-01-01",
            "2024-01-0x",
            "+024-01-01",
            "2024-01-01 ",
        ] {
            assert_eq!(parse_iso_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_old_code_must_agree_with_the_birth_date() {
        let e = child_from_row(
            row(["120394-12343", "A", "B", "2024-10-01", "male", "", ""]),
            today(),
        )
        .unwrap_err();
        assert_eq!(e[0].field, "personal_code");
        assert!(e[0].reason.contains("differs from birth_date"));
    }

    #[test]
    fn every_violation_of_a_row_is_reported_in_column_order() {
        assert_eq!(
            fields(["bad", "", "B", "nope", "x", "99", "1"]),
            [
                "personal_code",
                "given_name",
                "birth_date",
                "sex",
                "gestational_age_weeks",
                "atvk"
            ]
        );
    }
}
