//! Referrals (issue #14, item 1): from a result's recommendation (or a specialist's choice)
//! to support at a provider, through the states of `domain/referral.rs`.
//!
//! - Who sees a referral: anyone who may see the child (`services/access.rs`; the referring
//!   organisation has a `referred` care link), minimised like a screening for roles without
//!   the clinical view (the recommending rule is left out); and the provider organisation
//!   once it was sent, which before it may see the child (acceptance) gets a preview without
//!   the basis, the family's agreement or the history.
//! - Care: acceptance gives the provider a care link through the referral; its end (declined
//!   never had one; completed, ended or withdrawn after acceptance) limits it to the end
//!   plus the grace period (`RAVIS_REFERRAL_GRACE_DAYS`, default 30). The referring
//!   organisation gets a lasting `referred` link.
//! - Start links an open episode of the child at the provider or creates one (same atomic
//!   write as the referral); complete and end close that episode with the outcome.
//! - Every change and read is an entry (`referral`) in the child's audit trail; each change
//!   writes a worklist pending marker in its atomic write (`services/worklist/`).

use crate::domain::catalogue_entry::{EntryKind, EntryStatus};
use crate::domain::referral::{
    AgreementInput, AgreementStatus, FamilyAgreement, NewReferralInput, Referral, ReferralBasis,
    ReferralState, Side, Step, TransitionInput, Urgency, check_reason, check_transition, step_rule,
};
use crate::domain::registry::{
    EndReason, ReferralSource, RegistryStatus, Specialist, SupportEpisode,
};
use crate::domain::registry_input::EpisodeUpdateInput;
use crate::domain::{ChildId, EpisodeId, FieldError, Principal, ReferralId, Role};
use crate::ports::{Clock, IdGenerator, Record, RecordStore, WriteOp};
use crate::scoring::{RecommendationKind, completed_months};
use crate::services::audit::{AuditAction, AuditEntity, AuditEvent, AuditOutcome, AuditTrail};
use crate::services::care::{self, CareBasis};
use crate::services::idempotency::{self, Committed, IdempotencyRequest};
use crate::services::registry::episodes::check_episode_references;
use crate::services::registry::listing::{
    ListQuery, Listing, Pager, check_version, concurrent, decode, encode, versioned_reply,
};
use crate::services::screenings::all_results;
use crate::services::worklist::Worklist;
use crate::services::{
    PERSON_READERS, Reply, ServiceError, access, catalogue, minimisation, require_role,
};
use crate::store::keys;
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Roles that may refer a child.
pub const REFERRERS: &[Role] = &[
    Role::HealthSpecialist,
    Role::EducationSpecialist,
    Role::ProgrammeProvider,
    Role::MunicipalitySocialService,
];

pub use crate::domain::referral::DEFAULT_GRACE_DAYS;

/// Fields the provider sees of a referral before it accepted it.
const PROVIDER_PREVIEW_FIELDS: &[&str] = &[
    "id",
    "child_id",
    "programme",
    "provider_org",
    "referring_org",
    "urgency",
    "due_on",
    "state",
    "created_at",
    "version",
];

/// The referral use cases.
pub struct ReferralService<R> {
    records: R,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    audit: AuditTrail<R>,
    worklist: Worklist<R>,
    grace_days: u32,
}

impl<R: RecordStore> ReferralService<R> {
    /// Builds the service.
    pub fn new(
        records: R,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        audit: AuditTrail<R>,
        worklist: Worklist<R>,
        grace_days: u32,
    ) -> Self {
        Self {
            records,
            clock,
            ids,
            audit,
            worklist,
            grace_days,
        }
    }

    fn today(&self) -> NaiveDate {
        self.clock.now().date_naive()
    }

    async fn record(
        &self,
        principal: &Principal,
        request_id: &str,
        event: AuditEvent,
    ) -> Result<(), ServiceError> {
        let reason =
            match access::visible_child(&self.records, principal, event.child, self.clock.now())
                .await?
            {
                Some((_, a)) => a.break_glass_reason(),
                None => None,
            };
        self.audit
            .record(principal, request_id, event.with_break_glass_reason(reason))
            .await?;
        Ok(())
    }

