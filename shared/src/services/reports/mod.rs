//! Reports (issue #13): `POST /reports` (202 + `Location`), `GET /reports/{id}` (state and
//! links), `GET /reports` (the caller's reports, oldest first), `GET /reports/{id}/files/{name}`
//! (a file of a finished report), and the worker that computes them (`worker.rs`, from the
//! lake's facts: `facts.rs`; the files it writes beside the CSVs: `files.rs`).
//!
//! Who: `ministry_analyst` asks for and reads reports of all of Latvia or of any
//! municipality; `municipality_social_service` only of the municipality its territory scope
//! is (a scope that is a parish or town — a unit — is too narrow for a municipality's
//! report). Reports hold aggregates after disclosure control, never a child, so no read is
//! about a child and none is audited as one; requests are logged with the subject.

#[cfg(feature = "lake")]
pub mod facts;
#[cfg(feature = "lake")]
pub mod files;
#[cfg(feature = "lake")]
pub mod portal;
#[cfg(feature = "lake")]
pub mod worker;

use crate::domain::report::{Report, ReportState, ReportTrigger};
use crate::domain::{Atvk, Principal, ReportId, Role};
use crate::ports::{BlobError, BlobStore, Clock, IdGenerator, Queue, Record, RecordStore};
use crate::services::idempotency::{self, Committed, IdempotencyRequest};
use crate::services::registry::listing::{ListQuery, Listing, decode, encode, list_page, view};
use crate::services::{Reply, ServiceError, require_role, stored};
use crate::statistics::period::Period;
use crate::store::keys;
use chrono::Datelike;
use serde_json::{Value, json};
use std::sync::Arc;

/// Who may ask for and read reports.
pub const REPORT_READERS: &[Role] = &[Role::MinistryAnalyst, Role::MunicipalitySocialService];

/// Prefix of a report's files in the reports bucket.
pub fn report_prefix(id: ReportId) -> String {
    format!("reports/{id}/")
}

/// The message the report queue carries: the report to compute.
pub fn queue_message(id: ReportId) -> String {
    json!({"report_id": id}).to_string()
}

