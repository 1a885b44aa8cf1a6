//! The registry's inputs as the HTTP API and partner files give them (organisations,
//! specialists, certifications, support episodes, legal representatives), and the field
//! rules that need no store: each input's `validate` returns its `Valid…` type (the only input
//! the entity's `new`/`apply` take) or every violation. The use cases (`services/registry/`)
//! add the rules that read stored state.

use crate::domain::field_error::{NotOneOf, one_of, optional};
use crate::domain::registry::{
    Certification, EndReason, EpisodeOutcome, EpisodeState, Organisation, OrganisationId,
    OrganisationKind, Profession, ReferralSource, RegistryStatus, RegistryValueError,
    Representative, RepresentedChild, Specialist, SupportEpisode, check_contact,
    check_episode_state, check_registration_number, check_text,
};
use crate::domain::{
    Atvk, ChildId, EpisodeId, FieldError, PersonalCode, RepresentativeId, SpecialistId,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

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
    /// Planned end of support.
    #[serde(default)]
    pub planned_end_date: Option<NaiveDate>,
    /// Last review of the support.
    #[serde(default)]
    pub last_review_on: Option<NaiveDate>,
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
    /// Planned end of support (omitted: the stored one is kept).
    #[serde(default)]
    pub planned_end_date: Option<NaiveDate>,
    /// Last review of the support (omitted: the stored one is kept; it never moves back).
    #[serde(default)]
    pub last_review_on: Option<NaiveDate>,
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
                planned_end_date: i.planned_end_date,
                last_review_on: i.last_review_on,
            },
        )
    }
}

/// The rules of an episode's fields that need no store (`POST`/`PUT /support-episodes`, the
/// `support-episodes` partner file and an episode started from a referral):
/// [`check_episode_state`], then a planned end and a last review need a start and are not
/// before it, and a last review is not in the future.
pub fn check_episode_fields(input: &EpisodeUpdateInput, today: NaiveDate) -> Vec<FieldError> {
    let mut errors = Vec::new();
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
    if let Some(planned) = input.planned_end_date {
        match input.start_date {
            Some(start) if planned < start => errors.push(FieldError::new(
                "planned_end_date",
                "must not be before start_date",
            )),
            Some(_) => {}
            None => errors.push(FieldError::new("planned_end_date", "requires start_date")),
        }
    }
    if let Some(review) = input.last_review_on {
        match input.start_date {
            Some(start) if review < start => errors.push(FieldError::new(
                "last_review_on",
                "must not be before start_date",
            )),
            Some(_) => {}
            None => errors.push(FieldError::new("last_review_on", "requires start_date")),
        }
        if review > today {
            errors.push(FieldError::new(
                "last_review_on",
                "must not be in the future",
            ));
        }
    }
    errors
}

/// An [`EpisodeUpdateInput`] that passed [`check_episode_fields`]: the only input
/// [`SupportEpisode::new`] and [`SupportEpisode::apply`] take. The use cases check the
/// references to the store (`services::registry::check_episode_references`) before making one.
#[derive(Debug, Clone)]
pub struct ValidEpisode(EpisodeUpdateInput);

impl EpisodeUpdateInput {
    /// Checks [`check_episode_fields`] on `today`; returns every violation.
    pub fn validate(self, today: NaiveDate) -> Result<ValidEpisode, Vec<FieldError>> {
        let errors = check_episode_fields(&self, today);
        if errors.is_empty() {
            Ok(ValidEpisode(self))
        } else {
            Err(errors)
        }
    }
}

impl SupportEpisode {
    /// A new episode of `child_id` with the fields of `input`.
    pub fn new(
        id: EpisodeId,
        child_id: ChildId,
        input: ValidEpisode,
        created_at: DateTime<Utc>,
    ) -> Self {
        let ValidEpisode(input) = input;
        Self {
            id,
            child_id,
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
            created_at,
            planned_end_date: input.planned_end_date,
            last_review_on: input.last_review_on,
            referral_id: None,
        }
    }

