//! A field-level validation failure, shared by use cases and the HTTP problem body.

use serde::{Deserialize, Serialize};

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
