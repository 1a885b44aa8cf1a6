//! Catalogue entries as registry records (module 4 of RAVIS, issue #4): screening
//! instruments, intervention programmes, therapies and support services, with the
//! documented vocabularies they are checked against (`docs/CATALOGUE.md`).
//!
//! The built-in programmes (`shared/catalogue/programmes.json`) and the engine's instruments
//! are the seed; the stored entries are the truth once seeded (`services::catalogue`).

use crate::domain::catalogue::Programme;
use crate::domain::{Atvk, FieldError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The instruments the scoring engine scores, as the catalogue sees them: an instrument
/// entry must name one, and its target ages must lie within the instrument's (the engine
/// implements this in `scoring`, so the catalogue's rules need not import it).
pub trait InstrumentAges {
    /// The ages (months) instrument `id` is scored for, or `None` if the engine has no `id`.
    fn age_range_months(&self, id: &str) -> Option<AgeMonths>;
}

/// The longest id.
pub const MAX_ID_LEN: usize = 64;
/// The longest name.
pub const MAX_NAME_LEN: usize = 200;
/// The longest source citation.
pub const MAX_SOURCE_LEN: usize = 1000;
/// Youngest target age in months (negative: before birth, e.g. prenatal home visiting).
pub const MIN_AGE_MONTHS: i32 = -9;
/// Oldest target age in months (18 years).
pub const MAX_AGE_MONTHS: i32 = 216;

/// Needs an intervention may target. `conduct` is behaviour problems (the SDQ's term).
pub const TARGET_NEEDS: &[&str] = &[
    "anxiety",
    "attachment",
    "autism",
    "bereavement",
    "bullying",
    "conduct",
    "development",
    "disability",
    "early-childhood",
    "emotional",
    "hyperactivity",
    "language",
    "parenting",
    "peer",
    "postnatal-depression",
    "prenatal",
    "psychomotor",
    "psychosocial",
    "substance-use",
];

/// Professions that may administer an instrument (the registry's specialists use the same words).
pub const PROFESSIONS: &[&str] = &[
    "physician",
    "paediatrician",
    "psychiatrist",
    "nurse",
    "midwife",
    "psychologist",
    "speech-therapist",
    "physiotherapist",
    "occupational-therapist",
    "special-educator",
    "teacher",
    "social-worker",
];

/// Kinds of organisation providing a support service (the organisation kinds of issue #4).
pub const PROVIDER_KINDS: &[&str] = &[
    "municipality-social-service",
    "pre-school",
    "school",
    "health-practice",
    "programme-provider",
    "ngo",
];

/// Who takes part in a programme, therapy or service.
pub const PARTICIPANTS: &[&str] = &["children", "parents", "families", "schools", "posts"];

/// The four kinds of entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A screening or diagnostic instrument, linked to a scoring definition.
    Instrument,
    /// An intervention programme (also support groups).
    Programme,
    /// A therapy.
    Therapy,
    /// A support service (e.g. psychologists in pre-schools).
    Service,
}

