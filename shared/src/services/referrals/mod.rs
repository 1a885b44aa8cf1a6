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

mod create;
mod steps;

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
    ListQuery, Listing, Pager, check_version, concurrent, decode, encode, reencoded,
    versioned_reply,
};
use crate::services::screenings::all_results;
use crate::services::worklist::Worklist;
use crate::services::{
    PERSON_READERS, Reply, ServiceError, access, catalogue, minimisation, require_role, stored,
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

    /// How the caller may see `child` now (`None`: it may not) — the one access check,
    /// whose answer both the view and the audit entry (its break-the-glass reason) use.
    async fn access_to_child(
        &self,
        principal: &Principal,
        child: ChildId,
    ) -> Result<Option<access::Access>, ServiceError> {
        access::child_access(&self.records, principal, child, self.clock.now()).await
    }

    /// Records `event`, with the break-the-glass reason of the caller's `access`, if any.
    async fn record(
        &self,
        principal: &Principal,
        request_id: &str,
        event: AuditEvent,
        access: Option<&access::Access>,
    ) -> Result<(), ServiceError> {
        let reason = access.and_then(access::Access::break_glass_reason);
        self.audit
            .record(principal, request_id, event.with_break_glass_reason(reason))
            .await?;
        Ok(())
    }

    /// The stored referral and how the caller sees the child, or 404 when the caller may
    /// not see the referral at all.
    async fn load(
        &self,
        principal: &Principal,
        id: ReferralId,
    ) -> Result<(Record, Referral, Option<access::Access>), ServiceError> {
        let not_found = || ServiceError::NotFound(format!("no referral with id {id}"));
        let record = stored(&self.records, &keys::referral(id), not_found).await?;
        let referral: Referral = decode(&record)?;
        let access = self.access_to_child(principal, referral.child_id).await?;
        if access.is_none() && !party(principal, &referral) {
            return Err(not_found());
        }
        Ok((record, referral, access))
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
        let (record, referral, access) = self.load(principal, id).await?;
        let reply = self.reply(principal, 200, &referral, record.version, access.is_some())?;
        self.record(
            principal,
            request_id,
            AuditEvent::all(referral.child_id, AuditEntity::Referral, AuditAction::Read).of(id),
            access.as_ref(),
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
            && self.access_to_child(principal, c).await?.is_none()
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
        let mut sees: BTreeMap<ChildId, Option<access::Access>> = BTreeMap::new();
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
                if let std::collections::btree_map::Entry::Vacant(slot) = sees.entry(r.child_id) {
                    slot.insert(self.access_to_child(principal, r.child_id).await?);
                }
                let seen = sees[&r.child_id].is_some();
                if seen || party(principal, &r) {
                    items.push(self.view(principal, &r, record.version, seen)?);
                    if !shown.contains(&r.child_id) {
                        shown.push(r.child_id);
                    }
                }
            }
        }
        let mut reads = Vec::with_capacity(shown.len());
        for c in shown {
            let reason = sees[&c]
                .as_ref()
                .and_then(access::Access::break_glass_reason);
            reads.push(
                AuditEvent::all(c, AuditEntity::Referral, AuditAction::Read)
                    .with_break_glass_reason(reason),
            );
        }
        self.audit.record_many(principal, request_id, reads).await?;
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