    /// Sets every changeable field from `input` (the id, child and creation time stay).
    pub fn apply(&mut self, input: ValidEpisode) {
        let ValidEpisode(input) = input;
        self.programme = input.programme;
        self.provider_org = input.provider_org;
        self.specialist_id = input.specialist_id;
        self.referring_org = input.referring_org;
        self.referral_date = input.referral_date;
        self.referral_source = input.referral_source;
        self.start_date = input.start_date;
        self.end_date = input.end_date;
        self.outcome = input.outcome;
        self.end_reason = input.end_reason;
        if input.planned_end_date.is_some() {
            self.planned_end_date = input.planned_end_date;
        }
        if input.last_review_on > self.last_review_on {
            self.last_review_on = input.last_review_on;
        }
    }
}

/// A `state` list filter: `open` or `closed`.
pub fn parse_open(raw: &str) -> Result<bool, RegistryValueError> {
    match raw {
        "open" => Ok(true),
        "closed" => Ok(false),
        _ => Err(RegistryValueError::State),
    }
}

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

/// Parses an organisation kind by its wire name (list filter and partner files).
pub fn parse_kind(raw: &str) -> Result<OrganisationKind, NotOneOf> {
    one_of(raw, OrganisationKind::ALL)
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
        errors.push(FieldError::new("registration_number", reason.to_string()));
    }
    (atvk, reg.map(str::to_owned))
}

/// A [`NewOrganisationInput`] that passed every field rule: the only input
/// [`Organisation::new`] takes.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidNewOrganisation {
    id: OrganisationId,
    fields: ValidOrganisationUpdate,
}

impl ValidNewOrganisation {
    /// The code it is registered under.
    pub fn id(&self) -> &OrganisationId {
        &self.id
    }
}

/// An [`OrganisationUpdateInput`] that passed every field rule (name trimmed, territory
/// parsed, blank registration number absent): the only input [`Organisation::apply`] takes.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidOrganisationUpdate {
    kind: OrganisationKind,
    name: String,
    atvk: Atvk,
    registration_number: Option<String>,
    status: RegistryStatus,
}

impl ValidOrganisationUpdate {
    /// [`check_organisation_fields`] after the violations already in `errors`.
    fn check(
        kind: OrganisationKind,
        name: &str,
        atvk: &str,
        registration_number: Option<&str>,
        status: RegistryStatus,
        mut errors: Vec<FieldError>,
    ) -> Result<Self, Vec<FieldError>> {
        let (atvk, registration_number) =
            check_organisation_fields(name, atvk, registration_number, &mut errors);
        match atvk.filter(|_| errors.is_empty()) {
            Some(atvk) => Ok(Self {
                kind,
                name: name.trim().to_owned(),
                atvk,
                registration_number,
                status,
            }),
            None => Err(errors),
        }
    }
}

impl NewOrganisationInput {
    /// Checks the code ([`check_organisation_id`]), then [`check_organisation_fields`];
    /// returns every violation.
    pub fn validate(self) -> Result<ValidNewOrganisation, Vec<FieldError>> {
        let mut errors = Vec::new();
        let id = OrganisationId::parse(&self.id)
            .map_err(|reason| errors.push(FieldError::new("id", reason.to_string())))
            .ok();
        let fields = ValidOrganisationUpdate::check(
            self.kind,
            &self.name,
            &self.atvk,
            self.registration_number.as_deref(),
            self.status,
            errors,
        )?;
        // A refused code is in the errors, so `fields` is only checked with a code.
        let id = id.ok_or_else(Vec::new)?;
        Ok(ValidNewOrganisation { id, fields })
    }
}

impl OrganisationUpdateInput {
    /// Checks [`check_organisation_fields`]; returns every violation.
    pub fn validate(self) -> Result<ValidOrganisationUpdate, Vec<FieldError>> {
        ValidOrganisationUpdate::check(
            self.kind,
            &self.name,
            &self.atvk,
            self.registration_number.as_deref(),
            self.status,
            Vec::new(),
        )
    }
}

