//! What an import is asked and what it answers: the request ([`ImportRequest`], keyed by
//! [`import_id`]), the outcome ([`ImportOutcome`]: the [`Summary`] and the row report), the
//! committed rows' [`Counts`] and why an import could not finish ([`IntakeError`]).

use crate::intake::Kind;
use crate::intake::reader::Format;
use crate::intake::report::Report;
use crate::ports::StoreError;
use crate::services::ServiceError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A stable identity of one import (the checkpoint key) from the parts naming the input.
pub fn import_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// Identity of this input (same file, same id): keys the checkpoint. See [`import_id`].
    pub import_id: String,
    /// Name of the input, for the summary.
    pub file: String,
    /// The kind of rows.
    pub kind: Kind,
    /// The file format.
    pub format: Format,
    /// Commit nothing when any row fails.
    pub strict: bool,
    /// Recorded as the registering organisation of new children.
    pub organisation: String,
}

/// How an import ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every row was valid and committed.
    Completed,
    /// Valid rows were committed; the report lists the refused ones.
    CompletedWithRejections,
    /// Nothing was committed: the file is not what it claims, or strict mode found bad rows.
    Rejected,
}

/// The summary of an import (written as `*.summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The input.
    pub file: String,
    /// The kind of rows.
    pub kind: String,
    /// `csv` or `jsonl` (absent when the name gives no known format).
    pub format: Option<String>,
    /// Whether strict mode was on.
    pub strict: bool,
    /// The outcome.
    pub status: Status,
    /// Why the whole file was rejected, when it was.
    pub reason: Option<String>,
    /// Data rows read.
    pub rows_read: u64,
    /// Children created.
    pub inserted: u64,
    /// Existing children (same personal code) changed.
    pub updated: u64,
    /// Rows that matched the stored child exactly.
    pub unchanged: u64,
    /// Rows refused (each listed in the report).
    pub rejected: u64,
    /// New children without a code whose names and birth date match another child's.
    pub possible_duplicates: u64,
    /// When the import began (the first run, if it was resumed).
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
}

impl Summary {
    /// A summary of a file refused as a whole (nothing committed).
    pub fn rejected_file(
        file: &str,
        kind: &str,
        format: Option<Format>,
        strict: bool,
        reason: String,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
    ) -> Self {
        Self {
            file: file.to_owned(),
            kind: kind.to_owned(),
            format: format.map(|f| f.as_str().to_owned()),
            strict,
            status: Status::Rejected,
            reason: Some(reason),
            rows_read: 0,
            inserted: 0,
            updated: 0,
            unchanged: 0,
            rejected: 0,
            possible_duplicates: 0,
            started_at,
            finished_at,
        }
    }
}

/// The result of an import: the summary and the row report.
#[derive(Debug)]
pub struct ImportOutcome {
    /// The summary.
    pub summary: Summary,
    /// Every refused row and field, in row order (JSON Lines in a temporary file).
    pub report: Report,
}

/// Why an import could not finish (the message is retried; the checkpoint keeps progress).
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The input could not be opened.
    #[error("opening the input failed")]
    Open(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Reading the input failed.
    #[error("reading the input failed")]
    Read(#[source] std::io::Error),
    /// The input passed validation, then read differently (it was replaced meanwhile).
    #[error("the input changed during the import: {0}")]
    Changed(String),
    /// The record store failed (or a concurrent writer won a batch: retry resumes).
    #[error("record store")]
    Store(#[from] StoreError),
    /// The reader task died.
    #[error("the file reader stopped unexpectedly")]
    Reader(#[source] tokio::task::JoinError),
    /// The kind records its changes in the audit trail, and none is configured.
    #[error("audit trail: {0}")]
    NoAuditTrail(String),
    /// The audit trail could not be read.
    #[error("audit trail")]
    Audit(#[source] ServiceError),
    /// The row report could not be written to its temporary file.
    #[error("writing the row report to a temporary file failed")]
    Report(#[source] std::io::Error),
}

/// What the committed rows did, by outcome (kept in the checkpoint).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Records created.
    pub inserted: u64,
    /// Records changed.
    pub updated: u64,
    /// Rows that changed nothing.
    pub unchanged: u64,
    /// New children flagged as possible duplicates.
    pub possible_duplicates: u64,
    /// Valid rows that the stored state refused (reported with their row).
    #[serde(default)]
    pub rejected: u64,
}

impl Counts {
    pub(crate) fn add(&mut self, other: &Counts) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.possible_duplicates += other.possible_duplicates;
        self.rejected += other.rejected;
    }
}

/// A use-case error met while importing: a store failure stays one (retried with the
/// message), anything else is an audit failure.
pub(crate) fn service_error(e: ServiceError) -> IntakeError {
    match e {
        ServiceError::Store(s) => IntakeError::Store(s),
        other => IntakeError::Audit(other),
    }
}
