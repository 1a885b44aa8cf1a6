//! The exports worker: one job at a time, from the export queue (see the module above).

use super::education::EducationExporter;
use super::health::HealthExporter;
use super::step::Step;
use super::{ExportMessage, ExportNotify};
use crate::domain::export::{
    ExportAttempt, ExportJob, ExportScope, ExportState, ExportTarget, RetryPolicy,
};
use crate::domain::{Principal, Role};
use crate::ports::exchange::ReceiverAnswer;
use crate::ports::signer::JwsSigner;
use crate::ports::{Clock, EducationReceiver, HealthReceiver, RecordStore, StoreError, WriteOp};
use crate::services::ServiceError;
use crate::services::audit::{AuditEntity, AuditEvent, AuditTrail};
use crate::store::exports;
use std::sync::Arc;
use std::time::Duration;

/// The actor of disclosures in the audit trail: RAVIS itself, sending on the law's behalf.
pub fn exports_principal() -> Principal {
    Principal {
        subject: "ravis-exports-worker".into(),
        roles: Vec::<Role>::new(),
        organisation: "RAVIS".into(),
        territory: None,
        purpose: Some("statutory exchange with the national registers".into()),
    }
}

/// Why a message could not be handled (it is redelivered, then dead-lettered).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The body is not an export message.
    #[error("malformed export message: {0}")]
    Malformed(#[source] serde_json::Error),
    /// The store or the audit trail failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for WorkerError {
    fn from(e: StoreError) -> Self {
        Self::Service(e.into())
    }
}

/// What the worker did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// No such job (a message of a job an operator deleted): nothing to do.
    Unknown,
    /// The job was already finished.
    AlreadyFinished(ExportState),
    /// The job is not due yet (a duplicate message, or one ahead of its back-off): the sweep
    /// queues it again when it is.
    NotDue,
    /// Another worker claimed the job first.
    Taken,
    /// The job moved on to this state.
    Worked(ExportState),
}

/// The exports worker.
pub struct ExportsWorker<R, H, E, S> {
    records: R,
    clock: Arc<dyn Clock>,
    audit: AuditTrail<R>,
    health: HealthExporter<R, H, S>,
    education: EducationExporter<R, E>,
    policy: RetryPolicy,
    notify: Arc<dyn ExportNotify>,
}