impl Organisation {
    /// A new organisation registered at `created_at`.
    pub fn new(input: ValidNewOrganisation, created_at: DateTime<Utc>) -> Self {
        let ValidNewOrganisation { id, fields } = input;
        Self {
            id: id.into(),
            kind: fields.kind,
            name: fields.name,
            atvk: fields.atvk,
            registration_number: fields.registration_number,
            status: fields.status,
            created_at,
        }
    }

    /// Sets every changeable field from `input` (the code and registration time stay).
    pub fn apply(&mut self, input: ValidOrganisationUpdate) {
        self.kind = input.kind;
        self.name = input.name;
        self.atvk = input.atvk;
        self.registration_number = input.registration_number;
        self.status = input.status;
    }
}

/// An optional text without surrounding whitespace.
fn trimmed(v: Option<String>) -> Option<String> {
    v.map(|v| v.trim().to_owned())
}

/// Parses a territory field, recording a violation under `field`.
pub fn parse_atvk(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<Atvk> {
    optional(field, Some(raw), errors, Atvk::parse)
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

/// A [`NewSpecialistInput`] that passed the rules that need no store
/// ([`check_specialist_fields`]): names trimmed, organisation codes without repeats. The use
/// case still checks that each organisation is registered.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSpecialist {
    given_name: String,
    family_name: String,
    profession: Profession,
    organisations: Vec<String>,
    status: RegistryStatus,
}

impl NewSpecialistInput {
    /// The organisation codes without repeats, in their order.
    pub fn organisation_codes(&self) -> Vec<String> {
        let mut orgs: Vec<String> = Vec::new();
        for code in &self.organisations {
            if !orgs.contains(code) {
                orgs.push(code.clone());
            }
        }
        orgs
    }

    /// Checks [`check_specialist_fields`]; returns every violation.
    pub fn validate(self) -> Result<ValidSpecialist, Vec<FieldError>> {
        let (organisations, errors) = check_specialist_fields(&self);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ValidSpecialist {
            given_name: self.given_name.trim().to_owned(),
            family_name: self.family_name.trim().to_owned(),
            profession: self.profession,
            organisations,
            status: self.status,
        })
    }
}

impl ValidSpecialist {
    /// The organisation codes (without repeats).
    pub fn organisations(&self) -> &[String] {
        &self.organisations
    }
}

impl Specialist {
    /// A new specialist `id` without certifications, registered at `created_at`.
    pub fn new(id: SpecialistId, input: ValidSpecialist, created_at: DateTime<Utc>) -> Self {
        Self {
            id,
            given_name: input.given_name,
            family_name: input.family_name,
            profession: input.profession,
            organisations: input.organisations,
            status: input.status,
            certifications: Vec::new(),
            created_at,
        }
    }

    /// Sets every changeable field from `input` (id, certifications and creation time stay).
    pub fn apply(&mut self, input: ValidSpecialist) {
        self.given_name = input.given_name;
        self.family_name = input.family_name;
        self.profession = input.profession;
        self.organisations = input.organisations;
        self.status = input.status;
    }
}

/// A [`NewCertificationInput`] that passed the rules that need no store
/// ([`check_certification_shape`]): exactly one of instrument and programme, trimmed, and the
/// issuer trimmed. The use case still checks the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidCertification {
    instrument: Option<String>,
    programme: Option<String>,
    issued_by: String,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
}

impl NewCertificationInput {
    /// Checks [`check_certification_shape`]; returns every violation.
    pub fn validate(self) -> Result<ValidCertification, Vec<FieldError>> {
        let errors = check_certification_shape(&self);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ValidCertification {
            instrument: trimmed(self.instrument),
            programme: trimmed(self.programme),
            issued_by: self.issued_by.trim().to_owned(),
            valid_from: self.valid_from,
            valid_to: self.valid_to,
        })
    }
}

impl Certification {
    /// The certification `id` of `input`, recorded at `recorded_at`.
    pub fn new(id: String, input: ValidCertification, recorded_at: DateTime<Utc>) -> Self {
        Self {
            id,
            instrument: input.instrument,
            programme: input.programme,
            issued_by: input.issued_by,
            valid_from: input.valid_from,
            valid_to: input.valid_to,
            recorded_at,
        }
    }
}

