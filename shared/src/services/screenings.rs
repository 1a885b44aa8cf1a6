//! Submitting and reading screenings. A submission is validated against the instrument
//! definition BEFORE anything is stored, then queued for the scoring worker.
//!
//! Delivery: the scoring message is sent before the submission is committed. If the
//! commit then fails, the worker finds no submission and drops the message after a grace
//! period; if the send fails, nothing is committed and the client gets a retryable 503.
//! Either way an accepted (202) submission always has a message on its way.
//!
//! Audit: a new submission's entry in the child's audit chain is committed in the same
//! atomic write as the submission (and its idempotency record), so the request path has
//! one durable write after the send, and a submission is never stored unaudited. A replay
//! or a refusal is recorded in a write of its own.

use crate::domain::registry::SupportEpisode;
use crate::domain::{ChildId, FieldError, Principal, Role, ScreeningId};
use crate::ports::{
    Clock, IdGenerator, Queue, Record, RecordStore, SortKeyCondition, StoreError, WriteOp,
};
use crate::scoring::{
    Engine, EpisodeSpan, OutcomeWindows, ScoreRequest, ScoreResult, StoredResult,
    programme_outcomes, risk_profile,
};
use crate::services::access::visible_child;
use crate::services::audit::{
    APPEND_ATTEMPTS, AuditAction, AuditEntity, AuditEvent, AuditOutcome, AuditTrail,
};
use crate::services::care::{self, CareBasis};
use crate::services::idempotency::{self, Committed, IdempotencyRequest};
use crate::services::{PERSON_READERS, Reply, ServiceError, minimisation, require_role, stored};
use crate::store::codec::corrupt;
use crate::store::keys;
use crate::store::lookups::child_episodes;
use crate::store::query::{query_all, query_index_all};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Roles that may ask for a screening to be scored again (after a definition or engine change).
pub const RESCORERS: &[Role] = &[Role::RegistryAdministrator];

/// Roles that may submit screenings.
pub const SCREENERS: &[Role] = &[
    Role::HealthSpecialist,
    Role::EducationSpecialist,
    Role::PartnerSystem,
];

/// Body of `POST /screenings`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewScreeningInput {
    /// The child screened.
    pub child_id: ChildId,
    /// Instrument id (e.g. `mchat-r`, `sdq-parent-4-17`).
    pub instrument: String,
    /// Date the instrument was administered.
    pub administered_on: NaiveDate,
    /// Answers by item id, coded as the instrument definition says.
    pub answers: BTreeMap<String, Value>,
    /// For follow-up instruments (M-CHAT-R/F): the initial screening.
    #[serde(default)]
    pub initial_screening_id: Option<ScreeningId>,
}

/// Status of a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScreeningStatus {
    /// Stored and queued; not scored yet.
    Submitted,
    /// Scored; the result is attached.
    Scored,
    /// Could not be scored (e.g. the definition changed in between); errors attached.
    Rejected,
}

/// The message sent to the scoring queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoringMessage {
    /// The submission to score.
    pub screening_id: ScreeningId,
    /// When it was submitted (to tell an abandoned submission from a slow commit).
    pub submitted_at: DateTime<Utc>,
}

/// The screening use cases.
pub struct ScreeningsService<R, Q> {
    records: R,
    queue: Q,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    engine: Arc<Engine>,
    audit: AuditTrail<R>,
}

/// Builds the scoring request for a stored submission and its child.
pub fn score_request(
    submission: &Value,
    child: &crate::domain::Child,
    initial: Option<Value>,
) -> Result<ScoreRequest, serde_json::Error> {
    let mut req = json!({
        "instrument": submission["instrument"],
        "answers": submission["answers"],
        "administered_on": submission["administered_on"],
        "child": {
            "birth_date": child.birth_date,
            "sex": child.sex,
            "gestational_age_weeks": child.gestational_age_weeks,
        },
    });
    if let Some(initial) = initial {
        req["initial"] = initial;
    }
    serde_json::from_value(req)
}