impl EntryKind {
    /// Every kind.
    pub const ALL: [EntryKind; 4] = [
        EntryKind::Instrument,
        EntryKind::Programme,
        EntryKind::Therapy,
        EntryKind::Service,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Instrument => "instrument",
            EntryKind::Programme => "programme",
            EntryKind::Therapy => "therapy",
            EntryKind::Service => "service",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Strength of evidence of a programme, therapy or service. Our four steps map the Early
/// Intervention Foundation evidence standards (EIF, "Evidence standards", EIF Guidebook):
/// level 4 → `established`, level 3 → `promising`, level 2 → `emerging`; anything not yet
/// assessed (or below level 2) is `unrated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceLevel {
    /// Effective in at least two rigorous evaluations with long-term outcomes (EIF level 4).
    Established,
    /// Effective in at least one rigorous evaluation (EIF level 3).
    Promising,
    /// Preliminary evidence of improved outcomes (EIF level 2).
    Emerging,
    /// Not assessed, or evidence below EIF level 2.
    Unrated,
}

impl EvidenceLevel {
    /// Every level, strongest first.
    pub const ALL: [EvidenceLevel; 4] = [
        EvidenceLevel::Established,
        EvidenceLevel::Promising,
        EvidenceLevel::Emerging,
        EvidenceLevel::Unrated,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceLevel::Established => "established",
            EvidenceLevel::Promising => "promising",
            EvidenceLevel::Emerging => "emerging",
            EvidenceLevel::Unrated => "unrated",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Whether an entry may be used for new referrals and certifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryStatus {
    /// In use.
    Active,
    /// No longer offered; kept so old support episodes and certifications still resolve.
    Retired,
}

impl EntryStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Active => "active",
            EntryStatus::Retired => "retired",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [EntryStatus::Active, EntryStatus::Retired]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Where an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Seeded from the built-in data (programmes.json or the scoring engine).
    Builtin,
    /// Created through the API.
    Registry,
}

/// An age range in completed months, both ends inclusive (negative: before birth).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeMonths {
    /// Youngest age.
    pub min: i32,
    /// Oldest age.
    pub max: i32,
}

impl AgeMonths {
    /// Whether `months` is inside the range.
    pub fn contains(&self, months: i32) -> bool {
        self.min <= months && months <= self.max
    }
}

/// One stored catalogue entry (the API representation adds `version`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueEntry {
    /// Stable id (kebab-case); for instruments the scoring definition id.
    pub id: String,
    /// Kind (fixed once created).
    pub kind: EntryKind,
    /// Name.
    pub name: String,
    /// Active or retired.
    pub status: EntryStatus,
    /// Target age of the child (instruments: the ages it is valid for); `None` = not stated.
    pub target_age_months: Option<AgeMonths>,
    /// Citation of where the entry's facts come from.
    pub source: Option<String>,
    /// Seeded or created.
    pub origin: Origin,
    /// Instruments: the scoring definition it is scored with.
    pub scoring_definition: Option<String>,
    /// Instruments: professions that may administer it (empty = not stated).
    pub administered_by: Vec<String>,
    /// Programmes, therapies, services: who takes part.
    pub participants: Option<String>,
    /// Programmes, therapies, services: the needs addressed ([`TARGET_NEEDS`]).
    pub target_needs: Vec<String>,
    /// Programmes, therapies, services: delivered in or with a school or pre-school, so a
    /// recommendation of it is a support need sent to VIIS (`docs/EXPORTS.md`).
    #[serde(default)]
    pub education_relevant: bool,
    /// Programmes, therapies, services: strength of evidence.
    pub evidence_level: Option<EvidenceLevel>,
    /// Programmes, therapies, services: places per year.
    pub capacity_per_year: Option<u32>,
    /// Programmes, therapies, services: the annual target the project sets.
    pub annual_target: Option<u32>,
    /// Services: kind of provider ([`PROVIDER_KINDS`]).
    pub provider_kind: Option<String>,
    /// Services offered locally: the territory.
    pub territory: Option<Atvk>,
    /// When the entry was stored.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The body of `POST /catalogue/entries` and `PUT /catalogue/entries/{id}`: raw values, so
/// every broken rule is reported by field at once.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryInput {
    /// Id (required on create; on update absent or equal to the path id).
    #[serde(default)]
    pub id: Option<String>,
    /// Kind (required; cannot change on update).
    #[serde(default)]
    pub kind: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Status on update (`active` or `retired`); new entries are active.
    #[serde(default)]
    pub status: Option<String>,
    /// Target age range.
    #[serde(default)]
    pub target_age_months: Option<AgeMonths>,
    /// Citation.
    #[serde(default)]
    pub source: Option<String>,
    /// Instruments: scoring definition id.
    #[serde(default)]
    pub scoring_definition: Option<String>,
    /// Instruments: professions.
    #[serde(default)]
    pub administered_by: Vec<String>,
    /// Who takes part.
    #[serde(default)]
    pub participants: Option<String>,
    /// Needs addressed.
    #[serde(default)]
    pub target_needs: Vec<String>,
    /// Delivered in or with a school or pre-school (programmes, therapies, services).
    #[serde(default)]
    pub education_relevant: Option<bool>,
    /// Evidence level (default `unrated` for programmes, therapies and services).
    #[serde(default)]
    pub evidence_level: Option<String>,
    /// Places per year.
    #[serde(default)]
    pub capacity_per_year: Option<u32>,
    /// Annual target.
    #[serde(default)]
    pub annual_target: Option<u32>,
    /// Services: provider kind.
    #[serde(default)]
    pub provider_kind: Option<String>,
    /// Services: territory (ATVK code).
    #[serde(default)]
    pub territory: Option<String>,
}

