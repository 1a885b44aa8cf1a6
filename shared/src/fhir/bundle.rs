//! One scored screening as one FHIR R4B `transaction` Bundle (issue 12, item 2).
//!
//! Entries, in order:
//! 1. the **QuestionnaireResponse** of the screening (items only where the instrument's
//!    `export_items` allows);
//! 2. one **Observation per score** (`valueInteger`, or `dataAbsentReason` when the score has
//!    no value; `interpretation` from the band; `derivedFrom` the QuestionnaireResponse);
//! 3. one **Observation for the risk level**, with the flags as components and the
//!    recommendations as notes.
//!
//! The risk level is an Observation, not a DiagnosticReport: it is one computed value (a
//! coded risk level) derived from the scores, which is what an Observation is; a
//! DiagnosticReport groups results of a diagnostic service with a conclusion by a
//! responsible performer and would add a resource (and a profile to agree with LDVC) that
//! carries nothing an Observation with `note` cannot. It also keeps the peer model of the
//! Danish child-health guide (hl7dk/kl-children: QuestionnaireResponse + Observations).
//!
//! The Patient is referenced by identifier (personal code, configured system), never
//! written. Every resource has a RAVIS business identifier (stable across rescoring: it is
//! built from the screening id); a first send creates conditionally (`ifNoneExist`) and an
//! amended send updates conditionally (`PUT <Type>?identifier=…`), so a re-send never
//! duplicates. `fullUrl`s are UUID v5 over the business identifier, so the same export
//! always gives the same bytes.

use super::codes::{CodeDef, CodeMap, words};
use super::settings::FhirSettings;
use crate::scoring::{RecommendationKind, RiskLevel, ScoreResult};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The namespace of RAVIS `fullUrl`s (UUID v5 over `<Type>|<system>|<value>`).
pub const FULL_URL_NAMESPACE: Uuid = Uuid::from_u128(0x6b1c_9f3e_52a4_4d8e_9c07_3fd2_a815_e44b);

/// Whether this is the first send of a result or an update of one already sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportStatus {
    /// The first send: resources `completed`/`final`, conditional create.
    Final,
    /// After a rescore or a merge: resources `amended`, conditional update.
    Amended,
}

/// One score of the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportScore {
    /// Score id of the definition, e.g. `total`, `emotional`.
    pub id: String,
    /// The value; `None` when too few answers were given.
    pub value: Option<i64>,
    /// Band name from the norm table, e.g. `high`.
    pub band: Option<String>,
}

/// One recommendation, as the receiver reads it (text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRecommendation {
    /// What to do.
    pub kind: RecommendationKind,
    /// Catalogue id of the programme or service, when there is one.
    pub catalogue_id: Option<String>,
    /// Catalogue name of it.
    pub catalogue_name: Option<String>,
    /// When it is due.
    pub due_on: Option<NaiveDate>,
}

/// One answer code of the submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportAnswer {
    /// Item id of the definition (`linkId`).
    pub item: String,
    /// The answer code.
    pub code: i64,
}

/// Everything one result bundle needs, owned (filled from the stored result, submission,
/// child and organisation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultExport {
    /// The child's current personal code (a child without one is not sent).
    pub personal_code: String,
    /// RAVIS child id (not sent: the receiver knows the child by personal code).
    pub child_id: String,
    /// RAVIS screening id: the business identifier of every resource of the bundle.
    pub screening_id: String,
    /// RAVIS result id of the result being sent (not an identifier: a rescore makes a new
    /// result of the same screening, which updates the same resources).
    pub result_id: String,
    /// Instrument id, e.g. `epds`.
    pub instrument: String,
    /// Instrument definition version.
    pub instrument_version: String,
    /// Date the instrument was administered (`authored`, `effectiveDateTime`).
    pub administered_on: NaiveDate,
    /// When the result was scored (`Observation.issued`).
    pub scored_at: DateTime<Utc>,
    /// RAVIS id of the organisation of the screening (`author`, `performer`).
    pub organisation_id: String,
    /// Its name (`display` of the reference).
    pub organisation_name: String,
    /// RAVIS id of the specialist who administered it (`performer`), when known.
    pub specialist_id: Option<String>,
    /// First send or update.
    pub status: ExportStatus,
    /// Every score, in the definition's order.
    pub scores: Vec<ExportScore>,
    /// Overall risk level.
    pub risk_level: RiskLevel,
    /// Flags raised by risk rules.
    pub flags: Vec<String>,
    /// Recommended actions.
    pub recommendations: Vec<ExportRecommendation>,
    /// Answer codes in the definition's item order; sent only when the instrument's
    /// `export_items` allows.
    pub answers: Vec<ExportAnswer>,
}

