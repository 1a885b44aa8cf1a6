//! Exports (issue #12, `docs/EXPORTS.md`): results to the e-health system as FHIR R4B,
//! support needs to VIIS, each exactly once in effect.
//!
//! - **Outbox** ([`Outbox`]): a change that must reach a receiver (a result stored, a merge
//!   or un-merge, a new personal code) records its export jobs *in the same atomic write*
//!   as the change ([`crate::store::exports::record_new`]); after the commit the job ids go
//!   on the export queue. A crash in between loses nothing: [`sweep::sweep`] re-drives every
//!   job that is due, from the job index.
//! - **Worker** ([`worker::ExportsWorker`]): takes a job, claims it for a short lease,
//!   builds what to send from the data as it is now, hands it to the receiver's port, and
//!   records the answer — with the disclosure in the child's audit chain in the same atomic
//!   write as `accepted`. Passing failures back off exponentially with jitter (honouring
//!   `Retry-After`); after the last attempt the job is `failed` and its message goes to the
//!   dead-letter queue, whose alarm calls an operator.
//! - **Operators** ([`operator`]): `GET /exports`, `GET /exports/{id}`,
//!   `POST /exports/{id}/retry` for the `integration_operator` role.
//!
//! Receivers never see a duplicate: the FHIR Bundle creates conditionally on RAVIS business
//! identifiers and updates conditionally, so a re-send after a crash changes nothing; the
//! VIIS batch is named by the job, so a re-delivery replaces it.

pub mod education;
pub mod health;
pub mod operator;
pub mod results;
pub mod step;
pub mod sweep;
pub mod worker;

use crate::domain::export::{ExportCause, ExportJob, ExportScope, ExportTarget};
use crate::domain::{ChildId, ExportId, ScreeningId};
use crate::ports::{Clock, IdGenerator, Queue, QueueError, StoreError, WriteOp};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The body of an export queue message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportMessage {
    /// The job to work on.
    pub export_id: ExportId,
}

/// Where job ids go after their commit (the export queue), and where a job whose attempts
/// are exhausted is reported (its dead-letter queue). Type-erased so the use cases that
/// record jobs do not carry the queue's type; failures are the queue's own errors.
pub trait ExportNotify: Send + Sync + 'static {
    /// Queues the jobs (at most 10 per call are sent together).
    fn notify<'a>(&'a self, ids: &'a [ExportId]) -> BoxFuture<'a, Result<(), QueueError>>;
    /// Puts a message on the dead-letter queue with the reason.
    fn dead_letter<'a>(
        &'a self,
        body: &'a str,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<(), QueueError>>;
}

/// [`ExportNotify`] over a queue of the [`Queue`] port.
pub struct QueueNotify<Q>(pub Q);

impl<Q: Queue> ExportNotify for QueueNotify<Q> {
    fn notify<'a>(&'a self, ids: &'a [ExportId]) -> BoxFuture<'a, Result<(), QueueError>> {
        Box::pin(async move {
            for chunk in ids.chunks(crate::ports::queue::MAX_BATCH) {
                let bodies: Vec<String> = chunk.iter().map(|id| message_body(*id)).collect();
                self.0.send_batch(&bodies).await?;
            }
            Ok(())
        })
    }

    fn dead_letter<'a>(
        &'a self,
        body: &'a str,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<(), QueueError>> {
        Box::pin(async move { self.0.dead_letter(body, reason).await.map(|_| ()) })
    }
}

/// The queue message of a job.
pub fn message_body(id: ExportId) -> String {
    serde_json::to_string(&ExportMessage { export_id: id }).expect("a message always serialises")
}

/// Records export jobs next to the changes they export, and queues them after the commit.
#[derive(Clone)]
pub struct Outbox {
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    notify: Option<Arc<dyn ExportNotify>>,
}

/// Jobs to record: their ids (to queue after the commit) and the writes to add to the
/// change's atomic write.
#[derive(Debug, Default)]
pub struct NewJobs {
    /// The ids, to pass to [`Outbox::queue`] after the commit.
    pub ids: Vec<ExportId>,
    /// The writes (job and child pointer per job).
    pub writes: Vec<WriteOp>,
}

impl Outbox {
    /// An outbox that queues on `notify` (`None`: jobs wait for the sweep).
    pub fn new(
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        notify: Option<Arc<dyn ExportNotify>>,
    ) -> Self {
        Self { clock, ids, notify }
    }

    fn add(
        &self,
        jobs: &mut NewJobs,
        target: ExportTarget,
        cause: ExportCause,
        child: ChildId,
        scope: ExportScope,
    ) -> Result<(), StoreError> {
        let job = ExportJob::new(
            ExportId::from_uuid(self.ids.new_id()),
            target,
            cause,
            child,
            scope,
            self.clock.now(),
        );
        jobs.writes.extend(crate::store::exports::record_new(&job)?);
        jobs.ids.push(job.id);
        Ok(())
    }

    /// The jobs of a stored result: always one to the e-health system; one to VIIS when the
    /// result recommends a programme (whether it is education-relevant and the child is at
    /// a school is decided when the job is sent, from the data as it is then).
    pub fn for_result(
        &self,
        child: ChildId,
        screening: ScreeningId,
        result_sk: &str,
        cause: ExportCause,
        recommends_programme: bool,
    ) -> Result<NewJobs, StoreError> {
        let mut jobs = NewJobs::default();
        let scope = ExportScope::Result {
            screening_id: screening,
            result_sk: result_sk.to_owned(),
        };
        self.add(&mut jobs, ExportTarget::Health, cause, child, scope.clone())?;
        if recommends_programme {
            self.add(&mut jobs, ExportTarget::Education, cause, child, scope)?;
        }
        Ok(jobs)
    }

    /// The jobs that send a child's results again (merge, un-merge, new personal code).
    pub fn for_child(&self, child: ChildId, cause: ExportCause) -> Result<NewJobs, StoreError> {
        let mut jobs = NewJobs::default();
        for target in ExportTarget::ALL {
            self.add(&mut jobs, target, cause, child, ExportScope::Child)?;
        }
        Ok(jobs)
    }

    /// Queues committed jobs. A failure is logged, not returned: the jobs are recorded and
    /// the sweep queues them (`sweep::sweep`), so the change that recorded them stands.
    pub async fn queue(&self, ids: &[ExportId]) {
        let Some(notify) = &self.notify else { return };
        if ids.is_empty() {
            return;
        }
        if let Err(e) = notify.notify(ids).await {
            tracing::warn!(error = %e, jobs = ids.len(),
                "export jobs recorded but not queued; the sweep will queue them");
        }
    }
}
