//! Support episodes: a child in a catalogue programme or service at a provider — personal
//! data, so visible children only, audited, minimised for education staff and other
//! providers.

use super::RegistryService;
use crate::domain::catalogue_entry::EntryKind;
use crate::domain::registry::{OrganisationId, ReferralSource, Specialist, SupportEpisode};
pub use crate::domain::registry_input::{
    EpisodeUpdateInput, NewEpisodeInput, ValidEpisode, check_episode_fields, parse_open,
};
use crate::domain::{ChildId, EpisodeId, FieldError, Principal, Role};
use crate::ports::{Record, RecordStore, WriteOp};
use crate::services::audit::{AuditAction, AuditEntity, AuditEvent, AuditOutcome};
use crate::services::care::{self, CareBasis};
use crate::services::idempotency::{self, Committed, IdempotencyRequest};
use crate::services::registry::listing::{
    ListQuery, Listing, Pager, check_version, concurrent, decode, encode, reencoded,
    versioned_reply, view,
};
use crate::services::{PERSON_READERS, Reply, ServiceError, catalogue, require_role, stored};
use crate::store::keys;
use chrono::NaiveDate;
use serde_json::Value;
use std::collections::BTreeMap;

/// Roles that may record and change support episodes.
pub const EPISODE_WRITERS: &[Role] = &[
    Role::RegistryAdministrator,
    Role::PartnerSystem,
    Role::ProgrammeProvider,
    Role::MunicipalitySocialService,
    Role::HealthSpecialist,
];
/// Roles that see every field of every visible episode.
const EPISODE_FULL_VIEW: &[Role] = &[
    Role::RegistryAdministrator,
    Role::PartnerSystem,
    Role::MunicipalitySocialService,
    Role::HealthSpecialist,
];
/// Fields of an episode in the minimised view (education staff; programme providers for
/// other providers' episodes): which support the child gets, where and when, and whether it
/// is open — not the referral source, the outcome or why it ended.
pub const EPISODE_SUMMARY_FIELDS: &[&str] = &[
    "id",
    "child_id",
    "programme",
    "provider_org",
    "referral_date",
    "start_date",
    "end_date",
    "open",
    "version",
];

/// Fields the state rules of [`check_episode_state`](crate::domain::registry::check_episode_state) report on.
const EPISODE_STATE_FIELDS: &[&str] = &[
    "referral_date",
    "start_date",
    "end_date",
    "outcome",
    "end_reason",
    "referral_source.text",
];

/// The rules of an episode's fields that need the store, then the state rules — the same
/// for `POST`/`PUT /support-episodes` and the `support-episodes` partner file: the programme
/// is an active programme, therapy or service of the catalogue (unless it is the episode's
/// `current_programme`: a retired programme's episodes can still be closed), the provider and
/// referring organisations are registered, a named specialist is registered and works for the
/// provider, a screening referral is a screening of `child`; then the rules that need no store
/// ([`EpisodeUpdateInput::validate`]). Returns the valid episode or every violation.
pub async fn check_episode_references<R: RecordStore>(
    records: &R,
    child: ChildId,
    input: EpisodeUpdateInput,
    current_programme: Option<&str>,
    today: NaiveDate,
) -> Result<Result<ValidEpisode, Vec<FieldError>>, ServiceError> {
    let mut errors = Vec::new();
    let organisation_exists = |code: &str| {
        let code = OrganisationId::parse(code);
        async move {
            let Ok(code) = code else {
                return Ok::<bool, ServiceError>(false);
            };
            Ok(records
                .get(&keys::organisation(code.as_str()))
                .await?
                .is_some())
        }
    };
    // A retired programme takes no new episodes, but an existing episode of it can still
    // be updated (e.g. closed) as long as its programme stays the same.
    if current_programme != Some(input.programme.as_str())
        && !catalogue::active_entry(records, &input.programme)
            .await?
            .is_some_and(|e| e.kind != EntryKind::Instrument)
    {
        errors.push(FieldError::new(
            "programme",
            "is not a programme or service of the catalogue",
        ));
    }
    if !organisation_exists(&input.provider_org).await? {
        errors.push(FieldError::new(
            "provider_org",
            "is not a registered organisation",
        ));
    }
    if let Some(referring) = &input.referring_org
        && !organisation_exists(referring).await?
    {
        errors.push(FieldError::new(
            "referring_org",
            "is not a registered organisation",
        ));
    }
    if let Some(sid) = input.specialist_id {
        match records.get(&keys::specialist(sid)).await? {
            None => errors.push(FieldError::new(
                "specialist_id",
                "is not a registered specialist",
            )),
            Some(r) => {
                let s: Specialist = decode(&r)?;
                if !s.organisations.contains(&input.provider_org) {
                    errors.push(FieldError::new(
                        "specialist_id",
                        "does not work for provider_org",
                    ));
                }
            }
        }
    }
    if let ReferralSource::Screening { screening_id } = &input.referral_source {
        let same_child = records
            .get(&keys::screening(*screening_id))
            .await?
            .is_some_and(|r| {
                r.data.get("child_id").and_then(Value::as_str) == Some(&child.to_string())
            });
        if !same_child {
            errors.push(FieldError::new(
                "referral_source.screening_id",
                "is not a screening of this child",
            ));
        }
    }
    Ok(match input.validate(today) {
        Ok(valid) if errors.is_empty() => Ok(valid),
        Ok(_) => Err(errors),
        Err(own) => {
            errors.extend(own);
            Err(errors)
        }
    })
}

