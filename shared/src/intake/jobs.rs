//! Intake jobs: the results of partner-file imports as the API serves them to registry
//! administrators (`GET /intake/jobs`, `GET /intake/jobs/{id}`, `GET
//! /intake/jobs/{id}/errors`; docs/INTAKE.md, "Results in the API").
//!
//! The intake worker writes each import's summary and row report to the partner bucket
//! (`results/…`) and then records the job ([`record_job`]): the summary and the report's key,
//! under `INTAKEJOB#<id>`, indexed under `INTAKEJOBS` in `gsi1` newest first. The job id is
//! the import id (a hash of bucket, object key and ETag), so a redelivered event records the
//! same job once. The row report stays in the bucket (it may be large); the errors route
//! streams it and answers one page of its lines.
//!
//! Who reads them: registry administrators without a territory scope. Every file comes from
//! the one partner bucket (its rows are registered for the organisation
//! `partner-file-drop`), so no job belongs to one organisation, and a file's rows span
//! territories. A refused row was never stored, so the report is no registered child's
//! record and reading it is not audited; a reason may quote the refused cell, hence the
//! narrow role.

use crate::domain::{Principal, Role};
use crate::intake::Summary;
use crate::ports::{BlobError, BlobStore, Record, RecordStore, StoreError};
use crate::services::registry::listing::{ListQuery, Listing, Pager, decode, encode};
use crate::services::{Reply, ServiceError, require_role};
use crate::store::keys;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

/// Roles that read intake jobs.
pub const JOB_READERS: &[Role] = &[Role::RegistryAdministrator];

/// Status values a job may have (the summary's `status`), for the `status` filter.
const STATUSES: &[&str] = &["completed", "completed_with_rejections", "rejected"];

/// The stored record of one intake job.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JobRecord {
    id: String,
    summary: Summary,
    /// The row report's key in the partner bucket.
    report_key: String,
}