impl<R: RecordStore, Q: Queue> ScreeningsService<R, Q> {
    /// Builds the service.
    pub fn new(
        records: R,
        queue: Q,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        engine: Arc<Engine>,
        audit: AuditTrail<R>,
    ) -> Self {
        Self {
            records,
            queue,
            clock,
            ids,
            engine,
            audit,
        }
    }

    /// The audit trail every access of this service is recorded in.
    pub fn audit(&self) -> &AuditTrail<R> {
        &self.audit
    }

    /// Validates, stores and queues a submission; answers 202 with its id and location.
    /// The submitter's organisation gets a care link (`screened`, also on a replay, so a
    /// retry repairs a link lost in between). The submission (or its refusal or replay) is
    /// recorded in the child's audit trail, with the break-the-glass reason if made under one.
    pub async fn submit(
        &self,
        principal: &Principal,
        request_id: &str,
        input: NewScreeningInput,
        idempotency: Option<IdempotencyRequest>,
    ) -> Result<Reply, ServiceError> {
        self.audit
            .require_role(
                principal,
                request_id,
                SCREENERS,
                "submit screenings",
                Some(AuditEvent::all(
                    input.child_id,
                    AuditEntity::Screening,
                    AuditAction::Create,
                )),
            )
            .await?;
        let (reply, audited) = self
            .store_submission(principal, request_id, input, idempotency)
            .await?;
        let parse = |field: &str| {
            reply.body[field]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| StoreError::Invalid(format!("screening reply without {field}")))
        };
        let child: ChildId = parse("child_id")?
            .parse()
            .map_err(|e| StoreError::Invalid(format!("screening reply child_id: {e}")))?;
        care::record_link(
            &self.records,
            child,
            &principal.organisation,
            CareBasis::Screened,
            self.clock.now(),
        )
        .await?;
        if !audited {
            let event = AuditEvent::all(child, AuditEntity::Screening, AuditAction::Create)
                .of(parse("id")?)
                .with_outcome(AuditOutcome::Replayed);
            self.audit.record(principal, request_id, event).await?;
        }
        Ok(reply)
    }

    /// Validates, queues and stores a submission with its audit entry; `true` with the
    /// reply when this request stored it (and its entry), `false` for a replay (not yet
    /// audited).
    async fn store_submission(
        &self,
        principal: &Principal,
        request_id: &str,
        input: NewScreeningInput,
        idempotency: Option<IdempotencyRequest>,
    ) -> Result<(Reply, bool), ServiceError> {
        if let Some(reply) = idempotency::replay(&self.records, idempotency.as_ref()).await? {
            return Ok((reply, false));
        }
        let now = self.clock.now();
        if input.administered_on > now.date_naive() {
            return Err(ServiceError::invalid(
                "administered_on",
                "must not be in the future",
            ));
        }
        if self.engine.instrument(&input.instrument).is_none() {
            return Err(ServiceError::invalid(
                "instrument",
                format!(
                    "unknown instrument '{}'",
                    input.instrument.chars().take(64).collect::<String>()
                ),
            ));
        }
        let (child, access) = visible_child(&self.records, principal, input.child_id, now)
            .await?
            .ok_or_else(|| {
                ServiceError::invalid("child_id", format!("no child with id {}", input.child_id))
            })?;
        let initial = match input.initial_screening_id {
            None => None,
            Some(id) => Some(self.initial_result(id, input.child_id).await?),
        };
        let id = ScreeningId::from_uuid(self.ids.new_id());
        let data = json!({
            "id": id,
            "child_id": input.child_id,
            "instrument": input.instrument,
            "administered_on": input.administered_on,
            "answers": input.answers,
            "initial_screening_id": input.initial_screening_id,
            "status": ScreeningStatus::Submitted,
            "submitted_at": now,
            "submitted_by": {"subject": principal.subject, "organisation": principal.organisation, "roles": principal.roles},
        });
        let request = score_request(&data, &child, initial)
            .map_err(|e| ServiceError::invalid("answers", e.to_string()))?;
        self.engine.validate(&request).map_err(|errs| {
            ServiceError::Validation(
                errs.into_iter()
                    .map(|e| FieldError::new(e.field, e.reason))
                    .collect(),
            )
        })?;

        let message = serde_json::to_string(&ScoringMessage {
            screening_id: id,
            submitted_at: now,
        })
        .map_err(StoreError::Encode)?;
        self.queue.send(&message).await?;

        let record = Record::new(keys::screening(id), data.clone()).with_index(
            keys::child_index(input.child_id),
            keys::child_screening_index(input.administered_on, id),
        );
        let reply = Reply {
            status: 202,
            location: Some(format!("/screenings/{id}")),
            etag: None,
            body: json!({"id": id, "status": ScreeningStatus::Submitted, "child_id": input.child_id,
                         "instrument": data["instrument"], "administered_on": input.administered_on}),
            replayed: false,
            file: None,
        };
        let event = AuditEvent::all(input.child_id, AuditEntity::Screening, AuditAction::Create)
            .of(id)
            .with_break_glass_reason(access.break_glass_reason());
        for _ in 0..APPEND_ATTEMPTS {
            let (entry, append) = self.audit.append_ops(principal, request_id, &event).await?;
            let mut writes = vec![WriteOp::PutNew(record.clone())];
            writes.extend(append);
            let audit_ops = 1..writes.len();
            match idempotency::commit(
                &self.records,
                writes,
                idempotency.as_ref(),
                reply.clone(),
                now.timestamp(),
            )
            .await
            {
                Ok(Committed::Applied(r)) => {
                    self.audit.archive(&entry).await?;
                    return Ok((r, true));
                }
                Ok(Committed::Replayed(r)) => return Ok((r, false)),
                // Another append took the chain's next entry first: read the head again.
                Err(ServiceError::Store(StoreError::TransactionCancelled { index }))
                    if audit_ops.contains(&index) => {}
                Err(e) => return Err(e),
            }
        }
        Err(ServiceError::Store(StoreError::Unavailable(
            format!(
                "the audit chain of child {} is too busy; try again",
                input.child_id
            )
            .into(),
        )))
    }

    /// The initial screening of the same child that a follow-up stage belongs to.
    async fn initial_result(&self, id: ScreeningId, child: ChildId) -> Result<Value, ServiceError> {
        let invalid = |reason: String| ServiceError::invalid("initial_screening_id", reason);
        let initial = initial_screening(&self.records, id)
            .await?
            .ok_or_else(|| invalid(format!("no screening with id {id}")))?;
        if initial.1 != json!(child) {
            return Err(invalid("the initial screening is of another child".into()));
        }
        Ok(initial.0)
    }

    /// A submission with its status and latest result; the read is recorded in the child's
    /// audit trail before anything is returned.
    pub async fn get(
        &self,
        principal: &Principal,
        request_id: &str,
        id: ScreeningId,
    ) -> Result<Reply, ServiceError> {
        // The child is known only after reading, so a refusal here has no chain to go to.
        require_role(principal, PERSON_READERS, "read screenings")?;
        let (record, child_id) = screening_record(&self.records, id).await?;
        let Some((_, access)) =
            visible_child(&self.records, principal, child_id, self.clock.now()).await?
        else {
            return Err(screening_not_found(id));
        };
        let mut body = record.data.clone();
        let results = all_results(&self.records, id).await?;
        let history: Vec<Value> = results
            .iter()
            .map(|r| {
                json!({"result_id": r["result_id"], "instrument_version": r["instrument_version"],
                       "engine_version": r["engine_version"], "scored_at": r["scored_at"],
                       "risk_level": r["risk_level"]})
            })
            .collect();
        if let Some(obj) = body.as_object_mut() {
            obj.insert(
                "result".into(),
                results.last().cloned().unwrap_or(Value::Null),
            );
            obj.insert("results".into(), Value::Array(history));
        }
        let event = AuditEvent::all(child_id, AuditEntity::Screening, AuditAction::Read)
            .of(id)
            .with_break_glass_reason(access.break_glass_reason());
        self.audit.record(principal, request_id, event).await?;
        Ok(Reply::ok(minimisation::screening(principal, body)))
    }
}