/// Whether `id` is a catalogue id: 1..=64 lower-case letters, digits and single inner '-'.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-')
        && !id.contains("--")
}

/// Why a catalogue id is refused (the field error's reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("1 to 64 lower-case letters, digits and single inner '-'")]
pub struct InvalidCatalogueId;

crate::domain::ids::checked_string_id!(
    /// A catalogue id, checked by [`is_valid_id`]: the only way to make one. Serialised as
    /// the bare id.
    CatalogueId,
    InvalidCatalogueId,
    check_catalogue_id
);

/// [`is_valid_id`], as the check of [`CatalogueId`].
fn check_catalogue_id(raw: &str) -> Result<(), InvalidCatalogueId> {
    if is_valid_id(raw) {
        Ok(())
    } else {
        Err(InvalidCatalogueId)
    }
}

/// The validated content of an [`EntryInput`] (everything but id, status and timestamps).
#[derive(Debug, Clone, PartialEq)]
pub struct EntryContent {
    /// Kind.
    pub kind: EntryKind,
    /// Name.
    pub name: String,
    /// Status asked for (update only).
    pub status: Option<EntryStatus>,
    /// Target age.
    pub target_age_months: Option<AgeMonths>,
    /// Citation.
    pub source: Option<String>,
    /// Scoring definition.
    pub scoring_definition: Option<String>,
    /// Professions.
    pub administered_by: Vec<String>,
    /// Participants.
    pub participants: Option<String>,
    /// Needs.
    pub target_needs: Vec<String>,
    /// Delivered in or with a school or pre-school.
    pub education_relevant: bool,
    /// Evidence level.
    pub evidence_level: Option<EvidenceLevel>,
    /// Capacity.
    pub capacity_per_year: Option<u32>,
    /// Annual target.
    pub annual_target: Option<u32>,
    /// Provider kind.
    pub provider_kind: Option<String>,
    /// Territory.
    pub territory: Option<Atvk>,
}

fn vocabulary(errors: &mut Vec<FieldError>, field: &str, value: &str, allowed: &[&str]) {
    if !allowed.contains(&value) {
        errors.push(FieldError::new(
            field,
            format!(
                "'{}' is not one of: {}",
                value.chars().take(64).collect::<String>(),
                allowed.join(", ")
            ),
        ));
    }
}