/// Records a finished import (after its summary is in the bucket). A job already recorded
/// (a redelivered event) is left as it is.
pub async fn record_job<R: RecordStore>(
    records: &R,
    id: &str,
    summary: &Summary,
    report_key: &str,
) -> Result<(), StoreError> {
    let job = JobRecord {
        id: id.to_owned(),
        summary: summary.clone(),
        report_key: report_key.to_owned(),
    };
    let data = serde_json::to_value(&job).map_err(StoreError::Encode)?;
    let record = Record::new(keys::intake_job(id), data).with_index(
        keys::INTAKE_JOBS_INDEX,
        keys::intake_job_index(summary.finished_at, id),
    );
    match records.put_new(record).await {
        Ok(()) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A job as the API shows it: its id, the summary's fields and the link to its errors.
fn job_view(job: &JobRecord) -> Result<Value, ServiceError> {
    let mut view = encode(&job.summary)?;
    if let Some(obj) = view.as_object_mut() {
        obj.insert("id".into(), json!(job.id));
        obj.insert(
            "errors".into(),
            json!(format!("/intake/jobs/{}/errors", job.id)),
        );
    }
    Ok(view)
}

/// Where a page of a job's errors starts: bound to the job, so another job's cursor is refused.
#[derive(Serialize, Deserialize)]
struct ErrorsCursor {
    j: String,
    o: u64,
}

/// The intake jobs' read use cases over the record store and the partner bucket.
pub struct IntakeJobs<R, B> {
    records: R,
    bucket: B,
}

impl<R: RecordStore, B: BlobStore> IntakeJobs<R, B> {
    /// The jobs recorded in `records`, their reports in `bucket` (the partner bucket).
    pub fn new(records: R, bucket: B) -> Self {
        Self { records, bucket }
    }

    fn check_reader(principal: &Principal) -> Result<(), ServiceError> {
        require_role(principal, JOB_READERS, "read partner-file results")?;
        if principal.territory.is_some() {
            return Err(ServiceError::Forbidden(
                "partner-file results span every territory; they are for registry administrators without a territory scope".into(),
            ));
        }
        Ok(())
    }

    async fn job(&self, id: &str) -> Result<JobRecord, ServiceError> {
        let not_found = || {
            ServiceError::NotFound(format!(
                "no intake job {}",
                id.chars().take(80).collect::<String>()
            ))
        };
        if id.len() != 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(not_found());
        }
        let record = self
            .records
            .get(&keys::intake_job(id))
            .await?
            .ok_or_else(not_found)?;
        decode(&record)
    }

    /// `GET /intake/jobs` (`kind`, `status`, `limit`, `cursor`): the jobs, newest first.
    pub async fn list(
        &self,
        principal: &Principal,
        query: &[(String, String)],
    ) -> Result<Reply, ServiceError> {
        Self::check_reader(principal)?;
        let q = ListQuery::parse(query, &["kind", "status"])?;
        let kind = q.parsed("kind", |raw| {
            crate::intake::Kind::parse(raw)
                .map(|k| k.as_str())
                .ok_or_else(|| format!("is not one of: {}", crate::intake::KIND_NAMES))
        })?;
        let status = q.parsed("status", |raw| {
            STATUSES
                .iter()
                .find(|s| **s == raw)
                .copied()
                .ok_or_else(|| format!("is not one of: {}", STATUSES.join(", ")))
        })?;
        let listing = Listing {
            pk: keys::INTAKE_JOBS_INDEX.into(),
            prefix: String::new(),
            index: true,
        };
        let mut pager = Pager::new(&self.records, listing, &q)?;
        let mut items = Vec::new();
        while let Some(batch) = pager.next_batch(q.limit - items.len()).await? {
            for record in &batch {
                let job: JobRecord = decode(record)?;
                let view = job_view(&job)?;
                if kind.is_some_and(|k| view["kind"] != k)
                    || status.is_some_and(|s| view["status"] != s)
                {
                    continue;
                }
                items.push(view);
            }
        }
        Ok(pager.finish(items))
    }

    /// `GET /intake/jobs/{id}`: one job's summary.
    pub async fn get(&self, principal: &Principal, id: &str) -> Result<Reply, ServiceError> {
        Self::check_reader(principal)?;
        let job = self.job(id).await?;
        Ok(Reply::ok(job_view(&job)?))
    }

    /// `GET /intake/jobs/{id}/errors` (`limit`, `cursor`): a page of the job's row report,
    /// in row order, each `{"row", "field", "reason"}`.
    pub async fn errors(
        &self,
        principal: &Principal,
        id: &str,
        query: &[(String, String)],
    ) -> Result<Reply, ServiceError> {
        Self::check_reader(principal)?;
        let q = ListQuery::parse(query, &[])?;
        let job = self.job(id).await?;
        let start = match &q.cursor {
            None => 0,
            Some(raw) => {
                let bad = || {
                    ServiceError::invalid(
                        "cursor",
                        "is not a cursor this list issued for this job; start again without it",
                    )
                };
                let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
                let cursor: ErrorsCursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
                if cursor.j != job.id {
                    return Err(bad());
                }
                cursor.o
            }
        };
        let reader = self.bucket.open(&job.report_key).await.map_err(|e| match e {
            BlobError::NotFound(_) => ServiceError::NotFound(format!(
                "the row report of intake job {id} is gone from the partner bucket (results expire)"
            )),
            other => ServiceError::Blobs(other),
        })?;
        let mut lines = tokio::io::BufReader::new(reader).lines();
        let mut items = Vec::new();
        let mut line_no = 0u64;
        let mut more = false;
        loop {
            let line = lines
                .next_line()
                .await
                .map_err(|e| ServiceError::Blobs(BlobError::Unavailable(Box::new(e))))?;
            let Some(line) = line else { break };
            if line.trim().is_empty() {
                continue;
            }
            line_no += 1;
            if line_no <= start {
                continue;
            }
            if items.len() == q.limit {
                more = true;
                break;
            }
            let item: Value = serde_json::from_str(&line).map_err(|e| StoreError::Corrupt {
                pk: job.report_key.clone(),
                sk: format!("line {line_no}"),
                reason: e.to_string(),
            })?;
            items.push(
                json!({"row": item["row"], "field": item["field"], "reason": item["reason"]}),
            );
        }
        let next = more.then(|| {
            let cursor = ErrorsCursor {
                j: job.id.clone(),
                o: start + items.len() as u64,
            };
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap_or_default())
        });
        Ok(Reply::ok(json!({"items": items, "next": next})))
    }
}
