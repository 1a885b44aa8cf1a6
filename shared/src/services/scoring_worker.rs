//! The scoring worker: consumes the scoring queue, scores each submission with the engine
//! and stores the result. Idempotent: a redelivered message finds the result already
//! stored (one result per instrument and engine version) and stores nothing new. After
//! each result the child's worklist is reconciled (`services/worklist/`).

use crate::domain::export::ExportCause;
use crate::domain::{ResultId, ScreeningId};
use crate::ports::{Clock, IdGenerator, Record, RecordStore, StoreError, WriteOp};
use crate::scoring::{Engine, RecommendationKind};
use crate::services::ServiceError;
use crate::services::exports::{NewJobs, Outbox};
use crate::services::screenings::{
    ScoringMessage, ScreeningStatus, initial_screening, score_request,
};
use crate::services::worklist::Worklist;
use crate::store::codec::corrupt;
use crate::store::keys;
use crate::store::lookups::load_child;
use serde_json::{Value, json};
use std::sync::Arc;

/// How long a message may wait for its submission to be committed before it is dropped
/// as abandoned (the submitting request failed after sending).
pub const ABANDONED_AFTER_SECONDS: i64 = 15 * 60;

/// A message younger than this whose submission is not stored yet is probably ahead of the
/// API's commit: the worker reads again before failing it.
const COMMIT_GRACE_SECONDS: i64 = 5;

/// How many times a fresh message's submission is read before the message fails
/// (pauses of 50, 100, 200, 400 and 800 ms in between).
const COMMIT_RETRIES: usize = 5;

