//! The sweep: queues every export job that is due (a retry whose pause is over, a remote
//! job to poll, or a job whose queue message was lost to a crash after its commit). Runs
//! on a schedule (the `exports-worker` function's EventBridge rule, every minute; in
//! `ravis serve` every few seconds). Queuing a job twice is harmless: the worker claims a
//! job before it works on it and ignores a message for a job that is not due.

use super::ExportNotify;
use crate::domain::export::{ExportState, ExportTarget};
use crate::ports::{RecordStore, SortKeyCondition, StoreError};
use crate::store::keys;
use crate::store::query::query_index_all;
use chrono::{DateTime, Utc};

/// What a sweep found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Jobs queued.
    pub queued: usize,
    /// Jobs that could not be queued (the next sweep tries again).
    pub unqueued: usize,
    /// Jobs in `failed` (an operator must look).
    pub failed: usize,
}

/// Queues every job due at `now`.
pub async fn sweep<R: RecordStore>(
    records: &R,
    notify: &dyn ExportNotify,
    now: DateTime<Utc>,
) -> Result<SweepReport, StoreError> {
    let upper = format!("{}#~", now.format("%Y-%m-%dT%H:%M:%S%.6fZ"));
    let mut report = SweepReport::default();
    for target in ExportTarget::ALL {
        for state in [ExportState::Pending, ExportState::Sent] {
            let due = query_index_all(
                records,
                &keys::export_state_index(target, state),
                &SortKeyCondition::Between(String::new(), upper.clone()),
            )
            .await?;
            let ids: Vec<_> = due
                .iter()
                .filter_map(|r| r.data["id"].as_str().and_then(|s| s.parse().ok()))
                .collect();
            for chunk in ids.chunks(crate::ports::queue::MAX_BATCH) {
                match notify.notify(chunk).await {
                    Ok(()) => report.queued += chunk.len(),
                    Err(e) => {
                        tracing::warn!(error = %e, "queuing due export jobs failed");
                        report.unqueued += chunk.len();
                    }
                }
            }
        }
        report.failed +=
            crate::store::exports::count_in_state(records, target, ExportState::Failed).await?;
    }
    Ok(report)
}