impl<R: RecordStore, Q: Queue> ScreeningsService<R, Q> {
    /// Queues a stored submission for scoring with the current definitions and engine. A
    /// version that already scored it changes nothing; a new version adds a result and keeps
    /// every earlier one.
    pub async fn rescore(
        &self,
        principal: &Principal,
        request_id: &str,
        id: ScreeningId,
    ) -> Result<Reply, ServiceError> {
        // The child is known only after reading, so a refusal here has no chain to go to.
        require_role(principal, RESCORERS, "re-score screenings")?;
        let (_, child_id) = screening_record(&self.records, id).await?;
        let message = serde_json::to_string(&ScoringMessage {
            screening_id: id,
            submitted_at: self.clock.now(),
        })
        .map_err(StoreError::Encode)?;
        self.queue.send(&message).await?;
        let event = AuditEvent::all(child_id, AuditEntity::Screening, AuditAction::Update).of(id);
        self.audit.record(principal, request_id, event).await?;
        Ok(Reply {
            status: 202,
            location: Some(format!("/screenings/{id}")),
            etag: None,
            body: json!({"id": id, "rescore": "queued"}),
            replayed: false,
            file: None,
        })
    }

    /// One view over all of a child's results: latest per instrument, trend, open
    /// recommendations, rescreens due or overdue (rules in `scoring/risk_profile.rs`).
    pub async fn risk_profile(
        &self,
        principal: &Principal,
        request_id: &str,
        child_id: ChildId,
    ) -> Result<Reply, ServiceError> {
        let event = AuditEvent::all(child_id, AuditEntity::RiskProfile, AuditAction::Read);
        self.audit
            .require_role(
                principal,
                request_id,
                PERSON_READERS,
                "read a child's risk profile",
                Some(event.clone()),
            )
            .await?;
        let Some((_, access)) =
            visible_child(&self.records, principal, child_id, self.clock.now()).await?
        else {
            return Err(ServiceError::NotFound(format!(
                "no child with id {child_id}"
            )));
        };
        let event = event.with_break_glass_reason(access.break_glass_reason());
        let results = person_results(&self.records, child_id).await?;
        let profile = risk_profile(&self.engine, &results, self.clock.now().date_naive());
        let episodes: Vec<EpisodeSpan> = person_episodes(&self.records, child_id)
            .await?
            .iter()
            .map(EpisodeSpan::from)
            .collect();
        let outcomes =
            programme_outcomes(&self.engine, &episodes, &results, OutcomeWindows::POLICY);
        let mut body = serde_json::to_value(&profile).map_err(StoreError::Encode)?;
        body["child_id"] = json!(child_id);
        body["programme_outcomes"] = serde_json::to_value(&outcomes).map_err(StoreError::Encode)?;
        self.audit.record(principal, request_id, event).await?;
        Ok(Reply::ok(minimisation::risk_profile(principal, body)))
    }
}