impl<R: RecordStore> RegistryService<R> {
    /// Checks an episode's fields against the registries and the state rules
    /// ([`check_episode_references`]) and the caller's right to record it for its provider.
    async fn check_episode(
        &self,
        principal: &Principal,
        child: ChildId,
        input: EpisodeUpdateInput,
        current_programme: Option<&str>,
    ) -> Result<ValidEpisode, ServiceError> {
        // A programme provider (without a wider writer role) records only its own episodes.
        let foreign = !principal.has_any(&[
            Role::RegistryAdministrator,
            Role::PartnerSystem,
            Role::MunicipalitySocialService,
            Role::HealthSpecialist,
        ]) && input.provider_org != principal.organisation;
        let checked =
            check_episode_references(&self.records, child, input, current_programme, self.today())
                .await?;
        if !foreign {
            return checked.map_err(ServiceError::Validation);
        }
        let mut errors = checked.err().unwrap_or_default();
        {
            // Reported before the screening and state rules, as the API always has.
            let at = errors
                .iter()
                .position(|e| {
                    e.field == "referral_source.screening_id"
                        || EPISODE_STATE_FIELDS.contains(&e.field.as_str())
                })
                .unwrap_or(errors.len());
            errors.insert(
                at,
                FieldError::new(
                    "provider_org",
                    "a programme provider records only its own organisation's episodes",
                ),
            );
        }
        Err(ServiceError::Validation(errors))
    }

    /// An episode as this caller may see it (full or minimised; see the module doc).
    fn episode_view(
        principal: &Principal,
        episode: &SupportEpisode,
        version: u64,
    ) -> Result<Value, ServiceError> {
        let mut data = view(&encode(episode)?, version);
        if let Some(obj) = data.as_object_mut() {
            obj.insert("open".into(), episode.is_open().into());
        }
        let full = principal.has_any(EPISODE_FULL_VIEW)
            || (principal.has_any(&[Role::ProgrammeProvider])
                && principal.organisation == episode.provider_org);
        if full {
            return Ok(data);
        }
        Ok(Value::Object(
            EPISODE_SUMMARY_FIELDS
                .iter()
                .filter_map(|f| data.get(*f).map(|v| ((*f).to_owned(), v.clone())))
                .collect(),
        ))
    }

    fn episode_reply(
        principal: &Principal,
        status: u16,
        episode: &SupportEpisode,
        version: u64,
    ) -> Result<Reply, ServiceError> {
        let mut reply = versioned_reply(status, &Value::Null, version);
        reply.body = Self::episode_view(principal, episode, version)?;
        Ok(reply)
    }

