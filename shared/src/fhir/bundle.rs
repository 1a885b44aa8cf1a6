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

use super::codes::{CodeMap, concept, ravis_concept, words};
use super::settings::FhirSettings;
use crate::scoring::{RecommendationKind, RiskLevel, ScoreResult};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
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

/// The transaction Bundle of one result. Deterministic: the same export and settings give
/// the same JSON (and, serialised, the same bytes).
pub fn result_bundle(export: &ResultExport, settings: &FhirSettings) -> Value {
    result_bundle_with(export, settings, CodeMap::builtin())
}

/// [`result_bundle`] with another code map.
pub fn result_bundle_with(export: &ResultExport, settings: &FhirSettings, map: &CodeMap) -> Value {
    let b = Builder::new(export, settings, map);
    let screening_system = settings.screening_system();
    let observation_system = settings.observation_system();
    let qr_url = full_url(
        "QuestionnaireResponse",
        &screening_system,
        &export.screening_id,
    );
    let mut entries = Vec::with_capacity(export.scores.len() + 2);
    entries.push(b.entry(
        "QuestionnaireResponse",
        &qr_url,
        &screening_system,
        &export.screening_id,
        b.questionnaire_response(&screening_system),
    ));
    let mut score_urls = Vec::with_capacity(export.scores.len());
    for score in &export.scores {
        let value = format!("{}/{}", export.screening_id, score.id);
        let url = full_url("Observation", &observation_system, &value);
        let resource = b.score_observation(score, &observation_system, &value, &qr_url);
        entries.push(b.entry("Observation", &url, &observation_system, &value, resource));
        score_urls.push(url);
    }
    let value = format!("{}/risk", export.screening_id);
    let url = full_url("Observation", &observation_system, &value);
    let risk = b.risk_observation(&observation_system, &value, &qr_url, &score_urls);
    entries.push(b.entry("Observation", &url, &observation_system, &value, risk));
    json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": entries,
    })
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

/// The resource builders, sharing what every resource refers to.
struct Builder<'a> {
    x: &'a ResultExport,
    s: &'a FhirSettings,
    map: &'a CodeMap,
    patient: Value,
    organisation: Value,
    effective: String,
}

impl<'a> Builder<'a> {
    fn new(x: &'a ResultExport, s: &'a FhirSettings, map: &'a CodeMap) -> Self {
        Builder {
            x,
            s,
            map,
            patient: json!({
                "type": "Patient",
                "identifier": {"system": s.personal_code_system, "value": x.personal_code},
            }),
            organisation: json!({
                "type": "Organization",
                "identifier": {"system": s.organisation_system, "value": x.organisation_id},
                "display": x.organisation_name,
            }),
            effective: x.administered_on.format("%Y-%m-%d").to_string(),
        }
    }

    fn amended(&self) -> bool {
        self.x.status == ExportStatus::Amended
    }

    /// A transaction entry: conditional create on a first send, conditional update after.
    fn entry(
        &self,
        resource_type: &str,
        full_url: &str,
        system: &str,
        value: &str,
        resource: Value,
    ) -> Value {
        let search = format!("identifier={}|{}", query_part(system), query_part(value));
        let request = if self.amended() {
            json!({"method": "PUT", "url": format!("{resource_type}?{search}")})
        } else {
            json!({"method": "POST", "url": resource_type, "ifNoneExist": search})
        };
        json!({"fullUrl": full_url, "resource": resource, "request": request})
    }

    /// `resourceType` and `meta.profile` (left out when no profile is configured).
    fn start(&self, resource_type: &str, profiles: &[String]) -> Map<String, Value> {
        let mut r = Map::new();
        r.insert("resourceType".to_owned(), json!(resource_type));
        if !profiles.is_empty() {
            r.insert("meta".to_owned(), json!({"profile": profiles}));
        }
        r
    }

    fn instrument_concept(&self) -> Value {
        match self.map.instruments.get(&self.x.instrument) {
            Some(i) => concept(&i.codes, &i.text, self.s),
            None => ravis_concept(self.x.instrument.clone(), &self.x.instrument, self.s),
        }
    }

    fn performers(&self) -> Value {
        let mut p = vec![self.organisation.clone()];
        if let Some(specialist) = &self.x.specialist_id {
            p.push(json!({
                "type": "Practitioner",
                "identifier": {
                    "system": format!("{}/specialist", self.s.identifier_system_base),
                    "value": specialist,
                },
            }));
        }
        Value::Array(p)
    }

