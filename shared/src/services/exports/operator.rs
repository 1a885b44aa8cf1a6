//! The operators' view of the exports: `GET /exports` (filters `target`, `state`, `child`;
//! cursor pages), `GET /exports/{id}`, `POST /exports/{id}/retry` (`If-Match`), for the
//! `integration_operator` role only. A job names its child by id only (never a name or a
//! personal code); every job shown is still a read about the child and is audited.

use super::Outbox;
use crate::domain::export::{ExportAttempt, ExportJob, ExportState, ExportTarget};
use crate::domain::{ChildId, ExportId, Principal, Role};
use crate::ports::{Clock, RecordStore, SortKeyCondition, StoreError};
use crate::services::audit::{AuditAction, AuditEntity, AuditEvent, AuditTrail};
use crate::services::registry::listing::{ListQuery, etag};
use crate::services::require_role;
use crate::services::{Reply, ServiceError};
use crate::store::codec::from_data;
use crate::store::exports;
use crate::store::keys;
use crate::store::lookups::merged_ids;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

/// Who may see and retry exports.
pub const EXPORT_OPERATORS: &[Role] = &[Role::IntegrationOperator];

/// The filters of `GET /exports`.
const FILTERS: [&str; 3] = ["target", "state", "child"];

/// The operators' use cases.
pub struct ExportsAdmin<R> {
    records: R,
    clock: Arc<dyn Clock>,
    audit: AuditTrail<R>,
    outbox: Outbox,
}

/// Where a list is in its partitions (the cursor's content).
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    /// Fingerprint of the filters.
    f: String,
    /// Index of the partition the page stopped in.
    p: usize,
    /// The store's cursor in it.
    s: Option<String>,
}

impl<R: RecordStore + Clone> ExportsAdmin<R> {
    /// The use cases; a retried job is queued through `outbox`.
    pub fn new(records: R, clock: Arc<dyn Clock>, audit: AuditTrail<R>, outbox: Outbox) -> Self {
        Self {
            records,
            clock,
            audit,
            outbox,
        }
    }