/// The report use cases over the record store, the report queue and the reports bucket.
pub struct Reports<R, Q, B> {
    records: R,
    queue: Q,
    files: B,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl<R: RecordStore, Q: Queue, B: BlobStore> Reports<R, Q, B> {
    /// The use cases.
    pub fn new(
        records: R,
        queue: Q,
        files: B,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self {
            records,
            queue,
            files,
            clock,
            ids,
        }
    }

    /// `POST /reports` with `{"period": "2026", "territory": "0056000"}` (territory optional
    /// for the ministry; for a municipality it is its own and may be left out): stores the
    /// report as `queued`, queues it, answers 202 with its `Location`.
    ///
    /// With an `Idempotency-Key`, a repeated request answers the first one's reply and
    /// queues nothing more.
    pub async fn request(
        &self,
        principal: &Principal,
        idem: Option<IdempotencyRequest>,
        body: &Value,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REPORT_READERS, "ask for reports")?;
        if let Some(reply) = idempotency::replay(&self.records, idem.as_ref()).await? {
            return Ok(reply);
        }
        let Some(object) = body.as_object() else {
            return Err(ServiceError::invalid("body", "must be a JSON object"));
        };
        let mut errors = Vec::new();
        for name in object.keys() {
            if name != "period" && name != "territory" {
                errors.push(crate::domain::FieldError::new(
                    name.chars().take(64).collect::<String>(),
                    "is not a field of a report request",
                ));
            }
        }
        let period = match object.get("period") {
            Some(Value::String(p)) => match Period::parse(p) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(crate::domain::FieldError::new("period", e.to_string()));
                    None
                }
            },
            Some(_) => {
                errors.push(crate::domain::FieldError::new("period", "must be a string"));
                None
            }
            None => {
                errors.push(crate::domain::FieldError::new("period", "is required"));
                None
            }
        };
        let territory = match object.get("territory") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => match Atvk::parse(t) {
                Ok(a) if a.is_territory() => Some(a),
                Ok(_) => {
                    errors.push(crate::domain::FieldError::new(
                        "territory",
                        "must be a municipality or state city (positions 5-6 are 00): reports are not made for parishes or towns",
                    ));
                    None
                }
                Err(e) => {
                    errors.push(crate::domain::FieldError::new("territory", e.to_string()));
                    None
                }
            },
            Some(_) => {
                errors.push(crate::domain::FieldError::new(
                    "territory",
                    "must be a string or null",
                ));
                None
            }
        };
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let Some(period) = period else {
            return Err(ServiceError::invalid("period", "is required"));
        };
        let territory = scope_for(principal, territory)?;
        let report = Report {
            id: ReportId::from_uuid(self.ids.new_id()),
            period: period.to_string(),
            territory: territory.map(|t| t.to_string()),
            state: ReportState::Queued,
            trigger: ReportTrigger::Request,
            requested_by: principal.subject.clone(),
            requested_at: self.clock.now(),
            finished_at: None,
            error: None,
            files: Vec::new(),
            open_data: false,
        };
        let mut reply = Reply::ok(view_report(&report, 1));
        reply.status = 202;
        reply.location = Some(format!("/reports/{}", report.id));
        reply.etag = Some(crate::services::registry::listing::etag(1));
        let writes = vec![crate::ports::WriteOp::PutNew(report_record(&report)?)];
        let now = self.clock.now().timestamp();
        match idempotency::commit(&self.records, writes, idem.as_ref(), reply, now).await? {
            Committed::Applied(reply) => {
                self.queue.send(&queue_message(report.id)).await?;
                tracing::info!(report = %report.id, period = %report.period, by = %principal.subject, "report requested");
                Ok(reply)
            }
            Committed::Replayed(reply) => Ok(reply),
        }
    }

    /// `GET /reports/{id}`: the report's state and, when done, links to its files.
    pub async fn get(&self, principal: &Principal, id: ReportId) -> Result<Reply, ServiceError> {
        require_role(principal, REPORT_READERS, "read reports")?;
        let (report, version) = self.visible(principal, id).await?;
        let mut reply = Reply::ok(view_report(&report, version));
        reply.etag = Some(crate::services::registry::listing::etag(version));
        Ok(reply)
    }

    /// `GET /reports`: the reports the caller may read, oldest first, in pages.
    pub async fn list(
        &self,
        principal: &Principal,
        query: &[(String, String)],
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REPORT_READERS, "list reports")?;
        let q = ListQuery::parse(query, &[])?;
        let listing = Listing {
            pk: keys::REPORTS_INDEX.to_string(),
            prefix: String::new(),
            index: true,
        };
        list_page(&self.records, listing, &q, |record| {
            let report: Report = decode(record)?;
            Ok(may_read(principal, &report).then(|| view_report(&report, record.version)))
        })
        .await
    }

    /// `GET /reports/{id}/files/{name}`: one file of a finished report, with its media type.
    pub async fn file(
        &self,
        principal: &Principal,
        id: ReportId,
        name: &str,
    ) -> Result<(Vec<u8>, &'static str), ServiceError> {
        require_role(principal, REPORT_READERS, "read reports")?;
        let (report, _) = self.visible(principal, id).await?;
        if !report.files.iter().any(|f| f == name) {
            return Err(ServiceError::NotFound(format!(
                "report {id} has no file {}",
                name.chars().take(64).collect::<String>()
            )));
        }
        let bytes = self
            .files
            .get(&format!("{}{name}", report_prefix(id)))
            .await
            .map_err(|e| match e {
                BlobError::NotFound(_) => ServiceError::NotFound(format!(
                    "report {id}'s file {name} is gone from the reports bucket"
                )),
                other => ServiceError::Blobs(other),
            })?;
        Ok((bytes.to_vec(), media_type(name)))
    }

    /// The scheduled run (monthly, after the lake is written): a report with the open-data
    /// release of every period that ended since the last run — the previous month, and the
    /// quarter and the year when that month ends them. Each period is scheduled once (a
    /// marker record per period; the schedule's delivery is at least once).
    pub async fn schedule(&self) -> Result<Vec<Report>, ServiceError> {
        let today = self.clock.now().date_naive();
        let last_month = today
            .with_day(1)
            .and_then(|d| d.pred_opt())
            .unwrap_or(today);
        let (y, m) = (last_month.year(), last_month.month());
        let mut periods = vec![Period::Month(y, m)];
        if m % 3 == 0 {
            periods.push(Period::Quarter(y, m / 3));
        }
        if m == 12 {
            periods.push(Period::Year(y));
        }
        let mut made = Vec::new();
        for period in periods {
            let report = Report {
                id: ReportId::from_uuid(self.ids.new_id()),
                period: period.to_string(),
                territory: None,
                state: ReportState::Queued,
                trigger: ReportTrigger::Schedule,
                requested_by: "schedule".into(),
                requested_at: self.clock.now(),
                finished_at: None,
                error: None,
                files: Vec::new(),
                open_data: true,
            };
            let marker = Record::new(
                keys::scheduled_report(&report.period),
                json!({"report_id": report.id}),
            );
            let ops = vec![
                crate::ports::WriteOp::PutNew(marker),
                crate::ports::WriteOp::PutNew(report_record(&report)?),
            ];
            match self.records.transact(ops).await {
                Ok(()) => {}
                Err(
                    crate::ports::StoreError::TransactionCancelled { .. }
                    | crate::ports::StoreError::Conflict { .. },
                ) => {
                    tracing::info!(period = %report.period, "open-data release already scheduled");
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            self.queue.send(&queue_message(report.id)).await?;
            made.push(report);
        }
        Ok(made)
    }

    async fn visible(
        &self,
        principal: &Principal,
        id: ReportId,
    ) -> Result<(Report, u64), ServiceError> {
        let not_found = || ServiceError::NotFound(format!("no report {id} that you may read"));
        let record = stored(&self.records, &keys::report(id), not_found).await?;
        let report: Report = decode(&record)?;
        if !may_read(principal, &report) {
            return Err(not_found());
        }
        Ok((report, record.version))
    }
}

/// The scope of a report a principal asks for: the ministry any (or all of Latvia); a
/// municipality only its own territory.
fn scope_for(principal: &Principal, asked: Option<Atvk>) -> Result<Option<Atvk>, ServiceError> {
    if principal.has_any(&[Role::MinistryAnalyst]) {
        return Ok(asked);
    }
    let Some(own) = principal.territory.clone().filter(Atvk::is_territory) else {
        return Err(ServiceError::Forbidden(
            "a municipality's report needs a territory scope that is a whole municipality or state city".into(),
        ));
    };
    match asked {
        Some(a) if a != own => Err(ServiceError::Forbidden(format!(
            "your territory scope is {own}; you may not ask for a report of {a}"
        ))),
        _ => Ok(Some(own)),
    }
}

/// Whether a principal may read a report: the ministry every one, a municipality those of
/// its own territory.
pub fn may_read(principal: &Principal, report: &Report) -> bool {
    if principal.has_any(&[Role::MinistryAnalyst]) {
        return true;
    }
    principal.has_any(&[Role::MunicipalitySocialService])
        && principal.territory.as_ref().is_some_and(|own| {
            own.is_territory() && report.territory.as_deref() == Some(own.as_str())
        })
}

/// The stored record of a report (indexed for the list by request time and id).
pub fn report_record(report: &Report) -> Result<Record, ServiceError> {
    let mut record = Record::new(keys::report(report.id), encode(report)?);
    record.index = Some(crate::ports::IndexKey {
        pk: keys::REPORTS_INDEX.to_string(),
        sk: format!(
            "{}#{}",
            report.requested_at.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
            report.id
        ),
    });
    Ok(record)
}

/// What the API shows of a report: its fields, version, and links to its files.
fn view_report(report: &Report, version: u64) -> Value {
    let mut body = view(
        &serde_json::to_value(report).unwrap_or(Value::Null),
        version,
    );
    let links: Vec<Value> = report
        .files
        .iter()
        .map(|f| json!({"name": f, "href": format!("/reports/{}/files/{f}", report.id), "type": media_type(f)}))
        .collect();
    if let Some(o) = body.as_object_mut() {
        o.insert("links".into(), Value::Array(links));
    }
    body
}

/// The media type of a report file, by its extension.
pub fn media_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("csv") => "text/csv; charset=utf-8",
        Some("json") => "application/json",
        Some("jsonld") => "application/ld+json",
        Some("html") => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}