impl ExportScore {
    /// The scores of a result, in score-id order.
    pub fn from_result(result: &ScoreResult) -> Vec<ExportScore> {
        result
            .scores
            .iter()
            .map(|(id, s)| ExportScore {
                id: id.clone(),
                value: s.value,
                band: s.band.clone(),
            })
            .collect()
    }
}

impl ExportAnswer {
    /// The integer answers of a stored submission (`answers`), numeric item ids in numeric
    /// order, others after them in text order; non-integer values are left out.
    pub fn from_submission(answers: &BTreeMap<String, Value>) -> Vec<ExportAnswer> {
        let mut out: Vec<ExportAnswer> = answers
            .iter()
            .filter_map(|(item, v)| {
                v.as_i64().map(|code| ExportAnswer {
                    item: item.clone(),
                    code,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            let key = |s: &str| (s.parse::<u64>().map_or(u64::MAX, |n| n), s.to_owned());
            key(&a.item).cmp(&key(&b.item))
        });
        out
    }
}

/// The resource types the bundle writes, and how the Provenance names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenanceTarget {
    /// Resource type, e.g. `Observation`.
    pub resource_type: String,
    /// The entry's `fullUrl` (`urn:uuid:…`).
    pub reference: String,
}

/// The `urn:uuid` fullUrl of a resource with this business identifier.
pub fn full_url(resource_type: &str, system: &str, value: &str) -> String {
    let name = format!("{resource_type}|{system}|{value}");
    let mut bytes = Vec::with_capacity(16 + name.len());
    bytes.extend_from_slice(FULL_URL_NAMESPACE.as_bytes());
    bytes.extend_from_slice(name.as_bytes());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &bytes);
    let mut sha1 = [0u8; 16];
    sha1.copy_from_slice(&digest.as_ref()[..16]);
    let id = uuid::Builder::from_sha1_bytes(sha1).into_uuid();
    format!("urn:uuid:{id}")
}

/// The transaction Bundle of one result, as JSON (see [`result_bundle_json`] for the bytes
/// to send and sign).
pub fn result_bundle(export: &ResultExport, settings: &FhirSettings) -> Value {
    result_bundle_with(export, settings, CodeMap::builtin())
}

/// [`result_bundle`] with another code map.
pub fn result_bundle_with(export: &ResultExport, settings: &FhirSettings, map: &CodeMap) -> Value {
    let ids = Ids::new(export, settings);
    let b = Builder::new(export, settings, map, &ids);
    serde_json::to_value(b.bundle()).unwrap_or_default()
}

/// The transaction Bundle of one result, serialised: the exact bytes to send (and to sign
/// for the `X-Provenance`). Members in the specification's element order (`resourceType`
/// first). Deterministic: the same export and settings give the same bytes.
pub fn result_bundle_json(export: &ResultExport, settings: &FhirSettings) -> Vec<u8> {
    result_bundle_json_with(export, settings, CodeMap::builtin())
}

/// [`result_bundle_json`] with another code map.
pub fn result_bundle_json_with(
    export: &ResultExport,
    settings: &FhirSettings,
    map: &CodeMap,
) -> Vec<u8> {
    let ids = Ids::new(export, settings);
    let b = Builder::new(export, settings, map, &ids);
    let mut out = Vec::with_capacity(4096 + 1024 * export.scores.len());
    // Writing these borrowed structs into a Vec cannot fail (no maps with non-string keys).
    let _ = serde_json::to_writer(&mut out, &b.bundle());
    out
}