    /// `POST /referrals`.
    pub async fn create(
        &self,
        principal: &Principal,
        request_id: &str,
        input: NewReferralInput,
        idempotency: Option<IdempotencyRequest>,
    ) -> Result<Reply, ServiceError> {
        let child_id = input.child_id;
        let event = AuditEvent::all(child_id, AuditEntity::Referral, AuditAction::Create);
        let visible =
            access::visible_child(&self.records, principal, child_id, self.clock.now()).await?;
        self.audit
            .require_role(
                principal,
                request_id,
                REFERRERS,
                "refer a child",
                visible.is_some().then(|| event.clone()),
            )
            .await?;
        let Some((child, _)) = visible else {
            return Err(ServiceError::invalid(
                "child_id",
                "is not a registered child you may see",
            ));
        };
        if let Some(reply) = idempotency::replay(&self.records, idempotency.as_ref()).await? {
            let id = reply.body["id"].as_str().unwrap_or_default().to_owned();
            self.record(
                principal,
                request_id,
                event.of(id).with_outcome(AuditOutcome::Replayed),
            )
            .await?;
            return Ok(reply);
        }
        // The referring organisation is the support episode's `referring_org` once support
        // starts, so it must be in the registry.
        if self
            .records
            .get(&keys::organisation(&principal.organisation))
            .await?
            .is_none()
        {
            return Err(ServiceError::Forbidden(format!(
                "your organisation ({}) is not in the registry; a registry administrator registers it before it refers children",
                principal.organisation
            )));
        }
        let today = self.today();
        let mut errors = Vec::new();
        // What the basis recommends, when it is a result's recommendation.
        let mut recommended: Option<(Option<String>, Option<NaiveDate>, RecommendationKind)> = None;
        match &input.basis {
            ReferralBasis::Result { screening_id, rule } => {
                let screening = self.records.get(&keys::screening(*screening_id)).await?;
                let same_child = screening
                    .as_ref()
                    .is_some_and(|s| s.data["child_id"].as_str() == Some(&child_id.to_string()));
                if !same_child {
                    errors.push(FieldError::new(
                        "basis.result.screening_id",
                        "is not a screening of this child",
                    ));
                } else {
                    let results = all_results(&self.records, *screening_id).await?;
                    let found = results.last().and_then(|r| {
                        r["recommendations"].as_array().and_then(|recs| {
                            recs.iter().find_map(|rec| {
                                let kind: RecommendationKind =
                                    serde_json::from_value(rec["kind"].clone()).ok()?;
                                (rec["rule"].as_str() == Some(rule.as_str())
                                    && matches!(
                                        kind,
                                        RecommendationKind::ReferralProgramme
                                            | RecommendationKind::ReferralInDepthAssessment
                                            | RecommendationKind::ReferralUrgent
                                    ))
                                .then(|| {
                                    (
                                        rec["programme"].as_str().map(str::to_owned),
                                        rec["due_on"].as_str().and_then(|d| d.parse().ok()),
                                        kind,
                                    )
                                })
                            })
                        })
                    });
                    match found {
                        Some(f) => recommended = Some(f),
                        None => errors.push(FieldError::new(
                            "basis.result.rule",
                            "is not a referral recommendation of this screening's latest result",
                        )),
                    }
                }
            }
            ReferralBasis::Reason { text } => {
                if let Err(e) = check_reason("basis.reason.text", Some(text), true) {
                    errors.push(e);
                }
            }
        }
        let programme = input
            .programme
            .clone()
            .or_else(|| recommended.as_ref().and_then(|r| r.0.clone()));
        match &programme {
            None if errors.is_empty() => errors.push(FieldError::new(
                "programme",
                "is required: the recommendation names no programme",
            )),
            None => {}
            Some(id) => {
                if let Some(e) = self.check_programme(id, &child, today).await? {
                    errors.push(e);
                }
            }
        }
        match self
            .records
            .get(&keys::organisation(&input.provider_org))
            .await?
        {
            Some(r) if r.data["status"] == "inactive" => errors.push(FieldError::new(
                "provider_org",
                "is an inactive organisation",
            )),
            Some(_) => {}
            None => errors.push(FieldError::new(
                "provider_org",
                "is not a registered organisation",
            )),
        }
        if input.provider_org == principal.organisation {
            errors.push(FieldError::new(
                "provider_org",
                "is your own organisation: record a support episode instead",
            ));
        }
        if let Some(sid) = input.specialist_id {
            let works_here = match self.records.get(&keys::specialist(sid)).await? {
                Some(r) => {
                    let s: Specialist = decode(&r)?;
                    s.status == RegistryStatus::Active
                        && s.organisations.contains(&principal.organisation)
                }
                None => false,
            };
            if !works_here {
                errors.push(FieldError::new(
                    "specialist_id",
                    "is not an active specialist of your organisation",
                ));
            }
        }
        let urgency = input.urgency.unwrap_or(match recommended {
            Some((_, _, RecommendationKind::ReferralUrgent)) => Urgency::Urgent,
            _ => Urgency::Routine,
        });
        let due_on = input
            .due_on
            .or(recommended.as_ref().and_then(|r| r.1))
            .unwrap_or_else(|| today + Days::new(urgency.default_due_days()));
        if input.due_on.is_some_and(|d| d < today) {
            errors.push(FieldError::new("due_on", "must not be in the past"));
        }
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let now = self.clock.now();
        let agreement = input.family_agreement.unwrap_or(AgreementStatus::NotAsked);
        let referral = Referral {
            id: ReferralId::from_uuid(self.ids.new_id()),
            child_id,
            programme: programme.unwrap_or_default(),
            provider_org: input.provider_org,
            referring_org: principal.organisation.clone(),
            referring_subject: principal.subject.clone(),
            referring_specialist_id: input.specialist_id,
            basis: input.basis,
            urgency,
            due_on,
            state: ReferralState::Proposed,
            family_agreement: agreement_record(agreement, principal, now),
            decline_reason: None,
            end_reason: None,
            outcome: None,
            episode_id: None,
            care_until: None,
            history: vec![step(ReferralState::Proposed, principal, now, None)],
            created_at: now,
        };
        let event_id = self.ids.new_id().to_string();
        let record = Record::new(keys::referral(referral.id), encode(&referral)?).with_index(
            keys::child_index(child_id),
            keys::child_referral_index(referral.id),
        );
        let mut reply = self.reply(principal, 201, &referral, 1, true)?;
        reply.location = Some(format!("/referrals/{}", referral.id));
        let committed = idempotency::commit(
            &self.records,
            vec![
                WriteOp::PutNew(record),
                self.worklist.pending_marker(child_id, &event_id),
            ],
            idempotency.as_ref(),
            reply,
            now.timestamp(),
        )
        .await?;
        let (reply, outcome) = match committed {
            Committed::Applied(r) => (r, AuditOutcome::Success),
            Committed::Replayed(r) => (r, AuditOutcome::Replayed),
        };
        care::record_link(
            &self.records,
            child_id,
            &referral.referring_org,
            CareBasis::Referred,
            now,
        )
        .await?;
        self.worklist.settle(child_id, &event_id).await;
        let id = reply.body["id"].as_str().unwrap_or_default().to_owned();
        self.record(principal, request_id, event.of(id).with_outcome(outcome))
            .await?;
        Ok(reply)
    }

