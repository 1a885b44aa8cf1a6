//! What a job sends, read when it is sent: the child as it is now (after a merge, the
//! survivor) and the results in the job's scope with their submissions.

use crate::domain::export::{ExportJob, ExportScope};
use crate::domain::{Child, ChildId, ChildStatus};
use crate::ports::{Key, RecordStore, SortKeyCondition};
use crate::scoring::risk_profile::{StoredResult, newest_per_screening};
use crate::services::ServiceError;
use crate::services::screenings::{person_results, stored_result};
use crate::store::keys;
use crate::store::lookups::load_child;
use crate::store::query::query_all;
use serde_json::Value;

/// One result to send, with its submission.
#[derive(Debug, Clone)]
pub struct ExportedResult {
    /// The result.
    pub stored: StoredResult,
    /// The stored submission (answers, administration date, who submitted it).
    pub submission: Value,
    /// Whether the receiver may hold an earlier version (a rescore, a merge): the send
    /// updates.
    pub amended: bool,
}

/// How many merges a child id is followed through to its survivor.
const MAX_MERGE_HOPS: usize = 8;

/// The child as it is now: a merged child's survivor (`None`: the child is gone).
pub async fn current_child<R: RecordStore>(
    records: &R,
    id: ChildId,
) -> Result<Option<Child>, ServiceError> {
    let mut id = id;
    for _ in 0..MAX_MERGE_HOPS {
        let Some(child) = load_child(records, id).await? else {
            return Ok(None);
        };
        if child.status != ChildStatus::Merged {
            return Ok(Some(child));
        }
        let record = records.get(&keys::child(id)).await?;
        match record
            .as_ref()
            .and_then(|r| r.data["merged_into"].as_str())
            .and_then(|s| s.parse().ok())
        {
            Some(survivor) => id = survivor,
            None => return Ok(Some(child)),
        }
    }
    Ok(None)
}

/// The results a job sends, oldest screening first.
pub async fn results_of<R: RecordStore>(
    records: &R,
    job: &ExportJob,
    child: &Child,
) -> Result<Vec<ExportedResult>, ServiceError> {
    let mut out = Vec::new();
    match &job.scope {
        ExportScope::Result {
            screening_id,
            result_sk,
        } => {
            let partition = keys::screening_partition(*screening_id);
            let Some(record) = records
                .get(&Key::new(partition.clone(), result_sk.clone()))
                .await?
            else {
                return Ok(out);
            };
            let rescored = query_all(
                records,
                &partition,
                &SortKeyCondition::Prefix(keys::RESULT_PREFIX.into()),
            )
            .await?
            .len()
                > 1;
            if let Some(submission) = records.get(&keys::screening(*screening_id)).await? {
                out.push(ExportedResult {
                    stored: stored_result(&record)?,
                    submission: submission.data,
                    amended: rescored || job.cause.is_update(),
                });
            }
        }
        ExportScope::Child => {
            let all = person_results(records, child.id).await?;
            for stored in newest_per_screening(&all) {
                if let Some(submission) = records.get(&keys::screening(stored.screening_id)).await?
                {
                    out.push(ExportedResult {
                        stored: stored.clone(),
                        submission: submission.data,
                        amended: true,
                    });
                }
            }
            out.sort_by(|a, b| {
                a.submission["administered_on"]
                    .as_str()
                    .cmp(&b.submission["administered_on"].as_str())
                    .then(a.stored.screening_id.cmp(&b.stored.screening_id))
            });
        }
    }
    Ok(out)
}
