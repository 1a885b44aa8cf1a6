//! Export jobs in the table (`docs/DATA_MODEL.md`, "Exports"): the job at
//! [`keys::export_job`], indexed in `gsi1` by target and state ([`keys::export_state_index`])
//! at the time it is next due, and a pointer under its child ([`keys::child_export`]).

use crate::domain::ExportId;
use crate::domain::export::{ExportJob, ExportState, ExportTarget};
use crate::ports::{Record, RecordStore, SortKeyCondition, StoreError, WriteOp};
use crate::store::codec::{from_data, to_data};
use crate::store::keys;
use serde_json::json;

/// The job's record (without version: the caller picks the write).
pub fn job_record(job: &ExportJob) -> Result<Record, StoreError> {
    let at = match job.state {
        ExportState::Pending | ExportState::Sent => job.next_attempt_at.unwrap_or(job.updated_at),
        _ => job.updated_at,
    };
    Ok(
        Record::new(keys::export_job(job.id), to_data(job)?).with_index(
            keys::export_state_index(job.target, job.state),
            keys::export_state_index_sort(at, job.id),
        ),
    )
}

/// The writes that record a new job (in the same atomic write as the change it exports).
pub fn record_new(job: &ExportJob) -> Result<Vec<WriteOp>, StoreError> {
    Ok(vec![
        WriteOp::PutNew(job_record(job)?),
        WriteOp::PutNew(Record::new(
            keys::child_export(job.child_id, job.id),
            json!({"export_id": job.id}),
        )),
    ])
}

/// A job as stored, with its version.
pub async fn load<R: RecordStore>(
    records: &R,
    id: ExportId,
) -> Result<Option<(ExportJob, u64)>, StoreError> {
    match records.get(&keys::export_job(id)).await? {
        Some(record) => Ok(Some((from_data(&record)?, record.version))),
        None => Ok(None),
    }
}

/// Replaces a job stored at `expected`; returns the new version.
pub async fn save<R: RecordStore>(
    records: &R,
    job: &ExportJob,
    expected: u64,
) -> Result<u64, StoreError> {
    records.put_versioned(job_record(job)?, expected).await
}

/// How many jobs of `target` are in `state` (reads the state index: for the sweep's failed
/// count and the benchmarks).
pub async fn count_in_state<R: RecordStore>(
    records: &R,
    target: ExportTarget,
    state: ExportState,
) -> Result<usize, StoreError> {
    Ok(crate::store::query::query_index_all(
        records,
        &keys::export_state_index(target, state),
        &SortKeyCondition::All,
    )
    .await?
    .len())
}
