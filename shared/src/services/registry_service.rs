//! Registry use cases besides children (issue #4): organisations, specialists with their
//! certifications, and support episodes. Generic pieces (versions, list queries, cursors)
//! are in [`crate::services::registry`].
//!
//! Access (the policy is written out in `tests/tests/access_matrix.rs`):
//! - organisations and specialists hold no child's data: every role reads them; registry
//!   administrators and partner systems write them; they are not in any child's audit trail;
//! - support episodes are a child's personal data: readers are [`PERSON_READERS`], the child
//!   must be visible to the caller ([`access::visible_child`]), every read and write is
//!   recorded in the child's audit trail, and education staff (and programme providers for
//!   episodes of other providers) see the minimised view [`EPISODE_SUMMARY_FIELDS`].

use crate::domain::catalogue_entry::EntryKind;
use crate::domain::registry::{
    Certification, EndReason, EpisodeOutcome, EpisodeState, Organisation, OrganisationKind,
    Profession, ReferralSource, RegistryStatus, Representative, RepresentedChild, Specialist,
    SupportEpisode, check_contact, check_episode_state, check_organisation_id,
    check_registration_number, check_text, parse_profession, parse_status,
};
use crate::domain::{
    Atvk, ChildId, EpisodeId, FieldError, KeyedHasher, PersonalCode, Principal, RepresentativeId,
    Role, SpecialistId,
};
use crate::ports::{Clock, IdGenerator, Record, RecordStore, StoreError, WriteOp};
use crate::services::audit::{AuditAction, AuditEntity, AuditEvent, AuditOutcome, AuditTrail};
use crate::services::care::{self, CareBasis};
use crate::services::idempotency::{self, Committed, IdempotencyRequest};
use crate::services::registry::{
    ListQuery, Listing, Pager, check_version, concurrent, decode, encode, list_page,
    versioned_reply, view,
};
use crate::services::{PERSON_READERS, Reply, ServiceError, access, catalogue, require_role};
use crate::store::keys;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Roles that may create and change organisations and specialists.
pub const REGISTRY_WRITERS: &[Role] = &[Role::RegistryAdministrator, Role::PartnerSystem];
/// Roles that may read organisations and specialists: every role (staff directory data).
pub const REGISTRY_READERS: &[Role] = &Role::ALL;
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

/// Body of `POST /organisations`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrganisationInput {
    /// The stable code (`ravis:org` of its staff's tokens).
    pub id: String,
    /// Kind.
    pub kind: OrganisationKind,
    /// Name.
    pub name: String,
    /// Territory (7-digit ATVK).
    pub atvk: String,
    /// Latvian registration number (11 digits).
    #[serde(default)]
    pub registration_number: Option<String>,
    /// `active` (default) or `inactive`.
    #[serde(default)]
    pub status: RegistryStatus,
}

/// Body of `PUT /organisations/{id}`: every changeable field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganisationUpdateInput {
    /// Kind.
    pub kind: OrganisationKind,
    /// Name.
    pub name: String,
    /// Territory.
    pub atvk: String,
    /// Registration number.
    #[serde(default)]
    pub registration_number: Option<String>,
    /// Status.
    pub status: RegistryStatus,
}

/// Body of `POST /specialists`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSpecialistInput {
    /// Given name(s).
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Profession.
    pub profession: Profession,
    /// Organisation codes (at least one, each registered).
    pub organisations: Vec<String>,
    /// `active` (default) or `inactive`.
    #[serde(default)]
    pub status: RegistryStatus,
}

/// Body of `PUT /specialists/{id}` (certifications are added through their sub-resource).
pub type SpecialistUpdateInput = NewSpecialistInput;

/// Body of `POST /specialists/{id}/certifications`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCertificationInput {
    /// Instrument id (exactly one of `instrument` and `programme`).
    #[serde(default)]
    pub instrument: Option<String>,
    /// Programme id of the catalogue.
    #[serde(default)]
    pub programme: Option<String>,
    /// Issuer.
    pub issued_by: String,
    /// First valid day.
    pub valid_from: NaiveDate,
    /// Last valid day (absent: no end).
    #[serde(default)]
    pub valid_to: Option<NaiveDate>,
}

/// Body of `POST /support-episodes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEpisodeInput {
    /// The child.
    pub child_id: ChildId,
    /// Programme or service (catalogue id).
    pub programme: String,
    /// Provider organisation code.
    pub provider_org: String,
    /// Specialist delivering it.
    #[serde(default)]
    pub specialist_id: Option<SpecialistId>,
    /// Referring organisation code.
    #[serde(default)]
    pub referring_org: Option<String>,
    /// Referral date.
    pub referral_date: NaiveDate,
    /// `{"screening_id": …}` or `{"text": …}`.
    pub referral_source: ReferralSource,
    /// Start.
    #[serde(default)]
    pub start_date: Option<NaiveDate>,
    /// End.
    #[serde(default)]
    pub end_date: Option<NaiveDate>,
    /// Outcome (with `end_date`).
    #[serde(default)]
    pub outcome: Option<EpisodeOutcome>,
    /// Reason for ending (with `end_date`).
    #[serde(default)]
    pub end_reason: Option<EndReason>,
}

/// Body of `PUT /support-episodes/{id}`: every changeable field (the child is fixed).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpisodeUpdateInput {
    /// Programme or service.
    pub programme: String,
    /// Provider organisation code.
    pub provider_org: String,
    /// Specialist.
    #[serde(default)]
    pub specialist_id: Option<SpecialistId>,
    /// Referring organisation code.
    #[serde(default)]
    pub referring_org: Option<String>,
    /// Referral date.
    pub referral_date: NaiveDate,
    /// Referral source.
    pub referral_source: ReferralSource,
    /// Start.
    #[serde(default)]
    pub start_date: Option<NaiveDate>,
    /// End.
    #[serde(default)]
    pub end_date: Option<NaiveDate>,
    /// Outcome.
    #[serde(default)]
    pub outcome: Option<EpisodeOutcome>,
    /// Reason for ending.
    #[serde(default)]
    pub end_reason: Option<EndReason>,
}

