//! Registry entities besides the child (issue #4): organisations, specialists with their
//! certifications, and support episodes. Pure values and rules; storage and access are in
//! `services::registry`.

use crate::domain::{
    Atvk, ChildId, EpisodeId, FieldError, PersonalCode, RepresentativeId, ScreeningId, SpecialistId,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// What an organisation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganisationKind {
    /// A municipality's social service.
    MunicipalitySocialService,
    /// A pre-school (kindergarten).
    Preschool,
    /// A school.
    School,
    /// A health practice (family doctor, clinic).
    HealthPractice,
    /// A provider of intervention programmes.
    ProgrammeProvider,
    /// A non-governmental organisation.
    Ngo,
}

impl OrganisationKind {
    /// Every kind with its wire name.
    pub const ALL: [(&'static str, OrganisationKind); 6] = [
        (
            "municipality_social_service",
            OrganisationKind::MunicipalitySocialService,
        ),
        ("preschool", OrganisationKind::Preschool),
        ("school", OrganisationKind::School),
        ("health_practice", OrganisationKind::HealthPractice),
        ("programme_provider", OrganisationKind::ProgrammeProvider),
        ("ngo", OrganisationKind::Ngo),
    ];
}

/// Whether a registry record is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryStatus {
    /// In use.
    #[default]
    Active,
    /// No longer in use (kept: episodes and certifications refer to it).
    Inactive,
}

/// Why a registry value (a list filter, a code, a partner-file cell) is refused; the text is
/// the field error's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegistryValueError {
    /// Not a [`RegistryStatus`].
    #[error("must be active or inactive")]
    Status,
    /// Not an organisation code.
    #[error("must be 2 to 64 lower-case letters, digits or '-', not starting with '-'")]
    OrganisationId,
    /// Not a registration number.
    #[error("must be exactly 11 digits")]
    RegistrationNumber,
    /// Not a [`Profession`].
    #[error(
        "must be physician, nurse, psychologist, speech_therapist, special_educator, teacher, social_worker, therapist or other"
    )]
    Profession,
    /// Not a support episode `state` (`open` or `closed`).
    #[error("must be open or closed")]
    State,
}

/// Parses a status filter value.
pub fn parse_status(raw: &str) -> Result<RegistryStatus, RegistryValueError> {
    match raw {
        "active" => Ok(RegistryStatus::Active),
        "inactive" => Ok(RegistryStatus::Inactive),
        _ => Err(RegistryValueError::Status),
    }
}

/// An organisation. Its `id` is the stable code tokens carry as `ravis:org`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organisation {
    /// Stable code: 2 to 64 of `a-z`, `0-9`, `-`, starting with a letter or digit.
    pub id: String,
    /// What it is.
    pub kind: OrganisationKind,
    /// Name.
    pub name: String,
    /// Territory it is registered in.
    pub atvk: Atvk,
    /// Latvian registration number (11 digits), if it has one.
    pub registration_number: Option<String>,
    /// Active or inactive.
    pub status: RegistryStatus,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

/// Checks an organisation code (`ravis:org`): `[a-z0-9][a-z0-9-]{1,63}`.
pub fn check_organisation_id(id: &str) -> Result<(), RegistryValueError> {
    let ok = (2..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(RegistryValueError::OrganisationId)
    }
}

crate::domain::ids::checked_string_id!(
    /// An organisation code (`ravis:org`), checked by [`check_organisation_id`]: the only way
    /// to make one. Serialised as the bare code.
    OrganisationId,
    RegistryValueError,
    check_organisation_id
);

/// Checks a Latvian registration number: exactly 11 digits (the register publishes no
/// check-digit rule that holds for every kind of entity, so none is applied).
pub fn check_registration_number(raw: &str) -> Result<(), RegistryValueError> {
    if raw.len() == 11 && raw.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(RegistryValueError::RegistrationNumber)
    }
}