    /// Why `id` cannot take a new referral of this child today, if it cannot.
    async fn check_programme(
        &self,
        id: &str,
        child: &crate::domain::Child,
        today: NaiveDate,
    ) -> Result<Option<FieldError>, ServiceError> {
        let entry = catalogue::entry(&self.records, id).await?.map(|(e, _)| e);
        Ok(match entry {
            None => Some(FieldError::new(
                "programme",
                "is not a programme or service of the catalogue",
            )),
            Some(e) if e.kind == EntryKind::Instrument => Some(FieldError::new(
                "programme",
                "is a screening instrument, not a programme or service",
            )),
            Some(e) if e.status == EntryStatus::Retired => Some(FieldError::new(
                "programme",
                "is retired and takes no new referrals",
            )),
            Some(e) => {
                let age = completed_months(child.birth_date, today);
                e.target_age_months.filter(|r| !r.contains(age)).map(|r| {
                    FieldError::new(
                        "programme",
                        format!(
                            "is for children aged {} to {} months; the child is {age} months old",
                            r.min, r.max
                        ),
                    )
                })
            }
        })
    }

    /// The stored referral and whether the caller sees the child, or 404 when the caller may
    /// not see the referral at all.
    async fn load(
        &self,
        principal: &Principal,
        id: ReferralId,
    ) -> Result<(Record, Referral, bool), ServiceError> {
        let not_found = || ServiceError::NotFound(format!("no referral with id {id}"));
        let record = self
            .records
            .get(&keys::referral(id))
            .await?
            .ok_or_else(not_found)?;
        let referral: Referral = decode(&record)?;
        let sees_child = self.sees_child(principal, referral.child_id).await?;
        if !sees_child && !party(principal, &referral) {
            return Err(not_found());
        }
        Ok((record, referral, sees_child))
    }