/// The Provenance targets of a bundle: each entry's type and fullUrl.
pub fn bundle_targets(bundle: &Value) -> Vec<ProvenanceTarget> {
    bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| {
                    Some(ProvenanceTarget {
                        resource_type: e["resource"]["resourceType"].as_str()?.to_owned(),
                        reference: e["fullUrl"].as_str()?.to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The Provenance targets of the bundle of `export` (as [`bundle_targets`] of it, without
/// building it).
pub fn result_bundle_targets(
    export: &ResultExport,
    settings: &FhirSettings,
) -> Vec<ProvenanceTarget> {
    let ids = Ids::new(export, settings);
    let mut out = Vec::with_capacity(ids.scores.len() + 2);
    out.push(ProvenanceTarget {
        resource_type: "QuestionnaireResponse".to_owned(),
        reference: ids.qr_url.clone(),
    });
    for (_, url) in ids.scores.iter().chain(std::iter::once(&ids.risk)) {
        out.push(ProvenanceTarget {
            resource_type: "Observation".to_owned(),
            reference: url.clone(),
        });
    }
    out
}

/// Business identifiers and fullUrls of the resources of one bundle.
struct Ids {
    screening_system: String,
    observation_system: String,
    specialist_system: String,
    qr_url: String,
    /// `(identifier value, fullUrl)` per score, in the export's order.
    scores: Vec<(String, String)>,
    /// The same for the risk Observation.
    risk: (String, String),
    effective: String,
    issued: String,
}

impl Ids {
    fn new(x: &ResultExport, s: &FhirSettings) -> Ids {
        let screening_system = s.screening_system();
        let observation_system = s.observation_system();
        let qr_url = full_url("QuestionnaireResponse", &screening_system, &x.screening_id);
        let observation = |suffix: &str| {
            let value = format!("{}/{suffix}", x.screening_id);
            let url = full_url("Observation", &observation_system, &value);
            (value, url)
        };
        let scores = x.scores.iter().map(|sc| observation(&sc.id)).collect();
        let risk = observation("risk");
        Ids {
            specialist_system: format!("{}/specialist", s.identifier_system_base),
            screening_system,
            observation_system,
            qr_url,
            scores,
            risk,
            effective: x.administered_on.format("%Y-%m-%d").to_string(),
            issued: x.scored_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }
}

// The FHIR JSON shapes written, borrowed from the export, in the specification's order.

#[derive(Serialize)]
struct Bundle<'a> {
    #[serde(rename = "resourceType")]
    resource_type: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    entry: Vec<Entry<'a>>,
}

#[derive(Serialize)]
struct Entry<'a> {
    #[serde(rename = "fullUrl")]
    full_url: &'a str,
    resource: Resource<'a>,
    request: Request,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Resource<'a> {
    QuestionnaireResponse(QuestionnaireResponse<'a>),
    Observation(Box<Observation<'a>>),
}

#[derive(Serialize)]
struct Request {
    method: &'static str,
    url: String,
    #[serde(rename = "ifNoneExist", skip_serializing_if = "Option::is_none")]
    if_none_exist: Option<String>,
}

#[derive(Serialize)]
struct Meta<'a> {
    profile: &'a [String],
}

#[derive(Serialize, Clone, Copy)]
struct Identifier<'a> {
    system: &'a str,
    value: &'a str,
}

#[derive(Serialize, Clone, Copy)]
struct Reference<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    identifier: Identifier<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display: Option<&'a str>,
}

#[derive(Serialize)]
struct LocalReference<'a> {
    reference: &'a str,
}

#[derive(Serialize, Clone)]
struct Coding<'a> {
    system: &'a str,
    code: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display: Option<Cow<'a, str>>,
}

#[derive(Serialize, Clone)]
struct Concept<'a> {
    coding: Vec<Coding<'a>>,
    text: Cow<'a, str>,
}

#[derive(Serialize)]
struct QuestionnaireResponse<'a> {
    #[serde(rename = "resourceType")]
    resource_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<Meta<'a>>,
    identifier: Identifier<'a>,
    questionnaire: String,
    status: &'static str,
    subject: Reference<'a>,
    authored: &'a str,
    author: Reference<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    item: Vec<Item<'a>>,
}