/// Checks a required name-like text: not blank, at most 200 characters, no control characters.
pub fn check_text(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    if let Some(reason) = text_problem(value, 200) {
        errors.push(FieldError::new(field, reason));
    }
}

/// Why a free text is refused, if it is: blank, longer than `max` characters after trimming
/// white space, or holding a control character.
pub fn text_problem(value: &str, max: usize) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        Some("must not be empty".into())
    } else if v.chars().count() > max {
        Some(format!("must be at most {max} characters"))
    } else if v.chars().any(char::is_control) {
        Some("must not contain control characters".into())
    } else {
        None
    }
}

/// A specialist's profession.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profession {
    /// Physician (family doctor, paediatrician, psychiatrist…).
    Physician,
    /// Nurse.
    Nurse,
    /// Psychologist.
    Psychologist,
    /// Speech and language therapist.
    SpeechTherapist,
    /// Special educator.
    SpecialEducator,
    /// Teacher (pre-school or school).
    Teacher,
    /// Social worker.
    SocialWorker,
    /// Physiotherapist or occupational therapist.
    Therapist,
    /// Any other profession.
    Other,
}

/// Parses a profession filter value.
pub fn parse_profession(raw: &str) -> Result<Profession, RegistryValueError> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned()))
        .map_err(|_| RegistryValueError::Profession)
}

/// A certification of a specialist for one instrument or programme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certification {
    /// Id within the specialist (UUID v7).
    pub id: String,
    /// The screening instrument certified for (an id of the scoring definitions), or…
    pub instrument: Option<String>,
    /// …the programme certified for (a catalogue id). Exactly one of the two is set.
    pub programme: Option<String>,
    /// Who issued it.
    pub issued_by: String,
    /// First day it is valid.
    pub valid_from: NaiveDate,
    /// Last day it is valid (`None`: no end).
    pub valid_to: Option<NaiveDate>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

impl Certification {
    /// The instrument or programme id it is for.
    pub fn subject(&self) -> &str {
        self.instrument
            .as_deref()
            .or(self.programme.as_deref())
            .unwrap_or("")
    }

    /// Whether it is valid on `date` (`valid_from ≤ date ≤ valid_to`).
    pub fn is_valid_on(&self, date: NaiveDate) -> bool {
        self.valid_from <= date && self.valid_to.is_none_or(|to| date <= to)
    }
}

/// A specialist: a member of staff who screens children or delivers programmes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Specialist {
    /// Id (UUID v7, made by RAVIS; no personal code is kept for staff).
    pub id: SpecialistId,
    /// Given name(s).
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Profession.
    pub profession: Profession,
    /// Organisations (codes) the specialist works for; at least one, each registered.
    pub organisations: Vec<String>,
    /// Active or inactive.
    pub status: RegistryStatus,
    /// Certifications, expired ones included (they stay visible but stop counting).
    pub certifications: Vec<Certification>,
    /// When registered.
    pub created_at: DateTime<Utc>,
}

impl Specialist {
    /// See [`is_certified`].
    pub fn is_certified(&self, instrument_or_programme: &str, on_date: NaiveDate) -> bool {
        is_certified(self, instrument_or_programme, on_date)
    }
}

/// Whether `specialist` holds, on `on_date`, a certification for `instrument_or_programme`
/// (an instrument id of the scoring definitions or a catalogue programme id) that is valid
/// that day. Expired and not-yet-valid certifications do not count, and an inactive
/// specialist is certified for nothing. Rules that need "was this screening administered by
/// a certified specialist" call this with the administration date.
pub fn is_certified(
    specialist: &Specialist,
    instrument_or_programme: &str,
    on_date: NaiveDate,
) -> bool {
    specialist.status == RegistryStatus::Active
        && specialist
            .certifications
            .iter()
            .any(|c| c.subject() == instrument_or_programme && c.is_valid_on(on_date))
}