    /// `GET /exports`: jobs of the chosen targets and states (all by default), by target,
    /// then state, then due/changed time; or a child's jobs (`child`, with the children
    /// merged into it), newest first.
    pub async fn list(
        &self,
        principal: &Principal,
        request_id: &str,
        query: &[(String, String)],
    ) -> Result<Reply, ServiceError> {
        require_role(principal, EXPORT_OPERATORS, "list exports")?;
        let q = ListQuery::parse(query, &FILTERS)?;
        let target = q.parsed("target", |v| {
            ExportTarget::parse(v).ok_or("must be health or education")
        })?;
        let state = q.parsed("state", |v| {
            ExportState::parse(v)
                .ok_or("must be pending, sent, accepted, rejected, failed or skipped")
        })?;
        let child = q.parsed("child", str::parse::<ChildId>)?;
        let fingerprint = format!(
            "{}|{}|{}",
            target.map_or("", ExportTarget::as_str),
            state.map_or("", ExportState::as_str),
            child.map(|c| c.to_string()).unwrap_or_default()
        );
        let bad_cursor = || {
            ServiceError::invalid(
                "cursor",
                "is not a cursor this list issued for these filters; start again without it",
            )
        };
        let (mut part, mut store_cursor) = match &q.cursor {
            None => (0, None),
            Some(raw) => {
                let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad_cursor())?;
                let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad_cursor())?;
                if c.f != fingerprint {
                    return Err(bad_cursor());
                }
                (c.p, c.s)
            }
        };
        // The partitions to walk, in order.
        let partitions: Vec<(String, bool)> = match child {
            Some(c) => {
                let mut ids = vec![c];
                ids.extend(merged_ids(&self.records, c).await?);
                ids.iter().map(|id| (keys::child(*id).pk, false)).collect()
            }
            None => ExportTarget::ALL
                .into_iter()
                .filter(|t| target.is_none_or(|x| x == *t))
                .flat_map(|t| {
                    ExportState::ALL
                        .into_iter()
                        .filter(|s| state.is_none_or(|x| x == *s))
                        .map(move |s| (keys::export_state_index(t, s), true))
                })
                .collect(),
        };
        if part > partitions.len() {
            return Err(bad_cursor());
        }
        let mut jobs: Vec<(ExportJob, u64)> = Vec::new();
        let mut scanned = 0;
        while part < partitions.len() && jobs.len() < q.limit && scanned < 1000 {
            let (pk, index) = &partitions[part];
            let wanted = q.limit - jobs.len();
            let page = if *index {
                self.records
                    .query_index(
                        pk,
                        &SortKeyCondition::All,
                        wanted,
                        false,
                        store_cursor.as_deref(),
                    )
                    .await
            } else {
                self.records
                    .query(
                        pk,
                        &SortKeyCondition::Prefix(keys::CHILD_EXPORT_PREFIX.into()),
                        wanted,
                        true,
                        store_cursor.as_deref(),
                    )
                    .await
            }
            .map_err(|e| match e {
                StoreError::Invalid(_) => bad_cursor(),
                other => other.into(),
            })?;
            scanned += page.records.len();
            for record in &page.records {
                let found = if *index {
                    Some((from_data::<ExportJob>(record)?, record.version))
                } else {
                    let id = record.data["export_id"]
                        .as_str()
                        .and_then(|s| s.parse::<ExportId>().ok());
                    match id {
                        Some(id) => exports::load(&self.records, id).await?,
                        None => None,
                    }
                };
                if let Some((job, version)) = found
                    && target.is_none_or(|t| t == job.target)
                    && state.is_none_or(|s| s == job.state)
                {
                    jobs.push((job, version));
                }
            }
            store_cursor = page.next;
            if store_cursor.is_none() {
                part += 1;
            }
        }
        let next = (part < partitions.len()).then(|| {
            URL_SAFE_NO_PAD.encode(
                serde_json::to_vec(&Cursor {
                    f: fingerprint,
                    p: part,
                    s: store_cursor,
                })
                .unwrap_or_default(),
            )
        });
        let mut reads: Vec<AuditEvent> = Vec::new();
        for (job, _) in &jobs {
            if !reads.iter().any(|e| e.child == job.child_id) {
                reads.push(
                    AuditEvent::all(job.child_id, AuditEntity::Export, AuditAction::Read)
                        .of("list"),
                );
            }
        }
        self.audit.record_many(principal, request_id, reads).await?;
        let items: Vec<Value> = jobs.iter().map(|(j, v)| view(j, *v)).collect();
        Ok(Reply::ok(json!({"items": items, "next": next})))
    }

    /// `GET /exports/{id}`: the job with its attempts, errors and the receiver's job.
    pub async fn get(
        &self,
        principal: &Principal,
        request_id: &str,
        id: ExportId,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, EXPORT_OPERATORS, "read an export")?;
        let (job, version) = exports::load(&self.records, id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no export with id {id}")))?;
        self.audit
            .record(
                principal,
                request_id,
                AuditEvent::all(job.child_id, AuditEntity::Export, AuditAction::Read).of(id),
            )
            .await?;
        let mut reply = Reply::ok(view(&job, version));
        reply.etag = Some(etag(version));
        Ok(reply)
    }

    /// `POST /exports/{id}/retry`: sends a failed or rejected job again, at once, with its
    /// attempts counted from zero.
    pub async fn retry(
        &self,
        principal: &Principal,
        request_id: &str,
        id: ExportId,
        expected: u64,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, EXPORT_OPERATORS, "retry an export")?;
        let (mut job, version) = exports::load(&self.records, id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no export with id {id}")))?;
        if version != expected {
            return Err(ServiceError::PreconditionFailed(format!(
                "the export is at version {version} (you sent If-Match \"{expected}\"); read it again"
            )));
        }
        if !job.state.is_retryable() {
            return Err(ServiceError::Conflict {
                slug: "export-not-retryable",
                detail: format!(
                    "the export is {}; only failed or rejected exports can be retried",
                    job.state.as_str()
                ),
                existing_id: None,
            });
        }
        let now = self.clock.now();
        job.log(ExportAttempt {
            at: now,
            outcome: "retry_requested".into(),
            http_status: None,
            detail: Some(format!(
                "by {} ({}) after {} attempts",
                principal.subject, principal.organisation, job.attempts
            )),
        });
        job.state = ExportState::Pending;
        job.attempts = 0;
        job.next_attempt_at = Some(now);
        job.remote_job = None;
        let version = match exports::save(&self.records, &job, version).await {
            Ok(v) => v,
            Err(StoreError::Conflict { .. }) => {
                return Err(ServiceError::PreconditionFailed(
                    "the export changed concurrently; read it again".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        self.audit
            .record(
                principal,
                request_id,
                AuditEvent::all(job.child_id, AuditEntity::Export, AuditAction::Update).of(id),
            )
            .await?;
        self.outbox.queue(&[id]).await;
        let mut reply = Reply::ok(view(&job, version));
        reply.status = 202;
        reply.etag = Some(etag(version));
        Ok(reply)
    }
}

/// A job as operators see it (with its version).
pub fn view(job: &ExportJob, version: u64) -> Value {
    let mut v = serde_json::to_value(job).unwrap_or_else(|_| json!({}));
    v["version"] = json!(version);
    v["recipient"] = json!(job.target.recipient());
    v
}