#[derive(Serialize)]
struct Item<'a> {
    #[serde(rename = "linkId")]
    link_id: &'a str,
    answer: [IntegerAnswer; 1],
}

#[derive(Serialize)]
struct IntegerAnswer {
    #[serde(rename = "valueInteger")]
    value_integer: i64,
}

#[derive(Serialize)]
struct Annotation {
    text: String,
}

#[derive(Serialize)]
struct Component<'a> {
    code: Concept<'a>,
    #[serde(rename = "valueCodeableConcept")]
    value: Concept<'a>,
}

#[derive(Serialize)]
struct Observation<'a> {
    #[serde(rename = "resourceType")]
    resource_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<Meta<'a>>,
    identifier: [Identifier<'a>; 1],
    status: &'static str,
    category: [Concept<'static>; 1],
    code: Concept<'a>,
    subject: Reference<'a>,
    #[serde(rename = "effectiveDateTime")]
    effective: &'a str,
    issued: &'a str,
    performer: &'a [Reference<'a>],
    #[serde(rename = "valueInteger", skip_serializing_if = "Option::is_none")]
    value_integer: Option<i64>,
    #[serde(
        rename = "valueCodeableConcept",
        skip_serializing_if = "Option::is_none"
    )]
    value_concept: Option<Concept<'a>>,
    #[serde(rename = "dataAbsentReason", skip_serializing_if = "Option::is_none")]
    data_absent_reason: Option<Concept<'static>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    interpretation: Vec<Concept<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    note: Vec<Annotation>,
    method: Concept<'a>,
    #[serde(rename = "derivedFrom")]
    derived_from: Vec<LocalReference<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    component: Vec<Component<'a>>,
}

fn survey() -> Concept<'static> {
    Concept {
        coding: vec![Coding {
            system: "http://terminology.hl7.org/CodeSystem/observation-category",
            code: Cow::Borrowed("survey"),
            display: Some(Cow::Borrowed("Survey")),
        }],
        text: Cow::Borrowed("Survey"),
    }
}

fn no_score() -> Concept<'static> {
    Concept {
        coding: vec![Coding {
            system: "http://terminology.hl7.org/CodeSystem/data-absent-reason",
            code: Cow::Borrowed("unknown"),
            display: Some(Cow::Borrowed("Unknown")),
        }],
        text: Cow::Borrowed("too few items answered to compute the score"),
    }
}

/// The resource builders, sharing what every resource refers to.
struct Builder<'a> {
    x: &'a ResultExport,
    s: &'a FhirSettings,
    map: &'a CodeMap,
    ids: &'a Ids,
    patient: Reference<'a>,
    organisation: Reference<'a>,
    performers: Vec<Reference<'a>>,
}

impl<'a> Builder<'a> {
    fn new(x: &'a ResultExport, s: &'a FhirSettings, map: &'a CodeMap, ids: &'a Ids) -> Self {
        let organisation = Reference {
            kind: "Organization",
            identifier: Identifier {
                system: &s.organisation_system,
                value: &x.organisation_id,
            },
            display: Some(&x.organisation_name),
        };
        let mut performers = vec![organisation];
        if let Some(specialist) = &x.specialist_id {
            performers.push(Reference {
                kind: "Practitioner",
                identifier: Identifier {
                    system: &ids.specialist_system,
                    value: specialist,
                },
                display: None,
            });
        }
        Builder {
            x,
            s,
            map,
            ids,
            patient: Reference {
                kind: "Patient",
                identifier: Identifier {
                    system: &s.personal_code_system,
                    value: &x.personal_code,
                },
                display: None,
            },
            organisation,
            performers,
        }
    }

    fn amended(&self) -> bool {
        self.x.status == ExportStatus::Amended
    }