/// What referred the child to the support.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReferralSource {
    /// The screening whose result recommended it.
    Screening {
        /// That screening (must be of the same child).
        screening_id: ScreeningId,
    },
    /// Any other source, described.
    Text {
        /// The description (e.g. "parent request", "family doctor").
        text: String,
    },
}

/// How a support episode ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeOutcome {
    /// Goals met.
    GoalsMet,
    /// Goals partly met.
    PartlyMet,
    /// Goals not met.
    NotMet,
    /// Not assessed.
    Unknown,
}

/// Why a support episode ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The programme or service was completed.
    Completed,
    /// The family withdrew.
    FamilyWithdrew,
    /// The child moved away.
    Moved,
    /// Transferred to another service.
    Transferred,
    /// Support no longer needed.
    NoLongerNeeded,
    /// Another reason.
    Other,
}

/// A support episode: a child in a programme or service at a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupportEpisode {
    /// Id (UUID v7).
    pub id: EpisodeId,
    /// The child.
    pub child_id: ChildId,
    /// The programme or service (catalogue id).
    pub programme: String,
    /// Provider organisation (code).
    pub provider_org: String,
    /// Specialist delivering it, if named (must work for the provider).
    pub specialist_id: Option<SpecialistId>,
    /// Organisation that referred the child (code), if known.
    pub referring_org: Option<String>,
    /// Date of the referral.
    pub referral_date: NaiveDate,
    /// What referred the child.
    pub referral_source: ReferralSource,
    /// First day of support, once started.
    pub start_date: Option<NaiveDate>,
    /// Last day of support, once ended.
    pub end_date: Option<NaiveDate>,
    /// Outcome (required with `end_date`).
    pub outcome: Option<EpisodeOutcome>,
    /// Why it ended (required with `end_date`).
    pub end_reason: Option<EndReason>,
    /// When recorded.
    pub created_at: DateTime<Utc>,
    /// The day support is planned to end, if known (past it without an end, the episode is
    /// on the provider's worklist for its outcome).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_end_date: Option<NaiveDate>,
    /// The last review of the support (the follow-up cadence counts from it, else from the start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_review_on: Option<NaiveDate>,
    /// The referral the episode was started from (its provider's care link then ends with
    /// the referral, after the grace period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_id: Option<crate::domain::ReferralId>,
}

impl SupportEpisode {
    /// Whether the episode is still open (not ended).
    pub fn is_open(&self) -> bool {
        self.end_date.is_none()
    }
}

/// The changeable state of an episode, as checked by [`check_episode_state`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpisodeState<'a> {
    /// Referral date.
    pub referral_date: NaiveDate,
    /// Start.
    pub start_date: Option<NaiveDate>,
    /// End.
    pub end_date: Option<NaiveDate>,
    /// Outcome.
    pub outcome: Option<EpisodeOutcome>,
    /// End reason.
    pub end_reason: Option<EndReason>,
    /// Referral source.
    pub referral_source: &'a ReferralSource,
}

/// The state rules of an episode: referral not in the future; start not before the
/// referral; an end needs a start, is not before it and not in the future; an end needs an
/// outcome and a reason, and an outcome or reason needs an end; a text source is not blank.
pub fn check_episode_state(state: &EpisodeState<'_>, today: NaiveDate) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if state.referral_date > today {
        errors.push(FieldError::new(
            "referral_date",
            "must not be in the future",
        ));
    }
    if let Some(start) = state.start_date
        && start < state.referral_date
    {
        errors.push(FieldError::new(
            "start_date",
            "must not be before referral_date",
        ));
    }
    if let Some(end) = state.end_date {
        match state.start_date {
            None => errors.push(FieldError::new("end_date", "requires start_date")),
            Some(start) if end < start => {
                errors.push(FieldError::new("end_date", "must not be before start_date"))
            }
            Some(_) => {}
        }
        if end > today {
            errors.push(FieldError::new("end_date", "must not be in the future"));
        }
        if state.outcome.is_none() {
            errors.push(FieldError::new(
                "outcome",
                "is required once end_date is set",
            ));
        }
        if state.end_reason.is_none() {
            errors.push(FieldError::new(
                "end_reason",
                "is required once end_date is set",
            ));
        }
    } else {
        if state.outcome.is_some() {
            errors.push(FieldError::new("outcome", "is only given with end_date"));
        }
        if state.end_reason.is_some() {
            errors.push(FieldError::new("end_reason", "is only given with end_date"));
        }
    }
    if let ReferralSource::Text { text } = state.referral_source {
        check_text("referral_source.text", text, &mut errors);
    }
    errors
}