/// The answer to a screening that does not exist or that the caller may not see.
fn screening_not_found(id: ScreeningId) -> ServiceError {
    ServiceError::NotFound(format!("no screening with id {id}"))
}

/// A stored submission and its child.
async fn screening_record<R: RecordStore>(
    records: &R,
    id: ScreeningId,
) -> Result<(Record, ChildId), ServiceError> {
    let record = stored(records, &keys::screening(id), || screening_not_found(id)).await?;
    let child_id = serde_json::from_value(record.data["child_id"].clone())
        .map_err(|e| corrupt(&record, &format!("child_id: {e}")))?;
    Ok((record, child_id))
}

/// Every stored score result of a child (all instruments, re-scorings included), read through
/// the child's index; used by the risk profile and the analytics export. No access check:
/// callers check first.
pub async fn child_results<R: RecordStore>(
    records: &R,
    child_id: ChildId,
) -> Result<Vec<StoredResult>, ServiceError> {
    let stored = query_index_all(
        records,
        &keys::child_index(child_id),
        &SortKeyCondition::Prefix(keys::RESULT_PREFIX.into()),
    )
    .await?;
    stored.iter().map(stored_result).collect()
}

/// The results of a child and of every child merged into it (transitively): what one person
/// was screened for, whichever of their duplicate records the screening was filed under.
pub async fn person_results<R: RecordStore>(
    records: &R,
    child_id: ChildId,
) -> Result<Vec<StoredResult>, ServiceError> {
    let mut results = child_results(records, child_id).await?;
    for merged in crate::store::lookups::merged_ids(records, child_id).await? {
        results.extend(child_results(records, merged).await?);
    }
    Ok(results)
}

