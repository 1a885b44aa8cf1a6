//! Exchange ports: the national systems RAVIS sends to (issue #12). Each has a default
//! adapter that writes what would be sent to an outbox (a directory locally, the exchange
//! bucket in AWS) and a networked adapter chosen by configuration.

use crate::domain::export::ViisRecord;
use std::future::Future;
use std::time::Duration;

/// One transaction Bundle for the e-health system, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSubmission {
    /// The export job's id (names the outbox object; logged by receivers as a correlation id).
    pub export_id: String,
    /// The serialised Bundle (exactly the bytes the `X-Provenance` signature covers).
    pub bundle: Vec<u8>,
    /// The `X-Provenance` header value (a JSON Provenance with a JWS signature).
    pub provenance: String,
}

/// What a receiver answered: the e-health system to a submission or a poll of its job, the
/// education system to a delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiverAnswer {
    /// Every entry was accepted; the receiver's locations of what it stored (or the outbox
    /// object names).
    Accepted {
        /// Where the receiver put each entry.
        locations: Vec<String>,
    },
    /// The receiver took the job and is working on it (202 + `Content-Location`, `x-progress`,
    /// or a partial `batch-response`): poll `job` again later.
    InProgress {
        /// The job's URL.
        job: String,
        /// What the receiver said about its progress.
        progress: String,
    },
    /// A passing failure (5xx, 429, a timeout, a reset connection): try again later.
    Retry {
        /// The HTTP status, if the receiver answered.
        status: Option<u16>,
        /// The receiver's `Retry-After`.
        after: Option<Duration>,
        /// What happened, in words.
        reason: String,
    },
    /// The receiver refused the content (4xx, or an entry of the response with a 4xx
    /// status): sending it again will not help.
    Rejected {
        /// The HTTP status (of the request or of the refused entry).
        status: u16,
        /// The receiver's OperationOutcome (or whatever body it sent).
        outcome: serde_json::Value,
        /// What was refused, in words.
        reason: String,
    },
}

/// The e-health system (E-veselība's FHIR API, NVD FHIR API implementation guide).
pub trait HealthReceiver: Send + Sync + 'static {
    /// Sends a transaction Bundle (`Prefer: respond-async`).
    fn submit(&self, submission: &HealthSubmission) -> impl Future<Output = ReceiverAnswer> + Send;

    /// Polls a job the receiver is working on.
    fn poll(&self, job: &str) -> impl Future<Output = ReceiverAnswer> + Send;
}

/// Why a delivery to the education system failed (it is retried).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ExchangeError(pub String);

/// The education system (VIIS through the VISS integration platform).
pub trait EducationReceiver: Send + Sync + 'static {
    /// Delivers one batch of allow-listed records under `batch_id` (stable per export job,
    /// so a repeated delivery replaces rather than adds). Answers in the e-health port's
    /// terms: accepted (with where it went), retry, or rejected (never in progress: a
    /// delivery is synchronous).
    fn deliver(
        &self,
        batch_id: &str,
        records: &[ViisRecord],
    ) -> impl Future<Output = ReceiverAnswer> + Send;
}