/// Why a message could not be handled (it will be redelivered, then dead-lettered).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The body is not a scoring message.
    #[error("malformed scoring message: {0}")]
    Malformed(#[source] serde_json::Error),
    /// The submission is not (yet) committed.
    #[error("screening {0} is not stored yet")]
    NotYetStored(ScreeningId),
    /// The child of the submission is missing.
    #[error("child of screening {0} is missing")]
    ChildMissing(ScreeningId),
    /// Storage failed.
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
pub enum Outcome {
    /// A result was stored.
    Scored,
    /// The result for these versions already existed.
    AlreadyScored,
    /// The answers no longer validate; the submission was marked rejected.
    Rejected,
    /// The submission never got committed; the message was dropped.
    Abandoned,
}

/// The scoring worker.
pub struct ScoringWorker<R> {
    records: R,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    engine: Arc<Engine>,
    worklist: Option<Worklist<R>>,
    outbox: Option<Outbox>,
}

impl<R: RecordStore> ScoringWorker<R> {
    /// Records the result's export jobs in the result's own atomic write (`services/exports/`).
    pub fn with_outbox(mut self, outbox: Outbox) -> Self {
        self.outbox = Some(outbox);
        self
    }

    /// Keeps the child's worklist in step with each stored result (see `handle`).
    pub fn with_worklist(mut self, worklist: Worklist<R>) -> Self {
        self.worklist = Some(worklist);
        self
    }

    /// Builds the worker.
    pub fn new(
        records: R,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        engine: Arc<Engine>,
    ) -> Self {
        Self {
            records,
            clock,
            ids,
            engine,
            worklist: None,
            outbox: None,
        }
    }

    /// The stored submission. The API queues the message before it commits the submission
    /// (so no committed submission is ever left unqueued), so a fresh message can arrive
    /// first: then the submission is read again a few times over about 1.5 s, rather than
    /// failing the message, which SQS would only redeliver after the queue's visibility
    /// timeout (minutes).
    async fn submission(
        &self,
        id: ScreeningId,
        age: chrono::Duration,
    ) -> Result<Option<crate::ports::Record>, WorkerError> {
        let mut pause = std::time::Duration::from_millis(50);
        for _ in 0..COMMIT_RETRIES {
            if let Some(record) = self.records.get(&keys::screening(id)).await? {
                return Ok(Some(record));
            }
            if age > chrono::Duration::seconds(COMMIT_GRACE_SECONDS) {
                return Ok(None);
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        Ok(self.records.get(&keys::screening(id)).await?)
    }

    /// Handles one queue message body.
    pub async fn handle(&self, body: &str) -> Result<Outcome, WorkerError> {
        let msg: ScoringMessage = serde_json::from_str(body).map_err(WorkerError::Malformed)?;
        let id = msg.screening_id;
        let now = self.clock.now();
        let Some(submission) = self.submission(id, now - msg.submitted_at).await? else {
            if (now - msg.submitted_at).num_seconds() > ABANDONED_AFTER_SECONDS {
                tracing::warn!(screening_id = %id, "submission never committed; message dropped");
                return Ok(Outcome::Abandoned);
            }
            return Err(WorkerError::NotYetStored(id));
        };
        let child_id = serde_json::from_value(submission.data["child_id"].clone())
            .map_err(|e| corrupt(&submission, &format!("child_id: {e}")))?;
        let child = load_child(&self.records, child_id)
            .await?
            .ok_or(WorkerError::ChildMissing(id))?;
        let initial = match submission.data["initial_screening_id"].as_str() {
            Some(initial_id) => match initial_id.parse::<ScreeningId>() {
                Ok(initial_id) => initial_screening(&self.records, initial_id)
                    .await?
                    .map(|(link, _)| link),
                Err(_) => None,
            },
            None => None,
        };
        let request =
            score_request(&submission.data, &child, initial).map_err(WorkerError::Malformed)?;
        let result = match self.engine.score(&request) {
            Ok(r) => r,
            Err(errors) => {
                tracing::warn!(screening_id = %id, ?errors, "submission no longer scores; marked rejected");
                let mut data = submission.data.clone();
                data["status"] = json!(ScreeningStatus::Rejected);
                data["errors"] = json!(
                    errors
                        .iter()
                        .map(|e| json!({"field": e.field, "reason": e.reason}))
                        .collect::<Vec<_>>()
                );
                data["rejected_at"] = json!(now);
                let version = submission.version;
                return match self
                    .records
                    .put_versioned(Record { data, ..submission }, version)
                    .await
                {
                    Ok(_) => Ok(Outcome::Rejected),
                    Err(e) => Err(e.into()),
                };
            }
        };
        let mut result_data = serde_json::to_value(&result).map_err(WorkerError::Malformed)?;
        let instrument_version = result_data["instrument_version"]
            .as_str()
            .unwrap_or("unknown")
            .to_owned();
        let engine_version = result_data["engine_version"]
            .as_str()
            .unwrap_or("unknown")
            .to_owned();
        let administered_on = serde_json::from_value(submission.data["administered_on"].clone())
            .map_err(WorkerError::Malformed)?;
        if let Some(obj) = result_data.as_object_mut() {
            // UUID v7: a later scoring of the same screening gets a later id.
            obj.insert(
                "result_id".into(),
                json!(ResultId::from_uuid(self.ids.new_id())),
            );
            obj.insert("screening_id".into(), json!(id));
            obj.insert("child_id".into(), json!(child_id));
            obj.insert("administered_on".into(), json!(administered_on));
            obj.insert("scored_at".into(), json!(now));
        }
        let result_key = keys::result(id, &instrument_version, &engine_version);
        let result_record = Record::new(result_key.clone(), result_data).with_index(
            keys::child_index(child_id),
            keys::child_result_index(administered_on, id, &instrument_version, &engine_version),
        );
        // Scored before (a rescore with new versions): the receivers get an update.
        let cause = if submission
            .data
            .get("result_key")
            .is_some_and(|k| !k.is_null())
        {
            ExportCause::Rescore
        } else {
            ExportCause::Result
        };
        let recommends_programme = result
            .recommendations
            .iter()
            .any(|r| r.kind == RecommendationKind::ReferralProgramme);
        let mut updated = submission.data.clone();
        updated["status"] = json!(ScreeningStatus::Scored);
        updated["result_key"] = Value::String(result_key.sk.clone());
        updated["scored_at"] = json!(now);
        let version = submission.version;
        let jobs = match &self.outbox {
            Some(outbox) => {
                outbox.for_result(child_id, id, &result_key.sk, cause, recommends_programme)?
            }
            None => NewJobs::default(),
        };
        let mut writes = vec![
            WriteOp::PutNew(result_record),
            WriteOp::PutVersioned {
                record: Record {
                    data: updated,
                    ..submission
                },
                expected: version,
            },
        ];
        writes.extend(jobs.writes);
        let outcome = match self.records.transact(writes).await {
            Ok(()) => {
                tracing::info!(screening_id = %id, %instrument_version, %engine_version, "screening scored");
                if let Some(outbox) = &self.outbox {
                    outbox.queue(&jobs.ids).await;
                }
                Outcome::Scored
            }
            Err(StoreError::TransactionCancelled { index: 0 }) => Outcome::AlreadyScored,
            Err(e) => return Err(e.into()),
        };
        // After the commit, also on a redelivery: a failure here fails the message, and SQS
        // delivers it again until the worklist is reconciled.
        if let Some(worklist) = &self.worklist {
            worklist.reconcile(child_id).await?;
        }
        Ok(outcome)
    }
}