    /// Records a support episode of a visible child; audited in the child's trail.
    pub async fn create_episode(
        &self,
        principal: &Principal,
        request_id: &str,
        input: NewEpisodeInput,
        idempotency: Option<IdempotencyRequest>,
    ) -> Result<Reply, ServiceError> {
        let (child, input): (ChildId, EpisodeUpdateInput) = input.into();
        let event = AuditEvent::all(child, AuditEntity::SupportEpisode, AuditAction::Create);
        if !principal.has_any(EPISODE_WRITERS) {
            // A refusal about a child the caller may see is recorded in its trail.
            let known = self.sees(principal, child).await?.is_some();
            self.audit
                .require_role(
                    principal,
                    request_id,
                    EPISODE_WRITERS,
                    "record support episodes",
                    known.then(|| event.clone()),
                )
                .await?;
        }
        if self.sees(principal, child).await?.is_none() {
            return Err(ServiceError::invalid(
                "child_id",
                "is not a registered child you may see",
            ));
        }
        if let Some(reply) = idempotency::replay(&self.records, idempotency.as_ref()).await? {
            let id = reply.body["id"].as_str().unwrap_or_default().to_owned();
            // A retry repairs care links lost to a crash between the commit and the links.
            if let Ok(episode_id) = id.parse::<EpisodeId>()
                && let Some(stored) = self.records.get(&keys::episode(episode_id)).await?
            {
                self.link_episode(&decode(&stored)?).await?;
            }
            self.record(
                principal,
                request_id,
                event.of(id).with_outcome(AuditOutcome::Replayed),
            )
            .await?;
            return Ok(reply);
        }
        let input = self.check_episode(principal, child, input, None).await?;
        let episode = SupportEpisode::new(
            EpisodeId::from_uuid(self.ids.new_id()),
            child,
            input,
            self.clock.now(),
        );
        let record = Record::new(keys::episode(episode.id), encode(&episode)?).with_index(
            keys::child_index(child),
            keys::child_episode_index(episode.id),
        );
        let mut reply = Self::episode_reply(principal, 201, &episode, 1)?;
        reply.location = Some(format!("/support-episodes/{}", episode.id));
        let mut writes = vec![WriteOp::PutNew(record)];
        let marker = self.work_marker(child).map(|(op, event)| {
            writes.push(op);
            event
        });
        let (reply, outcome) = match idempotency::commit(
            &self.records,
            writes,
            idempotency.as_ref(),
            reply,
            self.clock.now().timestamp(),
        )
        .await?
        {
            Committed::Applied(r) => (r, AuditOutcome::Success),
            Committed::Replayed(r) => (r, AuditOutcome::Replayed),
        };
        if outcome == AuditOutcome::Success {
            self.link_episode(&episode).await?;
        }
        self.settle_work(child, marker).await;
        let id = reply.body["id"].as_str().unwrap_or_default().to_owned();
        self.record(principal, request_id, event.of(id).with_outcome(outcome))
            .await?;
        Ok(reply)
    }

    /// The care links an episode gives (`services/care.rs`): its provider supports the child,
    /// its referring organisation (if any) referred it. Idempotent, so called after every
    /// commit and on a replay.
    async fn link_episode(&self, episode: &SupportEpisode) -> Result<(), ServiceError> {
        let now = self.clock.now();
        // An episode started from a referral is covered by the referral's link, which ends
        // with the referral (after the grace period); a `supports` basis would never end.
        if episode.referral_id.is_none() {
            care::record_link(
                &self.records,
                episode.child_id,
                &episode.provider_org,
                CareBasis::Supports,
                now,
            )
            .await?;
        }
        if let Some(referring) = &episode.referring_org {
            care::record_link(
                &self.records,
                episode.child_id,
                referring,
                CareBasis::Referred,
                now,
            )
            .await?;
        }
        Ok(())
    }

    async fn episode_record(
        &self,
        principal: &Principal,
        id: EpisodeId,
    ) -> Result<(Record, SupportEpisode), ServiceError> {
        let not_found = || ServiceError::NotFound(format!("no support episode with id {id}"));
        let record = stored(&self.records, &keys::episode(id), not_found).await?;
        let episode: SupportEpisode = decode(&record)?;
        // An episode of a child the caller may not see looks exactly like a missing one.
        if self.sees(principal, episode.child_id).await?.is_none() {
            return Err(not_found());
        }
        Ok((record, episode))
    }