/// How a representative is related to a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// Mother.
    Mother,
    /// Father.
    Father,
    /// Guardian appointed by the orphans' court.
    Guardian,
    /// Foster parent.
    FosterParent,
    /// Another legal representative.
    Other,
}

/// A child a representative represents, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepresentedChild {
    /// The child.
    pub child_id: ChildId,
    /// The relation.
    pub relation: Relation,
}

/// A legal representative of one or more children (the family link).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Representative {
    /// Id (UUID v7).
    pub id: RepresentativeId,
    /// Given name(s).
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Personal code, if known (indexed only through its keyed hash).
    pub personal_code: Option<PersonalCode>,
    /// Phone number.
    pub phone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// The children represented (at least one).
    pub children: Vec<RepresentedChild>,
    /// When registered.
    pub created_at: DateTime<Utc>,
}

/// Checks optional contact details: a phone of digits, spaces, `+`, `-`, `(`, `)` with 7 to
/// 20 digits; an e-mail address with one `@`, a dot in the domain, at most 254 characters.
pub fn check_contact(phone: Option<&str>, email: Option<&str>, errors: &mut Vec<FieldError>) {
    if let Some(p) = phone {
        let digits = p.chars().filter(char::is_ascii_digit).count();
        let allowed = p.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c));
        if !allowed || !(7..=20).contains(&digits) {
            errors.push(FieldError::new(
                "phone",
                "must be 7 to 20 digits, optionally with spaces, '+', '-', '(' and ')'",
            ));
        }
    }
    if let Some(e) = email {
        let ok = e.len() <= 254
            && !e.chars().any(char::is_whitespace)
            && e.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if !ok {
            errors.push(FieldError::new("email", "must be an e-mail address"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn cert(subject: &str, from: &str, to: Option<&str>) -> Certification {
        Certification {
            id: "c".into(),
            instrument: Some(subject.into()),
            programme: None,
            issued_by: "x".into(),
            valid_from: d(from),
            valid_to: to.map(d),
            recorded_at: Utc::now(),
        }
    }

    #[test]
    fn certification_counts_only_while_valid_and_active() {
        let mut s = Specialist {
            id: SpecialistId::from_uuid(uuid::Uuid::nil()),
            given_name: "A".into(),
            family_name: "B".into(),
            profession: Profession::Nurse,
            organisations: vec!["o1".into()],
            status: RegistryStatus::Active,
            certifications: vec![
                cert("mchat-r", "2025-01-01", Some("2025-12-31")),
                cert("epds", "2026-06-01", None),
            ],
            created_at: Utc::now(),
        };
        assert!(s.is_certified("mchat-r", d("2025-01-01")));
        assert!(s.is_certified("mchat-r", d("2025-12-31")));
        assert!(!s.is_certified("mchat-r", d("2026-01-01")), "expired");
        assert!(!s.is_certified("mchat-r", d("2024-12-31")), "not yet valid");
        assert!(!s.is_certified("epds", d("2026-05-31")));
        assert!(s.is_certified("epds", d("2030-01-01")), "open-ended");
        assert!(!s.is_certified("sdq-parent-4-17", d("2025-06-01")));
        s.status = RegistryStatus::Inactive;
        assert!(!s.is_certified("epds", d("2030-01-01")), "inactive");
    }

    #[test]
    fn contact_details() {
        let check = |p: Option<&str>, e: Option<&str>| {
            let mut errors = Vec::new();
            check_contact(p, e, &mut errors);
            fields(errors)
        };
        assert!(check(Some("+371 2612 3456"), Some("a.b@example.lv")).is_empty());
        assert!(check(None, None).is_empty());
        assert_eq!(check(Some("123"), None), ["phone"]);
        assert_eq!(check(Some("2612345a"), None), ["phone"]);
        for bad in ["a@b", "@x.lv", "a@@x.lv", "a b@x.lv", "a@.lv", "a@x."] {
            assert_eq!(check(None, Some(bad)), ["email"], "{bad}");
        }
    }

    #[test]
    fn organisation_codes_and_registration_numbers() {
        for ok in ["riga-sd", "40003012345", "ab", &"a".repeat(64)] {
            assert!(check_organisation_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a",
            "-ab",
            "Riga",
            "riga sd",
            "riga_sd",
            "",
            &"a".repeat(65),
        ] {
            assert!(check_organisation_id(bad).is_err(), "{bad}");
        }
        assert_eq!(
            OrganisationId::parse("riga-sd").unwrap().as_str(),
            "riga-sd"
        );
        assert_eq!(
            OrganisationId::parse("-ab"),
            Err(RegistryValueError::OrganisationId)
        );
        let id: OrganisationId = serde_json::from_value(serde_json::json!("riga-sd")).unwrap();
        assert_eq!(
            serde_json::to_value(&id).unwrap(),
            serde_json::json!("riga-sd")
        );
        assert!(serde_json::from_value::<OrganisationId>(serde_json::json!("Riga")).is_err());
        assert!(check_registration_number("90000012345").is_ok());
        for bad in ["9000001234", "900000123456", "9000001234a", "LV90000012345"] {
            assert!(check_registration_number(bad).is_err(), "{bad}");
        }
    }

    fn state<'a>(source: &'a ReferralSource) -> EpisodeState<'a> {
        EpisodeState {
            referral_date: d("2026-01-10"),
            start_date: None,
            end_date: None,
            outcome: None,
            end_reason: None,
            referral_source: source,
        }
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn episode_state_rules() {
        let today = d("2026-06-01");
        let text = ReferralSource::Text {
            text: "parent".into(),
        };
        assert!(check_episode_state(&state(&text), today).is_empty());
        let mut s = state(&text);
        s.referral_date = d("2026-06-02");
        assert_eq!(fields(check_episode_state(&s, today)), ["referral_date"]);
        let mut s = state(&text);
        s.start_date = Some(d("2026-01-09"));
        assert_eq!(fields(check_episode_state(&s, today)), ["start_date"]);
        let mut s = state(&text);
        s.end_date = Some(d("2026-02-01"));
        assert_eq!(
            fields(check_episode_state(&s, today)),
            ["end_date", "outcome", "end_reason"]
        );
        let mut s = state(&text);
        s.start_date = Some(d("2026-02-01"));
        s.end_date = Some(d("2026-01-31"));
        s.outcome = Some(EpisodeOutcome::GoalsMet);
        s.end_reason = Some(EndReason::Completed);
        assert_eq!(fields(check_episode_state(&s, today)), ["end_date"]);
        s.end_date = Some(d("2026-02-01"));
        assert!(check_episode_state(&s, today).is_empty(), "end = start");
        s.end_date = Some(d("2026-06-02"));
        assert_eq!(fields(check_episode_state(&s, today)), ["end_date"]);
        let mut s = state(&text);
        s.outcome = Some(EpisodeOutcome::NotMet);
        s.end_reason = Some(EndReason::Other);
        assert_eq!(
            fields(check_episode_state(&s, today)),
            ["outcome", "end_reason"]
        );
        let blank = ReferralSource::Text { text: " ".into() };
        assert_eq!(
            fields(check_episode_state(&state(&blank), today)),
            ["referral_source.text"]
        );
    }
}
