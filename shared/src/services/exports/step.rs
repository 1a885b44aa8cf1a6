//! What one delivery step of a job came to, whatever the receiver: the targets
//! (`health`, `education`) answer it, the worker acts on it. Its own module so the targets and
//! the worker import it without importing each other.

use crate::ports::exchange::HealthAnswer;
use std::time::Duration;

/// What one step of a job came to, whatever the receiver.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Nothing to send, and why.
    Skip(String),
    /// The receiver has it all.
    Accepted(Vec<String>),
    /// The receiver is working on it: poll `job`.
    InProgress {
        /// The remote job.
        job: String,
        /// The receiver's word on its progress.
        progress: String,
    },
    /// A passing failure.
    Retry {
        /// The receiver's status, if it answered.
        status: Option<u16>,
        /// Its `Retry-After`.
        after: Option<Duration>,
        /// What happened.
        reason: String,
    },
    /// Refused for good.
    Rejected {
        /// The status of the refusal.
        status: u16,
        /// The receiver's OperationOutcome.
        outcome: serde_json::Value,
        /// What was refused.
        reason: String,
    },
}

impl From<HealthAnswer> for Step {
    fn from(answer: HealthAnswer) -> Self {
        match answer {
            HealthAnswer::Accepted { locations } => Step::Accepted(locations),
            HealthAnswer::InProgress { job, progress } => Step::InProgress { job, progress },
            HealthAnswer::Retry {
                status,
                after,
                reason,
            } => Step::Retry {
                status,
                after,
                reason,
            },
            HealthAnswer::Rejected {
                status,
                outcome,
                reason,
            } => Step::Rejected {
                status,
                outcome,
                reason,
            },
        }
    }
}