    fn category() -> Value {
        json!([{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "survey",
            "display": "Survey",
        }]}])
    }

    fn questionnaire_response(&self, system: &str) -> Value {
        let x = self.x;
        let mut r = self.start(
            "QuestionnaireResponse",
            &self.s.profiles.questionnaire_response,
        );
        r.insert(
            "identifier".to_owned(),
            json!({"system": system, "value": x.screening_id}),
        );
        r.insert(
            "questionnaire".to_owned(),
            json!(format!(
                "{}/{}|{}",
                self.s.questionnaire_base, x.instrument, x.instrument_version
            )),
        );
        let status = if self.amended() {
            "amended"
        } else {
            "completed"
        };
        r.insert("status".to_owned(), json!(status));
        r.insert("subject".to_owned(), self.patient.clone());
        r.insert("authored".to_owned(), json!(self.effective));
        r.insert("author".to_owned(), self.organisation.clone());
        if self.map.export_items(&x.instrument) && !x.answers.is_empty() {
            let items: Vec<Value> = x
                .answers
                .iter()
                .map(|a| json!({"linkId": a.item, "answer": [{"valueInteger": a.code}]}))
                .collect();
            r.insert("item".to_owned(), Value::Array(items));
        }
        Value::Object(r)
    }

    fn observation(&self, system: &str, value: &str, code: Value) -> Map<String, Value> {
        let mut r = self.start("Observation", &self.s.profiles.observation);
        r.insert(
            "identifier".to_owned(),
            json!([{"system": system, "value": value}]),
        );
        let status = if self.amended() { "amended" } else { "final" };
        r.insert("status".to_owned(), json!(status));
        r.insert("category".to_owned(), Self::category());
        r.insert("code".to_owned(), code);
        r.insert("subject".to_owned(), self.patient.clone());
        r.insert("effectiveDateTime".to_owned(), json!(self.effective));
        r.insert(
            "issued".to_owned(),
            json!(
                self.x
                    .scored_at
                    .to_rfc3339_opts(SecondsFormat::Millis, true)
            ),
        );
        r.insert("performer".to_owned(), self.performers());
        r
    }

    fn score_observation(
        &self,
        score: &ExportScore,
        system: &str,
        value: &str,
        qr_url: &str,
    ) -> Value {
        let x = self.x;
        let codes = self
            .map
            .instruments
            .get(&x.instrument)
            .and_then(|i| i.scores.get(&score.id));
        let code = match codes {
            Some(c) => concept(&c.codes, &c.text, self.s),
            None => {
                let text = format!("{} {}", x.instrument, words(&score.id));
                ravis_concept(format!("{}.{}", x.instrument, score.id), &text, self.s)
            }
        };
        let mut r = self.observation(system, value, code);
        match score.value {
            Some(v) => {
                r.insert("valueInteger".to_owned(), json!(v));
            }
            None => {
                r.insert(
                    "dataAbsentReason".to_owned(),
                    json!({
                        "coding": [{
                            "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                            "code": "unknown",
                            "display": "Unknown",
                        }],
                        "text": "too few items answered to compute the score",
                    }),
                );
            }
        }
        if let Some(band) = &score.band {
            let display = self
                .map
                .bands
                .get(band)
                .cloned()
                .unwrap_or_else(|| words(band));
            r.insert(
                "interpretation".to_owned(),
                json!([ravis_concept(format!("band.{band}"), &display, self.s)]),
            );
        }
        r.insert("method".to_owned(), self.instrument_concept());
        r.insert("derivedFrom".to_owned(), json!([{"reference": qr_url}]));
        Value::Object(r)
    }

    fn risk_observation(
        &self,
        system: &str,
        value: &str,
        qr_url: &str,
        score_urls: &[String],
    ) -> Value {
        let x = self.x;
        let map = self.map;
        let code = concept(
            std::slice::from_ref(&map.risk_level),
            map.risk_level.display.as_deref().unwrap_or("Risk level"),
            self.s,
        );
        let mut r = self.observation(system, value, code);
        let level = x.risk_level.as_str();
        let display = map.risk_levels.get(level).map_or(level, String::as_str);
        r.insert(
            "valueCodeableConcept".to_owned(),
            ravis_concept(format!("risk-level.{level}"), display, self.s),
        );
        if !x.recommendations.is_empty() {
            let notes: Vec<Value> = x
                .recommendations
                .iter()
                .map(|rec| json!({"text": recommendation_text(rec)}))
                .collect();
            r.insert("note".to_owned(), Value::Array(notes));
        }
        r.insert("method".to_owned(), self.instrument_concept());
        let mut derived = Vec::with_capacity(score_urls.len() + 1);
        derived.push(json!({"reference": qr_url}));
        derived.extend(score_urls.iter().map(|u| json!({"reference": u})));
        r.insert("derivedFrom".to_owned(), Value::Array(derived));
        if !x.flags.is_empty() {
            let flag_code = ravis_concept("flag".to_owned(), "Flag raised by a risk rule", self.s);
            let components: Vec<Value> = x
                .flags
                .iter()
                .map(|flag| {
                    let display = map.flags.get(flag).cloned().unwrap_or_else(|| words(flag));
                    json!({
                        "code": flag_code,
                        "valueCodeableConcept": ravis_concept(format!("flag.{flag}"), &display, self.s),
                    })
                })
                .collect();
            r.insert("component".to_owned(), Value::Array(components));
        }
        Value::Object(r)
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
