//! Use cases, generic over ports. They return [`Reply`] values or [`ServiceError`]s;
//! the inbound layer turns those into HTTP responses in one place.

pub mod access;
pub mod analytics;
pub mod audit;
pub mod audit_archive;
pub mod break_glass;
pub mod care;
pub mod catalogue;
pub mod children;
pub mod exports;
pub mod fhir_signing;
pub mod idempotency;
#[cfg(feature = "lake")]
pub mod lake;
pub mod merge;
pub mod merge_list;
pub mod minimisation;
pub mod referrals;
pub mod registry;
pub mod reports;
pub mod scoring_worker;
pub mod screenings;
pub mod wording;
pub mod worklist;

use crate::domain::{FieldError, Principal, Role};
use crate::ports::{BlobError, Key, QueueError, Record, RecordStore, StoreError};
use serde_json::Value;

/// A successful answer of a use case, independent of the transport.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP-style status (200, 201, 202).
    pub status: u16,
    /// `Location` of a created resource.
    pub location: Option<String>,
    /// Version tag of the returned resource (`ETag`).
    pub etag: Option<String>,
    /// The representation.
    pub body: Value,
    /// Whether this is a replay of an earlier response (same `Idempotency-Key`).
    pub replayed: bool,
    /// A file answered instead of `body` (bytes, media type): a report's CSV or HTML.
    pub file: Option<(Vec<u8>, &'static str)>,
}

impl Reply {
    /// A 200 answer.
    pub fn ok(body: Value) -> Self {
        Self {
            status: 200,
            location: None,
            etag: None,
            body,
            replayed: false,
            file: None,
        }
    }
}

/// Why a use case did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Input breaks the rules; every offending field is named.
    #[error("validation failed: {0:?}")]
    Validation(Vec<FieldError>),
    /// No such resource (or not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Conflicts with the current state.
    #[error("{detail}")]
    Conflict {
        /// Problem slug.
        slug: &'static str,
        /// Explanation.
        detail: String,
        /// Id of the existing resource, when it helps the caller.
        existing_id: Option<String>,
    },
    /// The caller's version (`If-Match`) is not the current one.
    #[error("{0}")]
    PreconditionFailed(String),
    /// The operation needs a version (`If-Match`) and none was given.
    #[error("{0}")]
    PreconditionRequired(String),
    /// The record store failed.
    #[error("record store: {0}")]
    Store(#[from] StoreError),
    /// The queue failed.
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
    /// The blob store (a bucket) failed.
    #[error("blob store: {0}")]
    Blobs(#[from] BlobError),
    /// The child was merged into another child (the survivor); answered as 410 naming it.
    #[error("{detail}")]
    Merged {
        /// Explanation.
        detail: String,
        /// Id of the surviving child.
        into: String,
    },
}

impl ServiceError {
    /// A single-field validation error.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, reason)])
    }
}

/// The record stored at `key`, or the caller's `not_found` error when there is none.
pub async fn stored<R: RecordStore>(
    records: &R,
    key: &Key,
    not_found: impl FnOnce() -> ServiceError,
) -> Result<Record, ServiceError> {
    records.get(key).await?.ok_or_else(not_found)
}

/// Refuses the call unless the principal holds one of `roles`.
pub fn require_role(
    principal: &Principal,
    roles: &[Role],
    action: &str,
) -> Result<(), ServiceError> {
    if principal.has_any(roles) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(format!(
            "your role ({}) may not {action}",
            principal
                .roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// Roles that may see a child's personal data at all (the ministry analyst sees aggregates only).
pub const PERSON_READERS: &[Role] = &[
    Role::HealthSpecialist,
    Role::EducationSpecialist,
    Role::ProgrammeProvider,
    Role::MunicipalitySocialService,
    Role::RegistryAdministrator,
    Role::PartnerSystem,
];