/// The support episodes of a child and of every child merged into it (transitively), like
/// [`person_results`], by start date (not started last), then id.
pub async fn person_episodes<R: RecordStore>(
    records: &R,
    child_id: ChildId,
) -> Result<Vec<SupportEpisode>, ServiceError> {
    let mut episodes = child_episodes(records, child_id).await?;
    for merged in crate::store::lookups::merged_ids(records, child_id).await? {
        episodes.extend(child_episodes(records, merged).await?);
    }
    episodes.sort_by_key(|e| (e.start_date.is_none(), e.start_date, e.id));
    Ok(episodes)
}

pub fn stored_result(record: &Record) -> Result<StoredResult, ServiceError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        pk: record.key.pk.clone(),
        sk: record.key.sk.clone(),
        reason,
    };
    Ok(StoredResult {
        result_id: serde_json::from_value(record.data["result_id"].clone())
            .map_err(|e| corrupt(format!("result_id: {e}")))?,
        screening_id: serde_json::from_value(record.data["screening_id"].clone())
            .map_err(|e| corrupt(format!("screening_id: {e}")))?,
        result: serde_json::from_value::<ScoreResult>(record.data.clone())
            .map_err(|e| corrupt(e.to_string()))?,
    })
}

/// The link to an initial screening as the engine takes it (`instrument`, `administered_on`,
/// `answers`), with the initial screening's child id.
pub async fn initial_screening<R: RecordStore>(
    records: &R,
    id: ScreeningId,
) -> Result<Option<(Value, Value)>, ServiceError> {
    Ok(records.get(&keys::screening(id)).await?.map(|r| {
        (
            json!({"instrument": r.data["instrument"], "administered_on": r.data["administered_on"],
                   "answers": r.data["answers"]}),
            r.data["child_id"].clone(),
        )
    }))
}

/// Every result of a screening, oldest scoring first.
pub async fn all_results<R: RecordStore>(
    records: &R,
    id: ScreeningId,
) -> Result<Vec<Value>, ServiceError> {
    let mut out: Vec<Value> = query_all(
        records,
        &keys::screening_partition(id),
        &SortKeyCondition::Prefix(keys::RESULT_PREFIX.into()),
    )
    .await?
    .into_iter()
    .map(|r| r.data)
    .collect();
    // By scoring time (parsed: fractional seconds vary in length), then the v7 result id.
    let key = |r: &Value| {
        (
            r["scored_at"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok()),
            r["result_id"].as_str().map(str::to_owned),
        )
    };
    out.sort_by_key(key);
    Ok(out)
}