impl EntryInput {
    /// Checks every rule (`docs/CATALOGUE.md`, "Rules") and returns the content, or every
    /// broken rule by field. Instrument rules need the instruments the engine scores.
    pub fn validate(
        self,
        instruments: &impl InstrumentAges,
    ) -> Result<EntryContent, Vec<FieldError>> {
        let mut errors = Vec::new();
        let kind = match self.kind.as_deref() {
            None => {
                errors.push(FieldError::new("kind", "is required"));
                None
            }
            Some(k) => {
                let kind = EntryKind::parse(k);
                if kind.is_none() {
                    vocabulary(
                        &mut errors,
                        "kind",
                        k,
                        &EntryKind::ALL.map(EntryKind::as_str),
                    );
                }
                kind
            }
        };
        let name = self.name.as_deref().map(str::trim).unwrap_or("").to_owned();
        if name.is_empty() {
            errors.push(FieldError::new("name", "is required"));
        } else if name.chars().count() > MAX_NAME_LEN {
            errors.push(FieldError::new(
                "name",
                format!("at most {MAX_NAME_LEN} characters"),
            ));
        }
        let status = self.status.as_deref().and_then(|s| {
            let parsed = EntryStatus::parse(s);
            if parsed.is_none() {
                vocabulary(&mut errors, "status", s, &["active", "retired"]);
            }
            parsed
        });
        if let Some(r) = self.target_age_months {
            if r.min > r.max {
                errors.push(FieldError::new("target_age_months", "min is above max"));
            }
            if r.min < MIN_AGE_MONTHS || r.max > MAX_AGE_MONTHS {
                errors.push(FieldError::new(
                    "target_age_months",
                    format!("ages are {MIN_AGE_MONTHS} to {MAX_AGE_MONTHS} months"),
                ));
            }
        }
        let source = self
            .source
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        if source
            .as_ref()
            .is_some_and(|s| s.chars().count() > MAX_SOURCE_LEN)
        {
            errors.push(FieldError::new(
                "source",
                format!("at most {MAX_SOURCE_LEN} characters"),
            ));
        }
        for (i, p) in self.administered_by.iter().enumerate() {
            vocabulary(&mut errors, &format!("administered_by.{i}"), p, PROFESSIONS);
        }
        duplicates(&mut errors, "administered_by", &self.administered_by);
        for (i, n) in self.target_needs.iter().enumerate() {
            vocabulary(&mut errors, &format!("target_needs.{i}"), n, TARGET_NEEDS);
        }
        duplicates(&mut errors, "target_needs", &self.target_needs);
        if let Some(p) = &self.participants {
            vocabulary(&mut errors, "participants", p, PARTICIPANTS);
        }
        let evidence_level = self.evidence_level.as_deref().and_then(|s| {
            let parsed = EvidenceLevel::parse(s);
            if parsed.is_none() {
                vocabulary(
                    &mut errors,
                    "evidence_level",
                    s,
                    &EvidenceLevel::ALL.map(EvidenceLevel::as_str),
                );
            }
            parsed
        });
        if self.capacity_per_year == Some(0) {
            errors.push(FieldError::new(
                "capacity_per_year",
                "must be at least 1 (leave it out when unknown)",
            ));
        }
        if let Some(p) = &self.provider_kind {
            vocabulary(&mut errors, "provider_kind", p, PROVIDER_KINDS);
        }
        let territory = self
            .territory
            .as_deref()
            .and_then(|t| match Atvk::parse(t) {
                Ok(a) => Some(a),
                Err(e) => {
                    errors.push(FieldError::new("territory", e.to_string()));
                    None
                }
            });

        // Fields that belong to one kind only.
        /// Each field that is `present` is refused: it does not apply to an entry of `kind`.
        fn not_for(errors: &mut Vec<FieldError>, kind: EntryKind, fields: &[(&str, bool)]) {
            for (field, present) in fields {
                if *present {
                    errors.push(FieldError::new(
                        *field,
                        format!("does not apply to a {}", kind.as_str()),
                    ));
                }
            }
        }
        let mut evidence_level = evidence_level;
        match kind {
            Some(EntryKind::Instrument) => {
                not_for(
                    &mut errors,
                    EntryKind::Instrument,
                    &[
                        ("participants", self.participants.is_some()),
                        ("target_needs", !self.target_needs.is_empty()),
                        ("education_relevant", self.education_relevant.is_some()),
                        ("evidence_level", self.evidence_level.is_some()),
                        ("capacity_per_year", self.capacity_per_year.is_some()),
                        ("annual_target", self.annual_target.is_some()),
                        ("provider_kind", self.provider_kind.is_some()),
                        ("territory", self.territory.is_some()),
                    ],
                );
                match self.scoring_definition.as_deref() {
                    None => errors.push(FieldError::new(
                        "scoring_definition",
                        "is required for an instrument",
                    )),
                    Some(def) => match instruments.age_range_months(def) {
                        None => errors.push(FieldError::new(
                            "scoring_definition",
                            format!(
                                "the scoring engine has no instrument '{}'",
                                def.chars().take(64).collect::<String>()
                            ),
                        )),
                        Some(ages) => {
                            if let Some(r) = self.target_age_months
                                && (r.min < ages.min || r.max > ages.max)
                            {
                                errors.push(FieldError::new(
                                    "target_age_months",
                                    format!(
                                        "must lie within the scoring definition's ages ({} to {} months)",
                                        ages.min, ages.max
                                    ),
                                ));
                            }
                        }
                    },
                }
            }
            Some(k) => {
                not_for(
                    &mut errors,
                    k,
                    &[
                        ("scoring_definition", self.scoring_definition.is_some()),
                        ("administered_by", !self.administered_by.is_empty()),
                    ],
                );
                if k != EntryKind::Service {
                    not_for(
                        &mut errors,
                        k,
                        &[
                            ("provider_kind", self.provider_kind.is_some()),
                            ("territory", self.territory.is_some()),
                        ],
                    );
                }
                if k == EntryKind::Service && self.provider_kind.is_none() {
                    errors.push(FieldError::new(
                        "provider_kind",
                        "is required for a service",
                    ));
                }
                if self.participants.is_none() {
                    errors.push(FieldError::new(
                        "participants",
                        format!("is required for a {}", k.as_str()),
                    ));
                }
                evidence_level = evidence_level.or(Some(EvidenceLevel::Unrated));
            }
            None => {}
        }
        match kind {
            Some(kind) if errors.is_empty() => Ok(EntryContent {
                kind,
                name,
                status,
                target_age_months: self.target_age_months,
                source,
                scoring_definition: self.scoring_definition,
                administered_by: self.administered_by,
                participants: self.participants,
                target_needs: self.target_needs,
                education_relevant: self.education_relevant.unwrap_or(false),
                evidence_level,
                capacity_per_year: self.capacity_per_year,
                annual_target: self.annual_target,
                provider_kind: self.provider_kind,
                territory,
            }),
            _ => Err(errors),
        }
    }
}

