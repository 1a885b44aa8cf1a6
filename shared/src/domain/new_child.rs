//! A new child's data as `POST /children` and partner files give it, and the rules it
//! must pass before anything is stored (`ValidNewChild` exists only valid). The use case is
//! `services/children.rs`.

use crate::domain::child::{Sex, check_new_child};
use crate::domain::field_error::optional;
use crate::domain::{Atvk, FieldError, PersonalCode, text};
use chrono::NaiveDate;
use serde::Deserialize;

/// Body of `POST /children`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChildInput {
    /// Personal code (either format, hyphen optional); absent for children without one.
    #[serde(default)]
    pub personal_code: Option<String>,
    /// Given name(s).
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Birth date, `YYYY-MM-DD`.
    pub birth_date: NaiveDate,
    /// `female` or `male`.
    pub sex: Sex,
    /// Completed weeks of gestation at birth.
    #[serde(default)]
    pub gestational_age_weeks: Option<u8>,
    /// Declared address territory (7-digit ATVK).
    #[serde(default)]
    pub atvk: Option<String>,
}

/// Body of `PUT /children/{id}`: the new values of every changeable field. The personal
/// code is not changed here: code changes come from the population register with history.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildUpdateInput {
    /// Given name(s).
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Birth date.
    pub birth_date: NaiveDate,
    /// `female` or `male`.
    pub sex: Sex,
    /// Completed weeks of gestation at birth.
    #[serde(default)]
    pub gestational_age_weeks: Option<u8>,
    /// Declared address territory.
    #[serde(default)]
    pub atvk: Option<String>,
}

/// Body of `POST /children/search` (a body, not a query string, so codes stay out of URLs and logs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchInput {
    /// The personal code to look up.
    pub personal_code: String,
}

/// A new child's data that passed every rule (`POST /children` and partner files share it).
#[derive(Debug, Clone, PartialEq)]
pub struct ValidNewChild {
    /// Parsed personal code, if given.
    pub personal_code: Option<PersonalCode>,
    /// Given name(s), trimmed.
    pub given_name: String,
    /// Family name, trimmed.
    pub family_name: String,
    /// Birth date.
    pub birth_date: NaiveDate,
    /// Sex.
    pub sex: Sex,
    /// Completed weeks of gestation at birth.
    pub gestational_age_weeks: Option<u8>,
    /// Declared address territory.
    pub atvk: Option<Atvk>,
}

/// A new child's data borrowed from where it was read (a partner file's row), so
/// validating it allocates only what a valid child keeps.
#[derive(Debug, Clone, Copy)]
pub struct NewChildRef<'a> {
    /// Personal code (either format, hyphen optional), if any.
    pub personal_code: Option<&'a str>,
    /// Given name(s).
    pub given_name: &'a str,
    /// Family name.
    pub family_name: &'a str,
    /// Birth date.
    pub birth_date: NaiveDate,
    /// Sex.
    pub sex: Sex,
    /// Completed weeks of gestation at birth.
    pub gestational_age_weeks: Option<u8>,
    /// Declared address territory (7-digit ATVK), if any.
    pub atvk: Option<&'a str>,
}

/// Validates a new child with every rule (code, ATVK, cross-field rules); returns every violation.
pub fn validate_new_child(
    input: NewChildInput,
    today: NaiveDate,
) -> Result<ValidNewChild, Vec<FieldError>> {
    let (personal_code, atvk) = check_new_child_input(
        NewChildRef {
            personal_code: input.personal_code.as_deref(),
            given_name: &input.given_name,
            family_name: &input.family_name,
            birth_date: input.birth_date,
            sex: input.sex,
            gestational_age_weeks: input.gestational_age_weeks,
            atvk: input.atvk.as_deref(),
        },
        today,
    )?;
    Ok(ValidNewChild {
        personal_code,
        given_name: trimmed(input.given_name),
        family_name: trimmed(input.family_name),
        birth_date: input.birth_date,
        sex: input.sex,
        gestational_age_weeks: input.gestational_age_weeks,
        atvk,
    })
}

/// [`validate_new_child`] over borrowed data: the same rules and messages.
pub fn validate_new_child_ref(
    input: NewChildRef<'_>,
    today: NaiveDate,
) -> Result<ValidNewChild, Vec<FieldError>> {
    let (personal_code, atvk) = check_new_child_input(input, today)?;
    Ok(ValidNewChild {
        personal_code,
        given_name: text::trim(input.given_name).to_owned(),
        family_name: text::trim(input.family_name).to_owned(),
        birth_date: input.birth_date,
        sex: input.sex,
        gestational_age_weeks: input.gestational_age_weeks,
        atvk,
    })
}

/// Every rule of [`validate_new_child_ref`] without building the valid child (the intake's
/// validation pass keeps nothing of a row).
pub fn check_new_child_ref(
    input: NewChildRef<'_>,
    today: NaiveDate,
) -> Result<(), Vec<FieldError>> {
    check_new_child_input(input, today).map(|_| ())
}

/// Every rule of a new child; the parsed code and ATVK when all pass.
fn check_new_child_input(
    input: NewChildRef<'_>,
    today: NaiveDate,
) -> Result<(Option<PersonalCode>, Option<Atvk>), Vec<FieldError>> {
    let mut errors = Vec::new();
    let code = optional(
        "personal_code",
        input
            .personal_code
            .map(text::trim)
            .filter(|c| !c.is_empty()),
        &mut errors,
        PersonalCode::parse,
    );
    let atvk = optional("atvk", input.atvk, &mut errors, Atvk::parse);
    errors.extend(
        check_new_child(
            code.as_ref(),
            input.given_name,
            input.family_name,
            input.birth_date,
            input.gestational_age_weeks,
            today,
        )
        .into_iter()
        .map(|v| FieldError::new(v.field, v.reason)),
    );
    if errors.is_empty() {
        Ok((code, atvk))
    } else {
        Err(errors)
    }
}

/// The string without surrounding whitespace, reusing it when there is none (files: per row).
fn trimmed(s: String) -> String {
    if s.trim().len() == s.len() {
        s
    } else {
        s.trim().to_owned()
    }
}