    fn bundle(&'a self) -> Bundle<'a> {
        let ids = self.ids;
        let mut entry = Vec::with_capacity(ids.scores.len() + 2);
        entry.push(self.entry(
            "QuestionnaireResponse",
            &ids.qr_url,
            &ids.screening_system,
            &self.x.screening_id,
            Resource::QuestionnaireResponse(self.questionnaire_response()),
        ));
        for (score, (value, url)) in self.x.scores.iter().zip(&ids.scores) {
            let obs = self.score_observation(score, value);
            entry.push(self.entry(
                "Observation",
                url,
                &ids.observation_system,
                value,
                Resource::Observation(Box::new(obs)),
            ));
        }
        let (value, url) = &ids.risk;
        entry.push(self.entry(
            "Observation",
            url,
            &ids.observation_system,
            value,
            Resource::Observation(Box::new(self.risk_observation(value))),
        ));
        Bundle {
            resource_type: "Bundle",
            kind: "transaction",
            entry,
        }
    }

    /// A transaction entry: conditional create on a first send, conditional update after.
    fn entry(
        &self,
        resource_type: &'static str,
        full_url: &'a str,
        system: &str,
        value: &str,
        resource: Resource<'a>,
    ) -> Entry<'a> {
        let search = format!("identifier={}|{}", query_part(system), query_part(value));
        let request = if self.amended() {
            Request {
                method: "PUT",
                url: format!("{resource_type}?{search}"),
                if_none_exist: None,
            }
        } else {
            Request {
                method: "POST",
                url: resource_type.to_owned(),
                if_none_exist: Some(search),
            }
        };
        Entry {
            full_url,
            resource,
            request,
        }
    }

    fn meta(profiles: &'a [String]) -> Option<Meta<'a>> {
        (!profiles.is_empty()).then_some(Meta { profile: profiles })
    }

    fn concept(&self, defs: &'a [CodeDef], text: &'a str) -> Concept<'a> {
        Concept {
            coding: defs
                .iter()
                .map(|d| Coding {
                    system: d.system.uri(self.s),
                    code: Cow::Borrowed(&d.code),
                    display: d.display.as_deref().map(Cow::Borrowed),
                })
                .collect(),
            text: Cow::Borrowed(text),
        }
    }

    /// A concept of one RAVIS code; the text repeats the display.
    fn ravis(&self, code: String, display: Cow<'a, str>) -> Concept<'a> {
        Concept {
            coding: vec![Coding {
                system: &self.s.code_system,
                code: Cow::Owned(code),
                display: Some(display.clone()),
            }],
            text: display,
        }
    }

    fn instrument_concept(&self) -> Concept<'a> {
        match self.map.instruments.get(&self.x.instrument) {
            Some(i) => self.concept(&i.codes, &i.text),
            None => self.ravis(self.x.instrument.clone(), Cow::Borrowed(&self.x.instrument)),
        }
    }