    /// Reads an episode; audited in the child's trail (a refusal of the role too).
    pub async fn get_episode(
        &self,
        principal: &Principal,
        request_id: &str,
        id: EpisodeId,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, PERSON_READERS, "read support episodes")?;
        let (record, episode) = self.episode_record(principal, id).await?;
        self.episode_answer(
            principal,
            request_id,
            &episode,
            record.version,
            AuditAction::Read,
        )
        .await
    }

    /// Replaces an episode's changeable fields at version `expected`; audited.
    pub async fn update_episode(
        &self,
        principal: &Principal,
        request_id: &str,
        id: EpisodeId,
        expected: u64,
        input: EpisodeUpdateInput,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, EPISODE_WRITERS, "change support episodes")?;
        let (record, mut episode) = self.episode_record(principal, id).await?;
        check_version("support episode", record.version, expected)?;
        // A programme provider changes only its own episodes (as the current provider).
        if !principal.has_any(EPISODE_FULL_VIEW) && episode.provider_org != principal.organisation {
            return Err(ServiceError::Forbidden(
                "a programme provider changes only its own organisation's episodes".into(),
            ));
        }
        let input = self
            .check_episode(
                principal,
                episode.child_id,
                input,
                Some(episode.programme.as_str()),
            )
            .await?;
        episode.apply(input);
        let mut writes = vec![WriteOp::PutVersioned {
            record: reencoded(record, &episode)?,
            expected,
        }];
        let marker = self.work_marker(episode.child_id).map(|(op, event)| {
            writes.push(op);
            event
        });
        self.records
            .transact(writes)
            .await
            .map_err(|e| concurrent("support episode", e))?;
        let version = expected + 1;
        self.link_episode(&episode).await?;
        self.settle_work(episode.child_id, marker).await;
        self.episode_answer(
            principal,
            request_id,
            &episode,
            version,
            AuditAction::Update,
        )
        .await
    }

    /// The `200` reply of `episode` at `version`, once `action` on it is in the child's trail.
    async fn episode_answer(
        &self,
        principal: &Principal,
        request_id: &str,
        episode: &SupportEpisode,
        version: u64,
        action: AuditAction,
    ) -> Result<Reply, ServiceError> {
        let reply = Self::episode_reply(principal, 200, episode, version)?;
        self.record(
            principal,
            request_id,
            AuditEvent::all(episode.child_id, AuditEntity::SupportEpisode, action).of(episode.id),
        )
        .await?;
        Ok(reply)
    }

    /// Lists episodes in creation order; filters `child`, `provider_org`, `programme`,
    /// `state` (`open`/`closed`). With `child` the list reads the child's index partition
    /// and is recorded as one read in that child's trail; without it, only episodes of
    /// children the caller may see are listed and each child on the page gets one read entry.
    pub async fn list_episodes(
        &self,
        principal: &Principal,
        request_id: &str,
        query: &[(String, String)],
    ) -> Result<Reply, ServiceError> {
        require_role(principal, PERSON_READERS, "list support episodes")?;
        let q = ListQuery::parse(query, &["child", "provider_org", "programme", "state"])?;
        let child = q.parsed("child", str::parse::<ChildId>)?;
        let provider = q.filter("provider_org").map(str::to_owned);
        let programme = q.filter("programme").map(str::to_owned);
        let open = q.parsed("state", parse_open)?;
        let listing = match child {
            Some(c) => {
                if self.sees(principal, c).await?.is_none() {
                    return Err(ServiceError::NotFound(format!("no child with id {c}")));
                }
                Listing {
                    pk: keys::child_index(c),
                    prefix: keys::EPISODE_PREFIX.into(),
                    index: true,
                }
            }
            None => Listing {
                pk: keys::EPISODES.into(),
                prefix: keys::EPISODE_PREFIX.into(),
                index: false,
            },
        };
        // Visibility of each child, looked up once per page; only visible items count
        // towards the limit.
        let mut pager = Pager::new(&self.records, listing, &q)?;
        let mut visible: BTreeMap<ChildId, bool> = BTreeMap::new();
        let mut items = Vec::new();
        while let Some(batch) = pager.next_batch(q.limit - items.len()).await? {
            for record in &batch {
                let episode: SupportEpisode = decode(record)?;
                let keep = provider.as_ref().is_none_or(|p| &episode.provider_org == p)
                    && programme.as_ref().is_none_or(|p| &episode.programme == p)
                    && open.is_none_or(|o| episode.is_open() == o);
                if !keep {
                    continue;
                }
                let seen = match visible.get(&episode.child_id) {
                    Some(v) => *v,
                    None => {
                        let v = self.sees(principal, episode.child_id).await?.is_some();
                        visible.insert(episode.child_id, v);
                        v
                    }
                };
                if seen {
                    items.push(Self::episode_view(principal, &episode, record.version)?);
                }
            }
        }
        let mut audited: Vec<ChildId> = match child {
            Some(c) => vec![c],
            None => visible
                .iter()
                .filter(|(_, v)| **v)
                .map(|(c, _)| *c)
                .collect(),
        };
        audited.dedup();
        self.record_reads(principal, request_id, audited, AuditEntity::SupportEpisode)
            .await?;
        Ok(pager.finish(items))
    }

    // ------------------------------------------------------------------ legal representatives
}