fn duplicates(errors: &mut Vec<FieldError>, field: &str, values: &[String]) {
    let mut seen = std::collections::BTreeSet::new();
    for (i, v) in values.iter().enumerate() {
        if !seen.insert(v) {
            errors.push(FieldError::new(format!("{field}.{i}"), "is listed twice"));
        }
    }
}

impl CatalogueEntry {
    /// A new entry from validated content (active unless the content says otherwise).
    pub fn new(id: String, content: EntryContent, origin: Origin, now: DateTime<Utc>) -> Self {
        Self {
            id,
            kind: content.kind,
            name: content.name,
            status: content.status.unwrap_or(EntryStatus::Active),
            target_age_months: content.target_age_months,
            source: content.source,
            origin,
            scoring_definition: content.scoring_definition,
            administered_by: content.administered_by,
            participants: content.participants,
            target_needs: content.target_needs,
            education_relevant: content.education_relevant,
            evidence_level: content.evidence_level,
            capacity_per_year: content.capacity_per_year,
            annual_target: content.annual_target,
            provider_kind: content.provider_kind,
            territory: content.territory,
            created_at: now,
            updated_at: now,
        }
    }

    /// The seed entry of a built-in programme. `support-group` becomes a programme; services
    /// take their provider kind from [`builtin_provider_kind`]; evidence levels start `unrated`.
    pub fn from_builtin_programme(p: &Programme, source: &str, now: DateTime<Utc>) -> Self {
        let kind = match p.kind.as_str() {
            "therapy" => EntryKind::Therapy,
            "service" => EntryKind::Service,
            _ => EntryKind::Programme,
        };
        Self {
            id: p.id.clone(),
            kind,
            name: p.name.clone(),
            status: EntryStatus::Active,
            target_age_months: p.target_age_months.map(|r| AgeMonths {
                min: i32::from(r.min),
                max: i32::from(r.max),
            }),
            source: Some(source.to_owned()),
            origin: Origin::Builtin,
            scoring_definition: None,
            administered_by: Vec::new(),
            participants: Some(p.participants.clone()),
            target_needs: p.target_needs.clone(),
            education_relevant: p.education_relevant,
            evidence_level: Some(EvidenceLevel::Unrated),
            capacity_per_year: None,
            annual_target: p.annual_target,
            provider_kind: (kind == EntryKind::Service)
                .then(|| builtin_provider_kind(&p.id).to_owned()),
            territory: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Provider kind of the built-in services: psychologists in pre-schools work in pre-schools;
/// the others are run by programme providers until the owners say otherwise.
pub fn builtin_provider_kind(id: &str) -> &'static str {
    match id {
        "preschool-psychologists" => "pre-school",
        _ => "programme-provider",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::Engine;
    use serde_json::json;

    fn engine() -> Engine {
        Engine::builtin().unwrap()
    }

    fn input(v: serde_json::Value) -> EntryInput {
        serde_json::from_value(v).unwrap()
    }

    fn errors(v: serde_json::Value) -> Vec<(String, String)> {
        input(v)
            .validate(&engine())
            .unwrap_err()
            .into_iter()
            .map(|e| (e.field, e.reason))
            .collect()
    }

    fn fields(v: serde_json::Value) -> Vec<String> {
        errors(v).into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn ids_are_kebab_case_up_to_64() {
        assert!(is_valid_id("cool-kids"));
        assert!(is_valid_id("stop-4-7"));
        for bad in ["", "Cool", "a b", "-a", "a-", "a--b", "ā", &"a".repeat(65)] {
            assert!(!is_valid_id(bad), "{bad}");
        }
        assert!(is_valid_id(&"a".repeat(64)));
        assert_eq!(
            CatalogueId::parse("cool-kids").unwrap().as_str(),
            "cool-kids"
        );
        assert_eq!(CatalogueId::parse("a--b"), Err(InvalidCatalogueId));
        let id: CatalogueId = serde_json::from_value(json!("stop-4-7")).unwrap();
        assert_eq!(serde_json::to_value(&id).unwrap(), json!("stop-4-7"));
        assert!(serde_json::from_value::<CatalogueId>(json!("Cool")).is_err());
    }

    #[test]
    fn a_valid_programme_defaults_to_unrated_evidence() {
        let c = input(json!({"kind": "programme", "name": " Parents together ", "participants": "parents",
                              "target_needs": ["parenting", "conduct"], "target_age_months": {"min": 24, "max": 96},
                              "capacity_per_year": 40, "annual_target": 30}))
        .validate(&engine())
        .unwrap();
        assert_eq!(c.name, "Parents together");
        assert_eq!(c.evidence_level, Some(EvidenceLevel::Unrated));
        assert_eq!(c.kind, EntryKind::Programme);
    }

    #[test]
    fn kind_and_name_are_required_and_checked() {
        let f = fields(json!({}));
        assert!(f.contains(&"kind".into()) && f.contains(&"name".into()));
        assert_eq!(
            fields(json!({"kind": "party", "name": "x"})),
            vec!["kind".to_owned()]
        );
        assert_eq!(
            fields(json!({"kind": "therapy", "name": "x".repeat(201), "participants": "children"})),
            vec!["name".to_owned()]
        );
        assert_eq!(
            fields(json!({"kind": "therapy", "name": "   ", "participants": "children"})),
            vec!["name".to_owned()]
        );
    }

    #[test]
    fn vocabularies_are_enforced_by_position() {
        let f = fields(
            json!({"kind": "programme", "name": "x", "participants": "pets",
                               "target_needs": ["conduct", "magic", "conduct"], "evidence_level": "great",
                               "status": "asleep"}),
        );
        assert_eq!(
            f,
            vec![
                "status",
                "target_needs.1",
                "target_needs.2",
                "participants",
                "evidence_level"
            ]
        );
    }

    #[test]
    fn age_ranges_are_ordered_and_bounded() {
        let base = |r: serde_json::Value| {
            fields(
                json!({"kind": "therapy", "name": "x", "participants": "children", "target_age_months": r}),
            )
        };
        assert_eq!(
            base(json!({"min": 10, "max": 5})),
            vec!["target_age_months"]
        );
        assert_eq!(
            base(json!({"min": -10, "max": 5})),
            vec!["target_age_months"]
        );
        assert_eq!(
            base(json!({"min": 0, "max": 217})),
            vec!["target_age_months"]
        );
        assert!(
            input(json!({"kind": "therapy", "name": "x", "participants": "children", "target_age_months": {"min": -9, "max": 216}}))
                .validate(&engine())
                .is_ok()
        );
    }

    #[test]
    fn capacity_source_and_participants_rules() {
        assert_eq!(
            fields(
                json!({"kind": "programme", "name": "x", "participants": "children", "capacity_per_year": 0})
            ),
            vec!["capacity_per_year"]
        );
        assert_eq!(
            fields(
                json!({"kind": "programme", "name": "x", "participants": "children", "source": "s".repeat(1001)})
            ),
            vec!["source"]
        );
        assert_eq!(
            fields(json!({"kind": "programme", "name": "x"})),
            vec!["participants"]
        );
    }

    #[test]
    fn instruments_must_name_a_scoring_definition_the_engine_has() {
        assert_eq!(
            fields(json!({"kind": "instrument", "name": "x"})),
            vec!["scoring_definition"]
        );
        assert_eq!(
            fields(json!({"kind": "instrument", "name": "x", "scoring_definition": "nope"})),
            vec!["scoring_definition"]
        );
        let ok = input(json!({"kind": "instrument", "name": "M-CHAT-R", "scoring_definition": "mchat-r",
                              "administered_by": ["nurse", "paediatrician"], "target_age_months": {"min": 18, "max": 24}}))
        .validate(&engine())
        .unwrap();
        assert_eq!(ok.evidence_level, None);
        // Ages outside the definition's 16..=30 months.
        assert_eq!(
            fields(
                json!({"kind": "instrument", "name": "x", "scoring_definition": "mchat-r", "target_age_months": {"min": 12, "max": 24}})
            ),
            vec!["target_age_months"]
        );
        assert_eq!(
            fields(
                json!({"kind": "instrument", "name": "x", "scoring_definition": "mchat-r", "administered_by": ["wizard", "nurse", "nurse"]})
            ),
            vec!["administered_by.0", "administered_by.2"]
        );
    }

    #[test]
    fn fields_of_other_kinds_are_refused() {
        assert_eq!(
            fields(
                json!({"kind": "instrument", "name": "x", "scoring_definition": "epds",
                           "participants": "parents", "target_needs": ["emotional"], "evidence_level": "emerging",
                           "capacity_per_year": 1, "annual_target": 1, "provider_kind": "ngo", "territory": "0001000"})
            ),
            vec![
                "participants",
                "target_needs",
                "evidence_level",
                "capacity_per_year",
                "annual_target",
                "provider_kind",
                "territory"
            ]
        );
        assert_eq!(
            fields(
                json!({"kind": "programme", "name": "x", "participants": "children", "scoring_definition": "epds",
                           "administered_by": ["nurse"], "provider_kind": "ngo", "territory": "0001000"})
            ),
            vec![
                "scoring_definition",
                "administered_by",
                "provider_kind",
                "territory"
            ]
        );
    }

    #[test]
    fn services_need_a_provider_kind_and_a_valid_territory() {
        assert_eq!(
            fields(json!({"kind": "service", "name": "x", "participants": "children"})),
            vec!["provider_kind"]
        );
        assert_eq!(
            fields(
                json!({"kind": "service", "name": "x", "participants": "children", "provider_kind": "bank"})
            ),
            vec!["provider_kind"]
        );
        assert_eq!(
            fields(
                json!({"kind": "service", "name": "x", "participants": "children", "provider_kind": "ngo", "territory": "12"})
            ),
            vec!["territory"]
        );
        let ok = input(json!({"kind": "service", "name": "x", "participants": "children", "provider_kind": "ngo", "territory": "0001000"}))
            .validate(&engine())
            .unwrap();
        assert_eq!(ok.territory.unwrap().as_str(), "0001000");
    }

    #[test]
    fn builtin_seeds_pass_the_same_rules() {
        let engine = engine();
        let now = Utc::now();
        let catalogue = crate::domain::catalogue::Catalogue::builtin().unwrap();
        let mut seeds: Vec<CatalogueEntry> = catalogue
            .programmes
            .iter()
            .map(|p| CatalogueEntry::from_builtin_programme(p, &catalogue.source, now))
            .collect();
        seeds.extend(
            engine
                .instrument_ids()
                .filter_map(|id| engine.instrument(id))
                .map(|d| crate::services::catalogue::instrument_entry(d, now)),
        );
        for e in seeds {
            assert!(is_valid_id(&e.id), "{}", e.id);
            let as_input: EntryInput = serde_json::from_value(json!({
                "kind": e.kind, "name": e.name, "target_age_months": e.target_age_months,
                "scoring_definition": e.scoring_definition, "administered_by": e.administered_by,
                "participants": e.participants, "target_needs": e.target_needs,
                "evidence_level": e.evidence_level, "annual_target": e.annual_target,
                "provider_kind": e.provider_kind,
            }))
            .unwrap();
            let c = as_input.validate(&engine);
            assert!(c.is_ok(), "{}: {c:?}", e.id);
        }
    }
}
