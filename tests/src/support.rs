//! Small helpers the use-case suites share: a principal of one role, query pairs, the field
//! a validation error names.

use ravis::domain::{Atvk, Principal, Role};
use ravis::services::ServiceError;

/// A principal of `role` at `organisation` (its subject the role's name), scoped to
/// `territory` (an ATVK code) when given.
pub fn principal(role: Role, organisation: &str, territory: Option<&str>) -> Principal {
    Principal {
        subject: format!("{role}"),
        roles: vec![role],
        organisation: organisation.into(),
        territory: territory.map(|t| Atvk::parse(t).expect("a valid ATVK code")),
        purpose: None,
    }
}

/// Query pairs as the routes hand them to a use case.
pub fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// The field the first error of a validation failure names (panics on another error).
pub fn field_of(e: ServiceError) -> String {
    match e {
        ServiceError::Validation(errors) => errors[0].field.clone(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}