    fn questionnaire_response(&self) -> QuestionnaireResponse<'a> {
        let x = self.x;
        let item = if self.map.export_items(&x.instrument) {
            x.answers
                .iter()
                .map(|a| Item {
                    link_id: &a.item,
                    answer: [IntegerAnswer {
                        value_integer: a.code,
                    }],
                })
                .collect()
        } else {
            Vec::new()
        };
        QuestionnaireResponse {
            resource_type: "QuestionnaireResponse",
            meta: Self::meta(&self.s.profiles.questionnaire_response),
            identifier: Identifier {
                system: &self.ids.screening_system,
                value: &x.screening_id,
            },
            questionnaire: format!(
                "{}/{}|{}",
                self.s.questionnaire_base, x.instrument, x.instrument_version
            ),
            status: if self.amended() {
                "amended"
            } else {
                "completed"
            },
            subject: self.patient,
            authored: &self.ids.effective,
            author: self.organisation,
            item,
        }
    }

    fn observation(&'a self, value: &'a str, code: Concept<'a>) -> Observation<'a> {
        Observation {
            resource_type: "Observation",
            meta: Self::meta(&self.s.profiles.observation),
            identifier: [Identifier {
                system: &self.ids.observation_system,
                value,
            }],
            status: if self.amended() { "amended" } else { "final" },
            category: [survey()],
            code,
            subject: self.patient,
            effective: &self.ids.effective,
            issued: &self.ids.issued,
            performer: &self.performers,
            value_integer: None,
            value_concept: None,
            data_absent_reason: None,
            interpretation: Vec::new(),
            note: Vec::new(),
            method: self.instrument_concept(),
            derived_from: vec![LocalReference {
                reference: &self.ids.qr_url,
            }],
            component: Vec::new(),
        }
    }

    fn score_observation(&'a self, score: &'a ExportScore, value: &'a str) -> Observation<'a> {
        let x = self.x;
        let codes = self
            .map
            .instruments
            .get(&x.instrument)
            .and_then(|i| i.scores.get(&score.id));
        let code = match codes {
            Some(c) => self.concept(&c.codes, &c.text),
            None => self.ravis(
                format!("{}.{}", x.instrument, score.id),
                Cow::Owned(format!("{} {}", x.instrument, words(&score.id))),
            ),
        };
        let mut obs = self.observation(value, code);
        obs.value_integer = score.value;
        if score.value.is_none() {
            obs.data_absent_reason = Some(no_score());
        }
        if let Some(band) = &score.band {
            let display = match self.map.bands.get(band) {
                Some(d) => Cow::Borrowed(d.as_str()),
                None => Cow::Owned(words(band)),
            };
            obs.interpretation = vec![self.ravis(format!("band.{band}"), display)];
        }
        obs
    }

    fn risk_observation(&'a self, value: &'a str) -> Observation<'a> {
        let x = self.x;
        let map = self.map;
        let code = self.concept(
            std::slice::from_ref(&map.risk_level),
            map.risk_level.display.as_deref().unwrap_or("Risk level"),
        );
        let mut obs = self.observation(value, code);
        let level = x.risk_level.as_str();
        let display = map.risk_levels.get(level).map_or(level, String::as_str);
        obs.value_concept = Some(self.ravis(format!("risk-level.{level}"), Cow::Borrowed(display)));
        obs.note = x
            .recommendations
            .iter()
            .map(|rec| Annotation {
                text: recommendation_text(rec),
            })
            .collect();
        obs.derived_from.extend(
            self.ids
                .scores
                .iter()
                .map(|(_, url)| LocalReference { reference: url }),
        );
        let flag_code = self.ravis(
            "flag".to_owned(),
            Cow::Borrowed("Flag raised by a risk rule"),
        );
        obs.component = x
            .flags
            .iter()
            .map(|flag| {
                let display = match map.flags.get(flag) {
                    Some(d) => Cow::Borrowed(d.as_str()),
                    None => Cow::Owned(words(flag)),
                };
                Component {
                    code: flag_code.clone(),
                    value: self.ravis(format!("flag.{flag}"), display),
                }
            })
            .collect();
        obs
    }
}

/// A recommendation in words: what, which catalogue entry, by when.
pub fn recommendation_text(rec: &ExportRecommendation) -> String {
    let what = match rec.kind {
        RecommendationKind::Rescreen => "Repeat the screening",
        RecommendationKind::FollowUpInterview => "Administer the follow-up interview",
        RecommendationKind::ReferralInDepthAssessment => "Refer for in-depth assessment",
        RecommendationKind::ReferralProgramme => "Refer to a support programme",
        RecommendationKind::ReferralUrgent => "Act today: urgent referral",
    };
    let mut text = what.to_owned();
    match (&rec.catalogue_id, &rec.catalogue_name) {
        (Some(id), Some(name)) => text.push_str(&format!(": {name} (catalogue {id})")),
        (Some(id), None) => text.push_str(&format!(": catalogue {id}")),
        (None, Some(name)) => text.push_str(&format!(": {name}")),
        (None, None) => {}
    }
    if let Some(due) = rec.due_on {
        text.push_str(&format!(", due {due}"));
    }
    text
}

/// A system or value inside a search URL: `%`, `&`, `#`, `+`, `|`, `,`, `$`, `\` and
/// whitespace escaped (`|` separates system from value, `,` means "or", `$` and `\` are
/// FHIR search escapes).
fn query_part(s: &str) -> std::borrow::Cow<'_, str> {
    use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
    const SET: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'%')
        .add(b'&')
        .add(b'#')
        .add(b'+')
        .add(b'|')
        .add(b',')
        .add(b'$')
        .add(b'\\');
    utf8_percent_encode(s, SET).into()
}