impl<R, H, E, S> ExportsWorker<R, H, E, S>
where
    R: RecordStore + Clone,
    H: HealthReceiver,
    E: EducationReceiver,
    S: JwsSigner,
{
    /// Builds the worker.
    pub fn new(
        records: R,
        clock: Arc<dyn Clock>,
        audit: AuditTrail<R>,
        health: HealthExporter<R, H, S>,
        education: EducationExporter<R, E>,
        notify: Arc<dyn ExportNotify>,
    ) -> Self {
        Self {
            records,
            clock,
            audit,
            health,
            education,
            policy: RetryPolicy::default(),
            notify,
        }
    }

    /// Uses this retry policy (tests shorten it).
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The retry policy.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Handles one queue message body.
    pub async fn handle(&self, body: &str) -> Result<Handled, WorkerError> {
        let msg: ExportMessage = serde_json::from_str(body).map_err(WorkerError::Malformed)?;
        let Some((mut job, version)) = exports::load(&self.records, msg.export_id).await? else {
            tracing::warn!(export_id = %msg.export_id, "message of an unknown export job ignored");
            return Ok(Handled::Unknown);
        };
        if job.state.is_final() {
            self.rearchive_disclosure(&job).await?;
            return Ok(Handled::AlreadyFinished(job.state));
        }
        let now = self.clock.now();
        if job.next_attempt_at.is_some_and(|at| at > now) {
            self.rearchive_disclosure(&job).await?;
            return Ok(Handled::NotDue);
        }
        // Claim the job for a lease: a second message of it (the sweep's, a redelivery)
        // finds it not due; a worker that dies mid-send leaves it to the sweep after the lease.
        let polling = job.state == ExportState::Sent;
        if !polling {
            job.attempts += 1;
        }
        job.next_attempt_at = Some(now + to_chrono(self.policy.lease));
        job.updated_at = now;
        let version = match exports::save(&self.records, &job, version).await {
            Ok(v) => v,
            Err(StoreError::Conflict { .. }) => return Ok(Handled::Taken),
            Err(e) => return Err(e.into()),
        };
        let step = match (&job.remote_job, polling) {
            (Some(remote), true) => Step::Answer(self.health.poll(remote).await),
            _ => match job.target {
                ExportTarget::Health => self.health.deliver(&job).await?,
                ExportTarget::Education => self.education.deliver(&job).await?,
            },
        };
        self.settle(job, version, step, polling, body).await
    }

    /// Records what a step came to.
    async fn settle(
        &self,
        mut job: ExportJob,
        version: u64,
        step: Step,
        polling: bool,
        body: &str,
    ) -> Result<Handled, WorkerError> {
        let now = self.clock.now();
        let mut disclosed = false;
        let mut dead_letter = None;
        let attempt = |outcome: &str, status: Option<u16>, detail: Option<String>| ExportAttempt {
            at: now,
            outcome: outcome.into(),
            http_status: status,
            detail,
        };
        match step {
            Step::Skip(reason) => {
                job.state = ExportState::Skipped;
                job.next_attempt_at = None;
                job.log(attempt("skipped", None, Some(reason.clone())));
                job.skipped_reason = Some(reason);
            }
            Step::Answer(ReceiverAnswer::Accepted { locations }) => {
                job.state = ExportState::Accepted;
                job.next_attempt_at = None;
                job.last_error = None;
                job.log(attempt("accepted", None, Some(locations.join(", "))));
                job.delivered = locations;
                disclosed = true;
            }
            Step::Answer(ReceiverAnswer::InProgress {
                job: remote,
                progress,
            }) => {
                job.state = ExportState::Sent;
                job.next_attempt_at = Some(now + to_chrono(self.policy.poll_every));
                job.log(attempt(
                    if polling { "in_progress" } else { "submitted" },
                    Some(202),
                    Some(progress),
                ));
                job.remote_job = Some(remote);
                disclosed = true;
            }
            Step::Answer(ReceiverAnswer::Retry {
                status,
                after,
                reason,
            }) => {
                if polling {
                    job.attempts += 1;
                }
                job.last_error = Some(reason.clone());
                job.log(attempt("retry", status, Some(reason.clone())));
                if job.attempts >= self.policy.max_attempts {
                    job.state = ExportState::Failed;
                    job.next_attempt_at = None;
                    dead_letter = Some(format!(
                        "export {} to {} failed after {} attempts: {reason}",
                        job.id,
                        job.target.recipient(),
                        job.attempts
                    ));
                } else {
                    let delay = self
                        .policy
                        .delay(job.attempts, rand::random::<f64>(), after);
                    job.next_attempt_at = Some(now + to_chrono(delay));
                }
            }
            Step::Answer(ReceiverAnswer::Rejected {
                status,
                outcome,
                reason,
            }) => {
                job.state = ExportState::Rejected;
                job.next_attempt_at = None;
                job.last_error = Some(reason.clone());
                job.log(attempt("rejected", Some(status), Some(reason)));
                job.receiver_outcome = Some(outcome);
                disclosed = true;
            }
        }
        job.updated_at = now;
        if disclosed && job.disclosed_at.is_none() {
            job.disclosed_at = Some(now);
            self.save_with_disclosure(&job, version).await?;
        } else {
            match exports::save(&self.records, &job, version).await {
                Ok(_) => {}
                // Only an operator's retry changes a claimed job: theirs stands.
                Err(StoreError::Conflict { .. }) => return Ok(Handled::Taken),
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(reason) = dead_letter {
            tracing::error!(export_id = %job.id, %reason, "export failed; dead-lettered");
            if let Err(e) = self.notify.dead_letter(body, &reason).await {
                // The job is `failed` in the store (the operator's list shows it) and the
                // sweep's failed count is a metric with an alarm: nothing is lost.
                tracing::error!(export_id = %job.id, error = %e, "dead-lettering a failed export failed");
            }
        }
        Ok(Handled::Worked(job.state))
    }

    /// A message of a job that has no work now is a duplicate or a redelivery: the one after
    /// a handler that failed to copy the job's disclosure to the write-once archive after its
    /// commit (an S3 outage, a crash in between). The copy is made again here (a no-op when
    /// it is there); while it keeps failing the message keeps coming back, and ends in the
    /// DLQ with the entry named by `ravis audit verify` as "not in the archive".
    async fn rearchive_disclosure(&self, job: &ExportJob) -> Result<(), WorkerError> {
        if let Some(seq) = job.disclosure_seq {
            self.audit.rearchive(job.child_id, seq).await?;
        }
        Ok(())
    }

    /// Writes the job with the disclosure in the child's audit chain, in one atomic write
    /// (so a disclosure is recorded exactly once), then copies the entry to the archive.
    async fn save_with_disclosure(&self, job: &ExportJob, version: u64) -> Result<(), WorkerError> {
        let (entity, entity_id) = match &job.scope {
            ExportScope::Result { screening_id, .. } => {
                (AuditEntity::Screening, screening_id.to_string())
            }
            ExportScope::Child => (AuditEntity::RiskProfile, format!("export {}", job.id)),
        };
        let event = AuditEvent::disclosure(job.child_id, entity, entity_id, job.target.recipient());
        let principal = exports_principal();
        let mut job = job.clone();
        for _ in 0..5 {
            let (entry, mut ops) = self
                .audit
                .append_ops(&principal, &format!("export-{}", job.id), &event)
                .await?;
            job.disclosure_seq = Some(entry.body.seq);
            let record = exports::job_record(&job)?;
            ops.insert(
                0,
                WriteOp::PutVersioned {
                    record: record.clone(),
                    expected: version,
                },
            );
            match self.records.transact(ops).await {
                Ok(()) => {
                    self.audit.archive(&entry).await?;
                    return Ok(());
                }
                // The job is claimed, so a cancellation is a concurrent append to the chain.
                Err(StoreError::TransactionCancelled { index }) if index > 0 => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let key = exports::job_record(&job)?.key;
        Err(StoreError::Conflict {
            pk: key.pk,
            sk: key.sk,
            expected: version,
        }
        .into())
    }
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or_else(|_| chrono::Duration::days(1))
}
