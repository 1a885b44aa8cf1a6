//! The intake worker: consumes the intake queue (S3 event notifications of objects put under
//! `inbox/<kind>/` of the partner bucket), imports each object and writes its report and
//! summary under `results/`. The same code runs as the `intake-worker` Lambda and as a
//! consumer inside `ravis serve`.

use crate::inbound::s3::{self, NotAnS3Event, ObjectCreated};
use crate::intake::summary::import_id;
use crate::intake::{Format, Kind, Report, strict_from_name};
use crate::intake::{ImportOutcome, ImportRequest, IntakeError, IntakeService, Summary};
use crate::ports::{BlobError, BlobStore, RecordStore, StoreError};
use bytes::Bytes;

/// Organisation recorded on children registered from partner files.
pub const PARTNER_ORGANISATION: &str = "partner-file-drop";

/// Why a message failed (it is redelivered; the import resumes from its checkpoint).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The body is not an S3 event notification.
    #[error(transparent)]
    NotAnEvent(#[from] NotAnS3Event),
    /// The event names a bucket this worker does not serve.
    #[error("event for bucket '{0}', but this worker serves '{1}'")]
    WrongBucket(String, String),
    /// Reading the object or writing the results failed.
    #[error("partner bucket")]
    Blob(#[from] BlobError),
    /// The import failed.
    #[error("import of {key} failed")]
    Import {
        /// The object key.
        key: String,
        /// The cause.
        #[source]
        source: IntakeError,
    },
    /// The de-duplication record could not be read or written.
    #[error("record store")]
    Store(#[from] StoreError),
}

/// Imports partner files named by S3 events.
pub struct IntakeWorker<R, B> {
    intake: IntakeService<R>,
    bucket: B,
    bucket_name: String,
}

/// Where the report and summary of an inbox object go: `results/<key minus inbox/>.…`.
pub fn result_keys(object_key: &str) -> (String, String) {
    let rest = object_key.strip_prefix("inbox/").unwrap_or(object_key);
    (
        format!("results/{rest}.report.jsonl"),
        format!("results/{rest}.summary.json"),
    )
}

impl<R: RecordStore, B: BlobStore> IntakeWorker<R, B> {
    /// Builds the worker over the partner bucket `bucket` (named `bucket_name` in events).
    pub fn new(intake: IntakeService<R>, bucket: B, bucket_name: impl Into<String>) -> Self {
        Self {
            intake,
            bucket,
            bucket_name: bucket_name.into(),
        }
    }

    /// The partner bucket.
    pub fn bucket(&self) -> &B {
        &self.bucket
    }

    /// The record store.
    pub fn records(&self) -> &R {
        self.intake.records()
    }

    /// Takes the worker apart into its record store and bucket.
    pub fn into_parts(self) -> (R, B) {
        (self.intake.into_records(), self.bucket)
    }

    /// Handles one queue message: every object it names, each at most once.
    pub async fn handle(&self, body: &str) -> Result<Vec<Summary>, WorkerError> {
        let mut out = Vec::new();
        for object in s3::parse_notification(body)? {
            if object.bucket != self.bucket_name {
                return Err(WorkerError::WrongBucket(
                    object.bucket,
                    self.bucket_name.clone(),
                ));
            }
            let records = self.intake.records();
            if s3::already_handled(records, &object).await? {
                tracing::info!(key = %object.key, "object already imported; event ignored");
                continue;
            }
            if let Some(summary) = self.import_object(&object).await? {
                out.push(summary);
            }
            s3::mark_handled(records, &object, chrono::Utc::now().timestamp()).await?;
        }
        Ok(out)
    }

    async fn import_object(&self, object: &ObjectCreated) -> Result<Option<Summary>, WorkerError> {
        let Some(meta) = self.bucket.head(&object.key).await? else {
            tracing::warn!(key = %object.key, "object named by the event no longer exists");
            return Ok(None);
        };
        if object
            .etag
            .as_deref()
            .is_some_and(|e| e.trim_matches('"') != meta.etag)
        {
            // Replaced since: the newer object's own event imports it.
            tracing::info!(key = %object.key, "object replaced since this event; skipped");
            return Ok(None);
        }
        let name = object.key.rsplit('/').next().unwrap_or(&object.key);
        let kind_name = object
            .key
            .strip_prefix("inbox/")
            .and_then(|rest| rest.split_once('/'))
            .map_or("", |(kind, _)| kind);
        let format = Format::from_name(name);
        let strict = strict_from_name(name);
        let now = chrono::Utc::now();
        let refuse = |reason: String| -> Result<ImportOutcome, WorkerError> {
            Ok(ImportOutcome {
                summary: Summary::rejected_file(
                    &object.key,
                    kind_name,
                    format,
                    strict,
                    reason,
                    now,
                    now,
                ),
                report: Report::empty().map_err(|e| WorkerError::Import {
                    key: object.key.clone(),
                    source: IntakeError::Report(e),
                })?,
            })
        };
        let job_id = import_id(&[&object.bucket, &object.key, &meta.etag]);
        let outcome = match (Kind::parse(kind_name), format) {
            (None, _) => refuse(format!(
                "unknown kind '{kind_name}': files go under inbox/<kind>/, where kind is one of: {}",
                crate::intake::KIND_NAMES
            ))?,
            (_, None) => refuse(format!(
                "unsupported file type '{name}': the name must end in .csv, .jsonl or .ndjson"
            ))?,
            (Some(kind), Some(format)) => {
                let request = ImportRequest {
                    import_id: job_id.clone(),
                    file: object.key.clone(),
                    kind,
                    format,
                    strict,
                    organisation: PARTNER_ORGANISATION.into(),
                };
                let key = object.key.clone();
                self.intake
                    .import(&request, || {
                        let key = key.clone();
                        async move {
                            self.bucket
                                .open(&key)
                                .await
                                .map_err(|e| IntakeError::Open(Box::new(e)))
                        }
                    })
                    .await
                    .map_err(|source| WorkerError::Import {
                        key: object.key.clone(),
                        source,
                    })?
            }
        };
        let (report_key, summary_key) = result_keys(&object.key);
        // Streamed from the report's temporary file: a report of any size in bounded memory.
        self.bucket
            .put_file(
                &report_key,
                outcome.report.path(),
                Some("application/x-ndjson"),
            )
            .await?;
        let summary = serde_json::to_vec_pretty(&outcome.summary).map_err(StoreError::Encode)?;
        // The summary goes last: its presence means the report is complete.
        self.bucket
            .put(&summary_key, Bytes::from(summary), Some("application/json"))
            .await?;
        // Then the job, which the API lists (`GET /intake/jobs`): its report is complete.
        crate::intake::jobs::record_job(
            self.intake.records(),
            &job_id,
            &outcome.summary,
            &report_key,
        )
        .await?;
        tracing::info!(key = %object.key, status = ?outcome.summary.status,
            rows = outcome.summary.rows_read, rejected = outcome.summary.rejected, "partner file imported");
        Ok(Some(outcome.summary))
    }
}

impl<R: RecordStore, B: BlobStore> crate::inbound::sqs::MessageHandler for IntakeWorker<R, B> {
    type Error = WorkerError;

    async fn handle_message(&self, body: &str) -> Result<(), Self::Error> {
        self.handle(body).await.map(|_| ())
    }

    /// A body that is not an S3 notification, or one for another bucket, never imports.
    fn is_poison(error: &Self::Error) -> bool {
        matches!(
            error,
            WorkerError::NotAnEvent(_) | WorkerError::WrongBucket(..)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_mirror_the_inbox_path() {
        assert_eq!(
            result_keys("inbox/children/2026/a.csv"),
            (
                "results/children/2026/a.csv.report.jsonl".into(),
                "results/children/2026/a.csv.summary.json".into()
            )
        );
    }
}