impl From<NewEpisodeInput> for (ChildId, EpisodeUpdateInput) {
    fn from(i: NewEpisodeInput) -> Self {
        (
            i.child_id,
            EpisodeUpdateInput {
                programme: i.programme,
                provider_org: i.provider_org,
                specialist_id: i.specialist_id,
                referring_org: i.referring_org,
                referral_date: i.referral_date,
                referral_source: i.referral_source,
                start_date: i.start_date,
                end_date: i.end_date,
                outcome: i.outcome,
                end_reason: i.end_reason,
            },
        )
    }
}

/// The registry use cases.
pub struct RegistryService<R> {
    records: R,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    audit: AuditTrail<R>,
    code_index: KeyedHasher,
}

/// Domain label of the keyed hash that indexes representatives' personal codes.
pub const REPRESENTATIVE_CODE_DOMAIN: &str = "ravis/representative-code-index/v1";

fn parse_atvk(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<Atvk> {
    match Atvk::parse(raw) {
        Ok(a) => Some(a),
        Err(e) => {
            errors.push(FieldError::new(field, e.to_string()));
            None
        }
    }
}

/// Parses an organisation kind by its wire name (list filter and partner files).
pub fn parse_kind(raw: &str) -> Result<OrganisationKind, String> {
    OrganisationKind::ALL
        .iter()
        .find(|(name, _)| *name == raw)
        .map(|(_, k)| *k)
        .ok_or_else(|| {
            let names: Vec<&str> = OrganisationKind::ALL.iter().map(|(n, _)| *n).collect();
            format!("must be one of {}", names.join(", "))
        })
}

/// The field rules of an organisation's changeable fields (`POST`/`PUT /organisations` and
/// the `organisations` partner file): a name, a valid ATVK, an optional 11-digit registration
/// number (blank counts as absent). Returns the parsed territory and the trimmed number.
pub fn check_organisation_fields(
    name: &str,
    atvk: &str,
    registration_number: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> (Option<Atvk>, Option<String>) {
    check_text("name", name, errors);
    let atvk = parse_atvk("atvk", atvk, errors);
    let reg = registration_number.map(str::trim).filter(|r| !r.is_empty());
    if let Some(r) = reg
        && let Err(reason) = check_registration_number(r)
    {
        errors.push(FieldError::new("registration_number", reason));
    }
    (atvk, reg.map(str::to_owned))
}

/// The rules of a specialist's fields that need no store (`POST`/`PUT /specialists` and the
/// `specialists` partner file): both names, at least one organisation. Returns the
/// organisation codes without repeats, in their order, and the violations.
pub fn check_specialist_fields(input: &NewSpecialistInput) -> (Vec<String>, Vec<FieldError>) {
    let mut errors = Vec::new();
    check_text("given_name", &input.given_name, &mut errors);
    check_text("family_name", &input.family_name, &mut errors);
    let mut orgs: Vec<String> = Vec::new();
    for code in &input.organisations {
        if !orgs.contains(code) {
            orgs.push(code.clone());
        }
    }
    if orgs.is_empty() {
        errors.push(FieldError::new(
            "organisations",
            "must name at least one organisation",
        ));
    }
    (orgs, errors)
}

/// Reports every code of `codes` that is not a registered organisation as `field[i]`.
pub async fn check_organisations_exist<R: RecordStore>(
    records: &R,
    field: &str,
    codes: &[String],
    errors: &mut Vec<FieldError>,
) -> Result<(), ServiceError> {
    for (i, code) in codes.iter().enumerate() {
        let known = check_organisation_id(code).is_ok()
            && records.get(&keys::organisation(code)).await?.is_some();
        if !known {
            errors.push(FieldError::new(
                format!("{field}[{i}]"),
                format!(
                    "'{}' is not a registered organisation",
                    code.chars().take(64).collect::<String>()
                ),
            ));
        }
    }
    Ok(())
}

/// The rules of a certification that need no store (`POST
/// /specialists/{id}/certifications` and the `certifications` partner file): exactly one of
/// instrument and programme, an issuer, `valid_to` not before `valid_from`.
pub fn check_certification_shape(input: &NewCertificationInput) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let one = input.instrument.is_some() != input.programme.is_some();
    if !one {
        errors.push(FieldError::new(
            "instrument",
            "give exactly one of instrument and programme",
        ));
    }
    check_text("issued_by", &input.issued_by, &mut errors);
    if let Some(to) = input.valid_to
        && to < input.valid_from
    {
        errors.push(FieldError::new("valid_to", "must not be before valid_from"));
    }
    errors
}

/// Every rule of a certification: [`check_certification_shape`], and the instrument is an
/// active screening instrument, or the programme an active programme, therapy or service,
/// of the stored catalogue (`services::catalogue::active_entry`).
pub async fn check_certification<R: RecordStore>(
    records: &R,
    input: &NewCertificationInput,
) -> Result<Vec<FieldError>, ServiceError> {
    let mut errors = check_certification_shape(input);
    let kind = |id: &str| {
        let id = id.to_owned();
        async move {
            Ok::<_, ServiceError>(catalogue::active_entry(records, &id).await?.map(|e| e.kind))
        }
    };
    match (
        input.instrument.as_deref().map(str::trim),
        input.programme.as_deref().map(str::trim),
    ) {
        (Some(i), None) if kind(i).await? != Some(EntryKind::Instrument) => errors.insert(
            0,
            FieldError::new(
                "instrument",
                format!(
                    "'{}' is not a screening instrument of the scoring definitions",
                    i.chars().take(64).collect::<String>()
                ),
            ),
        ),
        (None, Some(p)) if !kind(p).await?.is_some_and(|k| k != EntryKind::Instrument) => errors
            .insert(
                0,
                FieldError::new(
                    "programme",
                    format!(
                        "'{}' is not a programme of the catalogue",
                        p.chars().take(64).collect::<String>()
                    ),
                ),
            ),
        _ => {}
    }
    Ok(errors)
}

/// Fields the state rules of [`check_episode_state`] report on.
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
/// provider, a screening referral is a screening of `child`, and [`check_episode_state`].
pub async fn check_episode_references<R: RecordStore>(
    records: &R,
    child: ChildId,
    input: &EpisodeUpdateInput,
    current_programme: Option<&str>,
    today: NaiveDate,
) -> Result<Vec<FieldError>, ServiceError> {
    let mut errors = Vec::new();
    let organisation_exists = |code: &str| {
        let code = code.to_owned();
        async move {
            if check_organisation_id(&code).is_err() {
                return Ok::<bool, ServiceError>(false);
            }
            Ok(records.get(&keys::organisation(&code)).await?.is_some())
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
    errors.extend(check_episode_state(
        &EpisodeState {
            referral_date: input.referral_date,
            start_date: input.start_date,
            end_date: input.end_date,
            outcome: input.outcome,
            end_reason: input.end_reason,
            referral_source: &input.referral_source,
        },
        today,
    ));
    Ok(errors)
}

fn parse_open(raw: &str) -> Result<bool, String> {
    match raw {
        "open" => Ok(true),
        "closed" => Ok(false),
        _ => Err("must be open or closed".into()),
    }
}

impl<R: RecordStore> RegistryService<R> {
    /// Builds the service.
    pub fn new(
        records: R,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        audit: AuditTrail<R>,
        identity_key: &[u8],
    ) -> Self {
        Self {
            records,
            clock,
            ids,
            audit,
            code_index: KeyedHasher::new(identity_key, REPRESENTATIVE_CODE_DOMAIN),
        }
    }

    /// How the caller may see `child` now (care link, break-the-glass grant or role within
    /// its territory), or `None` if it may not — the one check of [`access::visible_child`].
    async fn sees(
        &self,
        principal: &Principal,
        child: ChildId,
    ) -> Result<Option<access::Access>, ServiceError> {
        Ok(
            access::visible_child(&self.records, principal, child, self.clock.now())
                .await?
                .map(|(_, access)| access),
        )
    }

    /// Records `event` in its child's audit trail; an access made under a break-the-glass
    /// grant carries the grant's reason, like the children use cases' entries. Only a
    /// care-scoped caller (a specialist) can hold a grant, so only for one is the basis of
    /// access looked up again here; every other caller's entry is written straight away.
    async fn record(
        &self,
        principal: &Principal,
        request_id: &str,
        event: AuditEvent,
    ) -> Result<crate::services::audit::AuditEntry, ServiceError> {
        let reason = if access::care_scoped(principal) {
            self.sees(principal, event.child)
                .await?
                .and_then(|access| access.break_glass_reason())
        } else {
            None
        };
        self.audit
            .record(principal, request_id, event.with_break_glass_reason(reason))
            .await
    }

    /// The kind of the active catalogue entry `id` (instruments are seeded from the scoring
    /// definitions, programmes, therapies and services from the shipped catalogue), or `None`
    /// for an unknown or retired id — the one lookup of `services::catalogue::active_entry`.
    async fn catalogue_kind(&self, id: &str) -> Result<Option<EntryKind>, ServiceError> {
        Ok(catalogue::active_entry(&self.records, id)
            .await?
            .map(|e| e.kind))
    }

    /// Whether `id` is an active screening instrument of the catalogue.
    async fn is_instrument(&self, id: &str) -> Result<bool, ServiceError> {
        Ok(self.catalogue_kind(id).await? == Some(EntryKind::Instrument))
    }

    /// Whether `id` is an active programme, therapy or service of the catalogue.
    async fn is_programme(&self, id: &str) -> Result<bool, ServiceError> {
        Ok(self
            .catalogue_kind(id)
            .await?
            .is_some_and(|k| k != EntryKind::Instrument))
    }

    fn today(&self) -> NaiveDate {
        self.clock.now().date_naive()
    }

    // ------------------------------------------------------------------ organisations

    /// Registers an organisation under its code; a code can be registered once.
    pub async fn create_organisation(
        &self,
        principal: &Principal,
        input: NewOrganisationInput,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_WRITERS, "register organisations")?;
        let mut errors = Vec::new();
        if let Err(reason) = check_organisation_id(&input.id) {
            errors.push(FieldError::new("id", reason));
        }
        let (atvk, reg) = check_organisation_fields(
            &input.name,
            &input.atvk,
            input.registration_number.as_deref(),
            &mut errors,
        );
        let Some(atvk) = atvk.filter(|_| errors.is_empty()) else {
            return Err(ServiceError::Validation(errors));
        };
        let org = Organisation {
            id: input.id,
            kind: input.kind,
            name: input.name.trim().to_owned(),
            atvk,
            registration_number: reg,
            status: input.status,
            created_at: self.clock.now(),
        };
        let data = encode(&org)?;
        match self
            .records
            .put_new(Record::new(keys::organisation(&org.id), data.clone()))
            .await
        {
            Ok(()) => {}
            Err(StoreError::AlreadyExists { .. }) => {
                return Err(ServiceError::Conflict {
                    slug: "organisation-exists",
                    detail: format!(
                        "an organisation with code '{}' is already registered",
                        org.id
                    ),
                    existing_id: Some(org.id),
                });
            }
            Err(e) => return Err(e.into()),
        }
        let mut reply = versioned_reply(201, &data, 1);
        reply.location = Some(format!("/organisations/{}", org.id));
        Ok(reply)
    }

    async fn organisation_record(&self, id: &str) -> Result<Option<Record>, ServiceError> {
        if check_organisation_id(id).is_err() {
            return Ok(None);
        }
        Ok(self.records.get(&keys::organisation(id)).await?)
    }

    /// Loads an organisation (for other use cases).
    pub async fn load_organisation(&self, id: &str) -> Result<Option<Organisation>, ServiceError> {
        self.organisation_record(id)
            .await?
            .map(|r| decode(&r))
            .transpose()
    }

    /// Reads an organisation.
    pub async fn get_organisation(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_READERS, "read organisations")?;
        let record = self.organisation_record(id).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "no organisation with code '{}'",
                id.chars().take(64).collect::<String>()
            ))
        })?;
        Ok(versioned_reply(200, &record.data, record.version))
    }

    /// Replaces the changeable fields of an organisation at version `expected`.
    pub async fn update_organisation(
        &self,
        principal: &Principal,
        id: &str,
        expected: u64,
        input: OrganisationUpdateInput,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_WRITERS, "change organisations")?;
        let record = self.organisation_record(id).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "no organisation with code '{}'",
                id.chars().take(64).collect::<String>()
            ))
        })?;
        check_version("organisation", record.version, expected)?;
        let mut org: Organisation = decode(&record)?;
        let mut errors = Vec::new();
        let (atvk, reg) = check_organisation_fields(
            &input.name,
            &input.atvk,
            input.registration_number.as_deref(),
            &mut errors,
        );
        let Some(atvk) = atvk.filter(|_| errors.is_empty()) else {
            return Err(ServiceError::Validation(errors));
        };
        org.kind = input.kind;
        org.name = input.name.trim().to_owned();
        org.atvk = atvk;
        org.registration_number = reg;
        org.status = input.status;
        let data = encode(&org)?;
        let version = self
            .records
            .put_versioned(
                Record {
                    data: data.clone(),
                    ..record
                },
                expected,
            )
            .await
            .map_err(|e| concurrent("organisation", e))?;
        Ok(versioned_reply(200, &data, version))
    }

    /// Lists organisations in code order; filters `kind`, `atvk` (the subtree of a
    /// territory) and `status`.
    pub async fn list_organisations(
        &self,
        principal: &Principal,
        query: &[(String, String)],
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_READERS, "list organisations")?;
        let q = ListQuery::parse(query, &["kind", "atvk", "status"])?;
        let kind = q.parsed("kind", parse_kind)?;
        let atvk = q.parsed("atvk", Atvk::parse)?;
        let status = q.parsed("status", parse_status)?;
        let listing = Listing {
            pk: keys::ORGANISATIONS.into(),
            prefix: keys::ORGANISATION_PREFIX.into(),
            index: false,
        };
        list_page(&self.records, listing, &q, |record| {
            let org: Organisation = decode(record)?;
            let keep = kind.is_none_or(|k| org.kind == k)
                && atvk.as_ref().is_none_or(|a| org.atvk.is_within(a))
                && status.is_none_or(|s| org.status == s);
            Ok(keep.then(|| view(&record.data, record.version)))
        })
        .await
    }

    // ------------------------------------------------------------------ specialists

    async fn check_specialist_input(
        &self,
        input: &NewSpecialistInput,
    ) -> Result<Vec<String>, ServiceError> {
        let (orgs, mut errors) = check_specialist_fields(input);
        check_organisations_exist(&self.records, "organisations", &orgs, &mut errors).await?;
        if errors.is_empty() {
            Ok(orgs)
        } else {
            Err(ServiceError::Validation(errors))
        }
    }

    /// A specialist as the API shows it: each certification with `valid` (today).
    fn specialist_view(
        &self,
        specialist: &Specialist,
        version: u64,
    ) -> Result<Value, ServiceError> {
        let today = self.today();
        let mut data = encode(specialist)?;
        if let Some(certs) = data.get_mut("certifications").and_then(Value::as_array_mut) {
            for (c, stored) in certs.iter_mut().zip(&specialist.certifications) {
                if let Some(obj) = c.as_object_mut() {
                    obj.insert("valid".into(), stored.is_valid_on(today).into());
                }
            }
        }
        Ok(view(&data, version))
    }

    fn specialist_reply(
        &self,
        status: u16,
        specialist: &Specialist,
        version: u64,
    ) -> Result<Reply, ServiceError> {
        let mut reply = versioned_reply(status, &Value::Null, version);
        reply.body = self.specialist_view(specialist, version)?;
        Ok(reply)
    }

    /// Registers a specialist; every organisation must be registered.
    pub async fn create_specialist(
        &self,
        principal: &Principal,
        input: NewSpecialistInput,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_WRITERS, "register specialists")?;
        let organisations = self.check_specialist_input(&input).await?;
        let specialist = Specialist {
            id: SpecialistId::from_uuid(self.ids.new_id()),
            given_name: input.given_name.trim().to_owned(),
            family_name: input.family_name.trim().to_owned(),
            profession: input.profession,
            organisations,
            status: input.status,
            certifications: Vec::new(),
            created_at: self.clock.now(),
        };
        self.records
            .put_new(Record::new(
                keys::specialist(specialist.id),
                encode(&specialist)?,
            ))
            .await?;
        let mut reply = self.specialist_reply(201, &specialist, 1)?;
        reply.location = Some(format!("/specialists/{}", specialist.id));
        Ok(reply)
    }

    async fn specialist_record(
        &self,
        id: SpecialistId,
    ) -> Result<(Record, Specialist), ServiceError> {
        let record = self
            .records
            .get(&keys::specialist(id))
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no specialist with id {id}")))?;
        let specialist = decode(&record)?;
        Ok((record, specialist))
    }

    /// Loads a specialist (for other use cases, e.g. with [`Specialist::is_certified`]).
    pub async fn load_specialist(
        &self,
        id: SpecialistId,
    ) -> Result<Option<Specialist>, ServiceError> {
        match self.specialist_record(id).await {
            Ok((_, s)) => Ok(Some(s)),
            Err(ServiceError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads a specialist with every certification (expired ones marked `valid: false`).
    pub async fn get_specialist(
        &self,
        principal: &Principal,
        id: SpecialistId,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_READERS, "read specialists")?;
        let (record, specialist) = self.specialist_record(id).await?;
        self.specialist_reply(200, &specialist, record.version)
    }

    /// Replaces a specialist's changeable fields at version `expected`; the certifications
    /// are kept.
    pub async fn update_specialist(
        &self,
        principal: &Principal,
        id: SpecialistId,
        expected: u64,
        input: SpecialistUpdateInput,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_WRITERS, "change specialists")?;
        let (record, mut specialist) = self.specialist_record(id).await?;
        check_version("specialist", record.version, expected)?;
        specialist.organisations = self.check_specialist_input(&input).await?;
        specialist.given_name = input.given_name.trim().to_owned();
        specialist.family_name = input.family_name.trim().to_owned();
        specialist.profession = input.profession;
        specialist.status = input.status;
        let version = self
            .records
            .put_versioned(
                Record {
                    data: encode(&specialist)?,
                    ..record
                },
                expected,
            )
            .await
            .map_err(|e| concurrent("specialist", e))?;
        self.specialist_reply(200, &specialist, version)
    }

    /// Adds a certification (no `If-Match`: adding commutes with other changes; a lost race
    /// re-reads and retries).
    pub async fn add_certification(
        &self,
        principal: &Principal,
        id: SpecialistId,
        input: NewCertificationInput,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_WRITERS, "certify specialists")?;
        let errors = check_certification(&self.records, &input).await?;
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let instrument = input.instrument.as_deref().map(str::trim);
        let programme = input.programme.as_deref().map(str::trim);
        let certification = Certification {
            id: self.ids.new_id().to_string(),
            instrument: instrument.map(str::to_owned),
            programme: programme.map(str::to_owned),
            issued_by: input.issued_by.trim().to_owned(),
            valid_from: input.valid_from,
            valid_to: input.valid_to,
            recorded_at: self.clock.now(),
        };
        for _ in 0..8 {
            let (record, mut specialist) = self.specialist_record(id).await?;
            specialist.certifications.push(certification.clone());
            let expected = record.version;
            match self
                .records
                .put_versioned(
                    Record {
                        data: encode(&specialist)?,
                        ..record
                    },
                    expected,
                )
                .await
            {
                Ok(version) => {
                    let mut reply = self.specialist_reply(201, &specialist, version)?;
                    reply.location = Some(format!("/specialists/{id}/certifications"));
                    return Ok(reply);
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::PreconditionFailed(
            "the specialist is being changed by others; retry".into(),
        ))
    }

    /// A specialist's certifications, expired ones included with `valid: false`.
    pub async fn list_certifications(
        &self,
        principal: &Principal,
        id: SpecialistId,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_READERS, "read specialists")?;
        let (record, specialist) = self.specialist_record(id).await?;
        let body = self.specialist_view(&specialist, record.version)?;
        let mut reply = Reply::ok(json!({"items": body["certifications"], "next": null}));
        reply.etag = Some(crate::services::registry::etag(record.version));
        Ok(reply)
    }

    /// Lists specialists in registration order; filters `organisation`, `profession`,
    /// `certified_for` (an instrument or programme id: only certifications valid today
    /// count) and `status`.
    pub async fn list_specialists(
        &self,
        principal: &Principal,
        query: &[(String, String)],
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_READERS, "list specialists")?;
        let q = ListQuery::parse(
            query,
            &["organisation", "profession", "certified_for", "status"],
        )?;
        let organisation = q.filter("organisation").map(str::to_owned);
        let profession = q.parsed("profession", parse_profession)?;
        let certified_for = q.filter("certified_for").map(str::to_owned);
        if let Some(c) = &certified_for
            && !self.is_instrument(c).await?
            && !self.is_programme(c).await?
        {
            return Err(ServiceError::invalid(
                "certified_for",
                "is neither an instrument nor a programme id",
            ));
        }
        let status = q.parsed("status", parse_status)?;
        let today = self.today();
        let listing = Listing {
            pk: keys::SPECIALISTS.into(),
            prefix: keys::SPECIALIST_PREFIX.into(),
            index: false,
        };
        list_page(&self.records, listing, &q, |record| {
            let s: Specialist = decode(record)?;
            let keep = organisation
                .as_ref()
                .is_none_or(|o| s.organisations.contains(o))
                && profession.is_none_or(|p| s.profession == p)
                && certified_for
                    .as_ref()
                    .is_none_or(|c| s.is_certified(c, today))
                && status.is_none_or(|st| s.status == st);
            keep.then(|| self.specialist_view(&s, record.version))
                .transpose()
        })
        .await
    }

    // ------------------------------------------------------------------ support episodes

    /// Checks an episode's fields against the registries and the state rules
    /// ([`check_episode_references`]) and the caller's right to record it for its provider.
    async fn check_episode(
        &self,
        principal: &Principal,
        child: ChildId,
        input: &EpisodeUpdateInput,
        current_programme: Option<&str>,
    ) -> Result<(), ServiceError> {
        let mut errors =
            check_episode_references(&self.records, child, input, current_programme, self.today())
                .await?;
        // A programme provider (without a wider writer role) records only its own episodes.
        if !principal.has_any(&[
            Role::RegistryAdministrator,
            Role::PartnerSystem,
            Role::MunicipalitySocialService,
            Role::HealthSpecialist,
        ]) && input.provider_org != principal.organisation
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
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Validation(errors))
        }
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
        self.check_episode(principal, child, &input, None).await?;
        let episode = SupportEpisode {
            id: EpisodeId::from_uuid(self.ids.new_id()),
            child_id: child,
            programme: input.programme,
            provider_org: input.provider_org,
            specialist_id: input.specialist_id,
            referring_org: input.referring_org,
            referral_date: input.referral_date,
            referral_source: input.referral_source,
            start_date: input.start_date,
            end_date: input.end_date,
            outcome: input.outcome,
            end_reason: input.end_reason,
            created_at: self.clock.now(),
        };
        let record = Record::new(keys::episode(episode.id), encode(&episode)?).with_index(
            keys::child_index(child),
            keys::child_episode_index(episode.id),
        );
        let mut reply = Self::episode_reply(principal, 201, &episode, 1)?;
        reply.location = Some(format!("/support-episodes/{}", episode.id));
        let (reply, outcome) = match idempotency::commit(
            &self.records,
            vec![WriteOp::PutNew(record)],
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
        care::record_link(
            &self.records,
            episode.child_id,
            &episode.provider_org,
            CareBasis::Supports,
            now,
        )
        .await?;
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
        let record = self
            .records
            .get(&keys::episode(id))
            .await?
            .ok_or_else(not_found)?;
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
        let reply = Self::episode_reply(principal, 200, &episode, record.version)?;
        self.record(
            principal,
            request_id,
            AuditEvent::all(
                episode.child_id,
                AuditEntity::SupportEpisode,
                AuditAction::Read,
            )
            .of(id),
        )
        .await?;
        Ok(reply)
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
        self.check_episode(
            principal,
            episode.child_id,
            &input,
            Some(episode.programme.as_str()),
        )
        .await?;
        episode.programme = input.programme;
        episode.provider_org = input.provider_org;
        episode.specialist_id = input.specialist_id;
        episode.referring_org = input.referring_org;
        episode.referral_date = input.referral_date;
        episode.referral_source = input.referral_source;
        episode.start_date = input.start_date;
        episode.end_date = input.end_date;
        episode.outcome = input.outcome;
        episode.end_reason = input.end_reason;
        let version = self
            .records
            .put_versioned(
                Record {
                    data: encode(&episode)?,
                    ..record
                },
                expected,
            )
            .await
            .map_err(|e| concurrent("support episode", e))?;
        self.link_episode(&episode).await?;
        let reply = Self::episode_reply(principal, 200, &episode, version)?;
        self.record(
            principal,
            request_id,
            AuditEvent::all(
                episode.child_id,
                AuditEntity::SupportEpisode,
                AuditAction::Update,
            )
            .of(id),
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
        for c in audited {
            self.record(
                principal,
                request_id,
                AuditEvent::all(c, AuditEntity::SupportEpisode, AuditAction::Read),
            )
            .await?;
        }
        Ok(pager.finish(items))
    }

    // ------------------------------------------------------------------ legal representatives

    /// Checks a representative's fields; every linked child must be visible to the caller.
    async fn check_representative(
        &self,
        principal: &Principal,
        input: &RepresentativeUpdateInput,
        errors: &mut Vec<FieldError>,
    ) -> Result<(), ServiceError> {
        check_text("given_name", &input.given_name, errors);
        check_text("family_name", &input.family_name, errors);
        check_contact(input.phone.as_deref(), input.email.as_deref(), errors);
        if input.children.is_empty() {
            errors.push(FieldError::new("children", "must name at least one child"));
        }
        for (i, link) in input.children.iter().enumerate() {
            if input.children[..i]
                .iter()
                .any(|l| l.child_id == link.child_id)
            {
                errors.push(FieldError::new(
                    format!("children[{i}].child_id"),
                    "is listed twice",
                ));
            } else if self.sees(principal, link.child_id).await?.is_none() {
                errors.push(FieldError::new(
                    format!("children[{i}].child_id"),
                    "is not a registered child you may see",
                ));
            }
        }
        Ok(())
    }

    /// A representative as this caller may see it: only the links to children it may see,
    /// and the personal code only for [`REPRESENTATIVE_FULL_VIEW`] roles.
    fn representative_view(
        principal: &Principal,
        rep: &Representative,
        visible: &[ChildId],
        version: u64,
    ) -> Result<Value, ServiceError> {
        let mut data = view(&encode(rep)?, version);
        if let Some(obj) = data.as_object_mut() {
            let links: Vec<&RepresentedChild> = rep
                .children
                .iter()
                .filter(|l| visible.contains(&l.child_id))
                .collect();
            obj.insert("children".into(), encode(&links)?);
            if !principal.has_any(REPRESENTATIVE_FULL_VIEW) {
                obj.remove("personal_code");
            }
        }
        Ok(data)
    }

    async fn visible_children(
        &self,
        principal: &Principal,
        rep: &Representative,
    ) -> Result<Vec<ChildId>, ServiceError> {
        let mut out = Vec::new();
        for link in &rep.children {
            if self.sees(principal, link.child_id).await?.is_some() {
                out.push(link.child_id);
            }
        }
        Ok(out)
    }

    async fn audit_children(
        &self,
        principal: &Principal,
        request_id: &str,
        children: &[ChildId],
        action: AuditAction,
        rep: RepresentativeId,
        outcome: AuditOutcome,
    ) -> Result<(), ServiceError> {
        for child in children {
            self.record(
                principal,
                request_id,
                AuditEvent::all(*child, AuditEntity::LegalRepresentative, action)
                    .of(rep)
                    .with_outcome(outcome),
            )
            .await?;
        }
        Ok(())
    }

    /// Registers a legal representative linked to one or more visible children; a personal
    /// code can be registered once. Audited in each linked child's trail.
    pub async fn create_representative(
        &self,
        principal: &Principal,
        request_id: &str,
        input: NewRepresentativeInput,
        idempotency: Option<IdempotencyRequest>,
    ) -> Result<Reply, ServiceError> {
        require_role(
            principal,
            REPRESENTATIVE_WRITERS,
            "register legal representatives",
        )?;
        if let Some(reply) = idempotency::replay(&self.records, idempotency.as_ref()).await? {
            let rep: Representative = serde_json::from_value(reply.body.clone())
                .map_err(|e| StoreError::Invalid(format!("stored reply: {e}")))?;
            let children: Vec<ChildId> = rep.children.iter().map(|l| l.child_id).collect();
            self.audit_children(
                principal,
                request_id,
                &children,
                AuditAction::Create,
                rep.id,
                AuditOutcome::Replayed,
            )
            .await?;
            return Ok(reply);
        }
        let mut errors = Vec::new();
        let code = match input.personal_code.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => match PersonalCode::parse(raw) {
                Ok(c) => Some(c),
                Err(e) => {
                    errors.push(FieldError::new("personal_code", e.to_string()));
                    None
                }
            },
        };
        let fields = RepresentativeUpdateInput {
            given_name: input.given_name,
            family_name: input.family_name,
            phone: input.phone,
            email: input.email,
            children: input.children,
        };
        self.check_representative(principal, &fields, &mut errors)
            .await?;
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let rep = Representative {
            id: RepresentativeId::from_uuid(self.ids.new_id()),
            given_name: fields.given_name.trim().to_owned(),
            family_name: fields.family_name.trim().to_owned(),
            personal_code: code,
            phone: fields.phone.map(|p| p.trim().to_owned()),
            email: fields.email.map(|e| e.trim().to_owned()),
            children: fields.children,
            created_at: self.clock.now(),
        };
        let mut writes = vec![WriteOp::PutNew(Record::new(
            keys::representative(rep.id),
            encode(&rep)?,
        ))];
        let code_hash = rep
            .personal_code
            .as_ref()
            .map(|c| self.code_index.hash(c.as_str()));
        if let Some(hash) = &code_hash {
            writes.push(WriteOp::PutNew(Record::new(
                keys::representative_code(hash),
                json!({"representative_id": rep.id}),
            )));
        }
        for link in &rep.children {
            writes.push(WriteOp::PutNew(
                Record::new(
                    keys::representative_link(rep.id, link.child_id),
                    json!({"representative_id": rep.id, "child_id": link.child_id}),
                )
                .with_index(
                    keys::child_index(link.child_id),
                    keys::child_representative_index(rep.id),
                ),
            ));
        }
        // The stored reply is the full record (a replay re-derives the audited children
        // from it); the caller's own view is returned below.
        let mut stored = versioned_reply(201, &encode(&rep)?, 1);
        stored.location = Some(format!("/representatives/{}", rep.id));
        let children: Vec<ChildId> = rep.children.iter().map(|l| l.child_id).collect();
        match idempotency::commit(
            &self.records,
            writes,
            idempotency.as_ref(),
            stored,
            self.clock.now().timestamp(),
        )
        .await
        {
            Ok(Committed::Applied(_)) => {}
            Ok(Committed::Replayed(r)) => return Ok(r),
            Err(ServiceError::Store(StoreError::TransactionCancelled { index: 1 }))
                if code_hash.is_some() =>
            {
                let existing = match &code_hash {
                    Some(h) => self
                        .records
                        .get(&keys::representative_code(h))
                        .await?
                        .and_then(|r| {
                            r.data
                                .get("representative_id")
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                        }),
                    None => None,
                };
                return Err(ServiceError::Conflict {
                    slug: "representative-already-registered",
                    detail: "a representative with this personal code is already registered; link the child to it with PUT".into(),
                    existing_id: existing,
                });
            }
            Err(e) => return Err(e),
        }
        self.audit_children(
            principal,
            request_id,
            &children,
            AuditAction::Create,
            rep.id,
            AuditOutcome::Success,
        )
        .await?;
        let mut reply = versioned_reply(201, &Value::Null, 1);
        reply.body = Self::representative_view(principal, &rep, &children, 1)?;
        reply.location = Some(format!("/representatives/{}", rep.id));
        Ok(reply)
    }

    async fn representative_record(
        &self,
        principal: &Principal,
        id: RepresentativeId,
    ) -> Result<(Record, Representative, Vec<ChildId>), ServiceError> {
        let not_found = || ServiceError::NotFound(format!("no legal representative with id {id}"));
        let record = self
            .records
            .get(&keys::representative(id))
            .await?
            .ok_or_else(not_found)?;
        let rep: Representative = decode(&record)?;
        let visible = self.visible_children(principal, &rep).await?;
        // A representative of no child the caller may see looks exactly like a missing one.
        if visible.is_empty() {
            return Err(not_found());
        }
        Ok((record, rep, visible))
    }

    /// Reads a representative; audited in each visible linked child's trail.
    pub async fn get_representative(
        &self,
        principal: &Principal,
        request_id: &str,
        id: RepresentativeId,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, PERSON_READERS, "read legal representatives")?;
        let (record, rep, visible) = self.representative_record(principal, id).await?;
        let mut reply = versioned_reply(200, &Value::Null, record.version);
        reply.body = Self::representative_view(principal, &rep, &visible, record.version)?;
        self.audit_children(
            principal,
            request_id,
            &visible,
            AuditAction::Read,
            id,
            AuditOutcome::Success,
        )
        .await?;
        Ok(reply)
    }

    /// Replaces a representative's names, contact and links at version `expected`. Links to
    /// children the caller may not see are kept as they are; the personal code is fixed.
    pub async fn update_representative(
        &self,
        principal: &Principal,
        request_id: &str,
        id: RepresentativeId,
        expected: u64,
        input: RepresentativeUpdateInput,
    ) -> Result<Reply, ServiceError> {
        require_role(
            principal,
            REPRESENTATIVE_WRITERS,
            "change legal representatives",
        )?;
        let (record, mut rep, visible) = self.representative_record(principal, id).await?;
        check_version("legal representative", record.version, expected)?;
        let mut errors = Vec::new();
        self.check_representative(principal, &input, &mut errors)
            .await?;
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let mut links: Vec<RepresentedChild> = rep
            .children
            .iter()
            .filter(|l| !visible.contains(&l.child_id))
            .copied()
            .collect();
        links.extend(input.children.iter().copied());
        let mut writes = Vec::new();
        for old in &rep.children {
            if !links.iter().any(|l| l.child_id == old.child_id) {
                let key = keys::representative_link(id, old.child_id);
                if let Some(link) = self.records.get(&key).await? {
                    writes.push(WriteOp::Delete {
                        key,
                        expected: link.version,
                    });
                }
            }
        }
        for new in &links {
            if !rep.children.iter().any(|l| l.child_id == new.child_id) {
                writes.push(WriteOp::PutNew(
                    Record::new(
                        keys::representative_link(id, new.child_id),
                        json!({"representative_id": id, "child_id": new.child_id}),
                    )
                    .with_index(
                        keys::child_index(new.child_id),
                        keys::child_representative_index(id),
                    ),
                ));
            }
        }
        rep.given_name = input.given_name.trim().to_owned();
        rep.family_name = input.family_name.trim().to_owned();
        rep.phone = input.phone.map(|p| p.trim().to_owned());
        rep.email = input.email.map(|e| e.trim().to_owned());
        rep.children = links;
        writes.insert(
            0,
            WriteOp::PutVersioned {
                record: Record {
                    data: encode(&rep)?,
                    ..record
                },
                expected,
            },
        );
        self.records
            .transact(writes)
            .await
            .map_err(|e| concurrent("legal representative", e))?;
        let version = expected + 1;
        let now_visible = self.visible_children(principal, &rep).await?;
        let mut audited = visible.clone();
        audited.extend(now_visible.iter().filter(|c| !visible.contains(c)));
        self.audit_children(
            principal,
            request_id,
            &audited,
            AuditAction::Update,
            id,
            AuditOutcome::Success,
        )
        .await?;
        let mut reply = versioned_reply(200, &Value::Null, version);
        reply.body = Self::representative_view(principal, &rep, &now_visible, version)?;
        Ok(reply)
    }

    /// A child's legal representatives (`GET /children/{id}/representatives`), from the
    /// child's index partition, paged; one read entry in the child's trail.
    pub async fn child_representatives(
        &self,
        principal: &Principal,
        request_id: &str,
        child: ChildId,
        query: &[(String, String)],
    ) -> Result<Reply, ServiceError> {
        require_role(principal, PERSON_READERS, "read legal representatives")?;
        let q = ListQuery::parse(query, &[])?;
        if self.sees(principal, child).await?.is_none() {
            return Err(ServiceError::NotFound(format!("no child with id {child}")));
        }
        let listing = Listing {
            pk: keys::child_index(child),
            prefix: keys::REPRESENTATIVE_PREFIX.into(),
            index: true,
        };
        let mut pager = Pager::new(&self.records, listing, &q)?;
        let mut items = Vec::new();
        while let Some(batch) = pager.next_batch(q.limit - items.len()).await? {
            for link in &batch {
                let rep_id: RepresentativeId = serde_json::from_value(
                    link.data["representative_id"].clone(),
                )
                .map_err(|e| StoreError::Corrupt {
                    pk: link.key.pk.clone(),
                    sk: link.key.sk.clone(),
                    reason: e.to_string(),
                })?;
                let Some(record) = self.records.get(&keys::representative(rep_id)).await? else {
                    continue;
                };
                let rep: Representative = decode(&record)?;
                let visible = self.visible_children(principal, &rep).await?;
                items.push(Self::representative_view(
                    principal,
                    &rep,
                    &visible,
                    record.version,
                )?);
            }
        }
        self.record(
            principal,
            request_id,
            AuditEvent::all(child, AuditEntity::LegalRepresentative, AuditAction::Read),
        )
        .await?;
        Ok(pager.finish(items))
    }
}

/// Roles that may register and change legal representatives (those that register children).
pub const REPRESENTATIVE_WRITERS: &[Role] = crate::services::children::REGISTRARS;
/// Roles that see a representative's personal code; other person-reading roles do not.
pub const REPRESENTATIVE_FULL_VIEW: &[Role] = &[
    Role::HealthSpecialist,
    Role::MunicipalitySocialService,
    Role::RegistryAdministrator,
    Role::PartnerSystem,
];

/// Body of `PUT /representatives/{id}`: every changeable field (the personal code is fixed).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepresentativeUpdateInput {
    /// Given name(s).
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// E-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// The children represented and how (at least one, each visible to the caller).
    pub children: Vec<RepresentedChild>,
}

/// Body of `POST /representatives`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRepresentativeInput {
    /// Personal code (either format), if known.
    #[serde(default)]
    pub personal_code: Option<String>,
    /// Given name(s).
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// E-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// The children represented and how (at least one, each visible to the caller).
    pub children: Vec<RepresentedChild>,
}