    async fn sees_child(
        &self,
        principal: &Principal,
        child: ChildId,
    ) -> Result<bool, ServiceError> {
        Ok(
            access::visible_child(&self.records, principal, child, self.clock.now())
                .await?
                .is_some(),
        )
    }

    /// A referral as this caller may see it.
    fn view(
        &self,
        principal: &Principal,
        referral: &Referral,
        version: u64,
        sees_child: bool,
    ) -> Result<Value, ServiceError> {
        let mut data = encode(referral)?;
        data["version"] = json!(version);
        if sees_child {
            if minimisation::view_for(principal) != minimisation::View::Clinical
                && let Some(result) = data["basis"]
                    .get_mut("result")
                    .and_then(Value::as_object_mut)
            {
                result.remove("rule");
            }
            return Ok(data);
        }
        Ok(Value::Object(
            PROVIDER_PREVIEW_FIELDS
                .iter()
                .filter_map(|f| data.get(*f).map(|v| ((*f).to_owned(), v.clone())))
                .collect(),
        ))
    }

    fn reply(
        &self,
        principal: &Principal,
        status: u16,
        referral: &Referral,
        version: u64,
        sees_child: bool,
    ) -> Result<Reply, ServiceError> {
        let mut reply = versioned_reply(status, &Value::Null, version);
        reply.body = self.view(principal, referral, version, sees_child)?;
        Ok(reply)
    }