/// The rules of a specialist's fields that need no store (`POST`/`PUT /specialists` and the
/// `specialists` partner file): both names, at least one organisation. Returns the
/// organisation codes without repeats, in their order, and the violations.
pub fn check_specialist_fields(input: &NewSpecialistInput) -> (Vec<String>, Vec<FieldError>) {
    let mut errors = Vec::new();
    check_text("given_name", &input.given_name, &mut errors);
    check_text("family_name", &input.family_name, &mut errors);
    let orgs = input.organisation_codes();
    if orgs.is_empty() {
        errors.push(FieldError::new(
            "organisations",
            "must name at least one organisation",
        ));
    }
    (orgs, errors)
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

/// A [`RepresentativeUpdateInput`] that passed the rules that need no store (names, contact
/// details, at least one child): names and contacts trimmed. The use case still checks each
/// child (not listed twice, visible to the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRepresentative {
    given_name: String,
    family_name: String,
    phone: Option<String>,
    email: Option<String>,
    children: Vec<RepresentedChild>,
}

/// A [`NewRepresentativeInput`] that passed the rules that need no store: the personal code
/// (blank counts as absent) parsed, and [`ValidRepresentative`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidNewRepresentative {
    personal_code: Option<PersonalCode>,
    fields: ValidRepresentative,
}

impl RepresentativeUpdateInput {
    /// Checks both names, the contact details ([`check_contact`]) and that a child is named;
    /// returns every violation.
    pub fn validate(self) -> Result<ValidRepresentative, Vec<FieldError>> {
        self.check(Vec::new())
    }

    /// [`Self::validate`] after the violations already in `errors`.
    fn check(self, mut errors: Vec<FieldError>) -> Result<ValidRepresentative, Vec<FieldError>> {
        check_text("given_name", &self.given_name, &mut errors);
        check_text("family_name", &self.family_name, &mut errors);
        check_contact(self.phone.as_deref(), self.email.as_deref(), &mut errors);
        if self.children.is_empty() {
            errors.push(FieldError::new("children", "must name at least one child"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ValidRepresentative {
            given_name: self.given_name.trim().to_owned(),
            family_name: self.family_name.trim().to_owned(),
            phone: trimmed(self.phone),
            email: trimmed(self.email),
            children: self.children,
        })
    }
}

impl NewRepresentativeInput {
    /// Checks the personal code, then [`RepresentativeUpdateInput::validate`]; returns every
    /// violation.
    pub fn validate(self) -> Result<ValidNewRepresentative, Vec<FieldError>> {
        let mut errors = Vec::new();
        let personal_code = optional(
            "personal_code",
            self.personal_code
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty()),
            &mut errors,
            PersonalCode::parse,
        );
        let fields = RepresentativeUpdateInput {
            given_name: self.given_name,
            family_name: self.family_name,
            phone: self.phone,
            email: self.email,
            children: self.children,
        }
        .check(errors)?;
        Ok(ValidNewRepresentative {
            personal_code,
            fields,
        })
    }
}

impl Representative {
    /// A new representative `id` registered at `created_at`.
    pub fn new(
        id: RepresentativeId,
        input: ValidNewRepresentative,
        created_at: DateTime<Utc>,
    ) -> Self {
        let ValidNewRepresentative {
            personal_code,
            fields,
        } = input;
        Self {
            id,
            given_name: fields.given_name,
            family_name: fields.family_name,
            personal_code,
            phone: fields.phone,
            email: fields.email,
            children: fields.children,
            created_at,
        }
    }

    /// Sets names and contact details from `input`, and the children to `kept` followed by
    /// those of `input`; returns the children before (the personal code is fixed).
    pub fn apply(
        &mut self,
        input: ValidRepresentative,
        mut kept: Vec<RepresentedChild>,
    ) -> Vec<RepresentedChild> {
        self.given_name = input.given_name;
        self.family_name = input.family_name;
        self.phone = input.phone;
        self.email = input.email;
        kept.extend(input.children);
        std::mem::replace(&mut self.children, kept)
    }
}