    /// `GET /referrals/{id}`; audited.
    pub async fn get(
        &self,
        principal: &Principal,
        request_id: &str,
        id: ReferralId,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, PERSON_READERS, "read referrals")?;
        let (record, referral, sees) = self.load(principal, id).await?;
        let reply = self.reply(principal, 200, &referral, record.version, sees)?;
        self.record(
            principal,
            request_id,
            AuditEvent::all(referral.child_id, AuditEntity::Referral, AuditAction::Read).of(id),
        )
        .await?;
        Ok(reply)
    }

    /// `POST /referrals/{id}/transitions` at version `expected` (see `domain/referral.rs`).
    pub async fn transition(
        &self,
        principal: &Principal,
        request_id: &str,
        id: ReferralId,
        expected: u64,
        input: TransitionInput,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, PERSON_READERS, "change referrals")?;
        let (record, mut referral, _) = self.load(principal, id).await?;
        let to = input.to;
        let (from, side) = step_rule(to);
        let owner = match side {
            Side::Referring => &referral.referring_org,
            Side::Provider => &referral.provider_org,
        };
        if &principal.organisation != owner {
            return Err(ServiceError::Forbidden(format!(
                "only the {} organisation ({owner}) may move a referral to {}",
                match side {
                    Side::Referring => "referring",
                    Side::Provider => "provider",
                },
                to.as_str()
            )));
        }
        let errors = check_transition(&input, self.today());
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        check_version("referral", record.version, expected)?;
        if !from.contains(&referral.state) {
            return Err(ServiceError::Conflict {
                slug: "invalid-transition",
                detail: format!(
                    "a {} referral cannot be moved to {}; {} follows {}",
                    referral.state.as_str(),
                    to.as_str(),
                    to.as_str(),
                    from.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
                existing_id: None,
            });
        }
        if to == ReferralState::Sent && referral.family_agreement.status != AgreementStatus::Agreed
        {
            return Err(ServiceError::Conflict {
                slug: "family-agreement-missing",
                detail: "a referral is sent only with the family's agreement: record it (PUT /referrals/{id}/family-agreement) first".into(),
                existing_id: None,
            });
        }
        let now = self.clock.now();
        let mut writes = Vec::new();
        match to {
            ReferralState::Declined => {
                referral.decline_reason = input.reason.as_deref().map(|r| r.trim().to_owned())
            }
            ReferralState::Started => {
                let episode = self.start_episode(&referral, &input).await?;
                referral.episode_id = Some(episode.0.id);
                writes.push(episode.1);
            }
            ReferralState::Completed | ReferralState::Ended => {
                referral.outcome = input.outcome;
                referral.end_reason = Some(input.end_reason.unwrap_or(EndReason::Completed));
                if let Some(close) = self.close_episode(&referral, &input).await? {
                    writes.push(close);
                }
            }
            _ => {}
        }
        let had_care = referral.state.grants_care();
        referral.state = to;
        if had_care && to.is_final() {
            referral.care_until = Some(now + chrono::Duration::days(self.grace_days.into()));
        }
        referral
            .history
            .push(step(to, principal, now, input.reason.clone()));
        let event_id = self.ids.new_id().to_string();
        writes.push(WriteOp::PutVersioned {
            record: Record {
                data: encode(&referral)?,
                ..record
            },
            expected,
        });
        writes.push(self.worklist.pending_marker(referral.child_id, &event_id));
        self.records
            .transact(writes)
            .await
            .map_err(|e| concurrent("referral", e))?;
        if to.grants_care() || (had_care && to.is_final()) {
            care::record_referral(
                &self.records,
                referral.child_id,
                &referral.provider_org,
                referral.id,
                referral.care_until,
                now,
            )
            .await?;
        }
        self.worklist.settle(referral.child_id, &event_id).await;
        let sees = self.sees_child(principal, referral.child_id).await?;
        let reply = self.reply(principal, 200, &referral, expected + 1, sees)?;
        self.record(
            principal,
            request_id,
            AuditEvent::all(
                referral.child_id,
                AuditEntity::Referral,
                AuditAction::Update,
            )
            .of(id),
        )
        .await?;
        Ok(reply)
    }

    /// The episode a start links (an open one of the child at the provider) or creates,
    /// with its write.
    async fn start_episode(
        &self,
        referral: &Referral,
        input: &TransitionInput,
    ) -> Result<(SupportEpisode, WriteOp), ServiceError> {
        if let Some(eid) = input.episode_id {
            let record = self.records.get(&keys::episode(eid)).await?;
            let episode: Option<SupportEpisode> = record.as_ref().map(decode).transpose()?;
            return match (record, episode) {
                (Some(record), Some(mut e))
                    if e.child_id == referral.child_id
                        && e.provider_org == referral.provider_org
                        && e.is_open()
                        && e.referral_id.is_none() =>
                {
                    e.referral_id = Some(referral.id);
                    let version = record.version;
                    let write = WriteOp::PutVersioned {
                        record: Record {
                            data: encode(&e)?,
                            ..record
                        },
                        expected: version,
                    };
                    Ok((e, write))
                }
                _ => Err(ServiceError::invalid(
                    "episode_id",
                    "is not an open support episode of this child at the provider without a referral",
                )),
            };
        }
        let episode_input = EpisodeUpdateInput {
            programme: referral.programme.clone(),
            provider_org: referral.provider_org.clone(),
            specialist_id: input.specialist_id,
            referring_org: Some(referral.referring_org.clone()),
            referral_date: referral
                .sent_on()
                .unwrap_or(referral.created_at.date_naive()),
            referral_source: match &referral.basis {
                ReferralBasis::Result { screening_id, .. } => ReferralSource::Screening {
                    screening_id: *screening_id,
                },
                ReferralBasis::Reason { text } => ReferralSource::Text { text: text.clone() },
            },
            start_date: Some(input.date.unwrap_or(self.today())),
            end_date: None,
            outcome: None,
            end_reason: None,
            planned_end_date: input.planned_end_date,
            last_review_on: None,
        };
        let errors = check_episode_references(
            &self.records,
            referral.child_id,
            &episode_input,
            Some(&referral.programme),
            self.today(),
        )
        .await?;
        if !errors.is_empty() {
            // The episode's fields are this step's `date` and `specialist_id`.
            return Err(ServiceError::Validation(
                errors
                    .into_iter()
                    .map(|e| match e.field.as_str() {
                        "start_date" => FieldError::new("date", e.reason),
                        _ => e,
                    })
                    .collect(),
            ));
        }
        let mut episode = SupportEpisode::new(
            EpisodeId::from_uuid(self.ids.new_id()),
            referral.child_id,
            episode_input,
            self.clock.now(),
        );
        episode.referral_id = Some(referral.id);
        let write = WriteOp::PutNew(
            Record::new(keys::episode(episode.id), encode(&episode)?).with_index(
                keys::child_index(referral.child_id),
                keys::child_episode_index(episode.id),
            ),
        );
        Ok((episode, write))
    }

    /// The write closing the referral's episode with its outcome, if it is still open.
    async fn close_episode(
        &self,
        referral: &Referral,
        input: &TransitionInput,
    ) -> Result<Option<WriteOp>, ServiceError> {
        let Some(eid) = referral.episode_id else {
            return Ok(None);
        };
        let Some(record) = self.records.get(&keys::episode(eid)).await? else {
            return Ok(None);
        };
        let mut episode: SupportEpisode = decode(&record)?;
        if !episode.is_open() {
            return Ok(None);
        }
        let end = input.date.unwrap_or(self.today());
        if episode.start_date.is_some_and(|s| end < s) {
            return Err(ServiceError::invalid(
                "date",
                "must not be before the start of support",
            ));
        }
        episode.end_date = Some(end);
        episode.outcome = referral.outcome;
        episode.end_reason = referral.end_reason;
        let version = record.version;
        Ok(Some(WriteOp::PutVersioned {
            record: Record {
                data: encode(&episode)?,
                ..record
            },
            expected: version,
        }))
    }

    /// `PUT /referrals/{id}/family-agreement` at version `expected` (referring organisation).
    pub async fn set_agreement(
        &self,
        principal: &Principal,
        request_id: &str,
        id: ReferralId,
        expected: u64,
        input: AgreementInput,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REFERRERS, "record a family's agreement")?;
        let (record, mut referral, _) = self.load(principal, id).await?;
        if principal.organisation != referral.referring_org {
            return Err(ServiceError::Forbidden(format!(
                "only the referring organisation ({}) records the family's agreement",
                referral.referring_org
            )));
        }
        check_version("referral", record.version, expected)?;
        if referral.state.is_final() {
            return Err(ServiceError::Conflict {
                slug: "invalid-transition",
                detail: format!(
                    "the referral is {}; its family agreement no longer changes",
                    referral.state.as_str()
                ),
                existing_id: None,
            });
        }
        referral.family_agreement = agreement_record(input.status, principal, self.clock.now());
        let version = self
            .records
            .put_versioned(
                Record {
                    data: encode(&referral)?,
                    ..record
                },
                expected,
            )
            .await
            .map_err(|e| concurrent("referral", e))?;
        let sees = self.sees_child(principal, referral.child_id).await?;
        let reply = self.reply(principal, 200, &referral, version, sees)?;
        self.record(
            principal,
            request_id,
            AuditEvent::all(
                referral.child_id,
                AuditEntity::Referral,
                AuditAction::Update,
            )
            .of(id),
        )
        .await?;
        Ok(reply)
    }

    /// `GET /referrals`: filters `child`, `state`, `provider_org`, `referring_org`,
    /// `due_before`; creation order; only referrals the caller may see; one read entry per
    /// child on the page.
    pub async fn list(
        &self,
        principal: &Principal,
        request_id: &str,
        query: &[(String, String)],
    ) -> Result<Reply, ServiceError> {
        require_role(principal, PERSON_READERS, "list referrals")?;
        let q = ListQuery::parse(
            query,
            &[
                "child",
                "state",
                "provider_org",
                "referring_org",
                "due_before",
            ],
        )?;
        let child = q.parsed("child", str::parse::<ChildId>)?;
        let state = q.parsed("state", ReferralState::parse)?;
        let provider = q.filter("provider_org").map(str::to_owned);
        let referring = q.filter("referring_org").map(str::to_owned);
        let due_before = q.parsed("due_before", |v| {
            v.parse::<NaiveDate>()
                .map_err(|_| "must be a date (YYYY-MM-DD)")
        })?;
        if let Some(c) = child
            && !self.sees_child(principal, c).await?
        {
            return Err(ServiceError::NotFound(format!("no child with id {c}")));
        }
        let listing = match child {
            Some(c) => Listing {
                pk: keys::child_index(c),
                prefix: keys::REFERRAL_PREFIX.into(),
                index: true,
            },
            None => Listing {
                pk: keys::REFERRALS.into(),
                prefix: keys::REFERRAL_PREFIX.into(),
                index: false,
            },
        };
        let mut pager = Pager::new(&self.records, listing, &q)?;
        let mut sees: BTreeMap<ChildId, bool> = BTreeMap::new();
        let mut shown: Vec<ChildId> = Vec::new();
        let mut items = Vec::new();
        while let Some(batch) = pager.next_batch(q.limit - items.len()).await? {
            for record in &batch {
                let r: Referral = decode(record)?;
                let keep = state.is_none_or(|s| r.state == s)
                    && provider.as_ref().is_none_or(|p| &r.provider_org == p)
                    && referring.as_ref().is_none_or(|p| &r.referring_org == p)
                    && due_before.is_none_or(|d| r.due_on < d);
                if !keep {
                    continue;
                }
                let seen = match sees.get(&r.child_id) {
                    Some(s) => *s,
                    None => {
                        let s = self.sees_child(principal, r.child_id).await?;
                        sees.insert(r.child_id, s);
                        s
                    }
                };
                if seen || party(principal, &r) {
                    items.push(self.view(principal, &r, record.version, seen)?);
                    if !shown.contains(&r.child_id) {
                        shown.push(r.child_id);
                    }
                }
            }
        }
        for c in shown {
            self.record(
                principal,
                request_id,
                AuditEvent::all(c, AuditEntity::Referral, AuditAction::Read),
            )
            .await?;
        }
        Ok(pager.finish(items))
    }
}

/// Whether the caller's organisation is the provider of a referral that was sent to it (it
/// sees the referral's preview before it may see the child).
fn party(principal: &Principal, r: &Referral) -> bool {
    principal.organisation == r.provider_org && r.state != ReferralState::Proposed
}

fn step(
    state: ReferralState,
    principal: &Principal,
    at: DateTime<Utc>,
    reason: Option<String>,
) -> Step {
    Step {
        state,
        at,
        by: principal.subject.clone(),
        by_org: principal.organisation.clone(),
        reason: reason.map(|r| r.trim().to_owned()),
    }
}

fn agreement_record(
    status: AgreementStatus,
    principal: &Principal,
    now: DateTime<Utc>,
) -> FamilyAgreement {
    match status {
        AgreementStatus::NotAsked => FamilyAgreement {
            status,
            recorded_at: None,
            recorded_by: None,
        },
        _ => FamilyAgreement {
            status,
            recorded_at: Some(now),
            recorded_by: Some(format!("{}@{}", principal.subject, principal.organisation)),
        },
    }
}
