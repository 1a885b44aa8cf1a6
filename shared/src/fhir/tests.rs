//! The FHIR mapping's rules, on bundles of real scorings of the built-in instruments.

use super::*;
use crate::scoring::builtin::BUILTIN;
use crate::scoring::{
    ChildFacts, Engine, InitialScreening, InstrumentDefinition, ScoreRequest, ScoreResult, Sex,
};
use chrono::{Months, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn definitions() -> Vec<InstrumentDefinition> {
    BUILTIN
        .iter()
        .map(|(file, json)| InstrumentDefinition::from_json(file, json).unwrap())
        .collect()
}

fn administered() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()
}

/// Answers with a spread of codes: item `i` gets `(i * 7 + shift) mod codes`.
fn answers(def: &InstrumentDefinition, shift: usize) -> BTreeMap<String, Value> {
    def.items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let n = def.codings[&item.coding].scores.len();
            (item.id.clone(), json!((i * 7 + shift) % n))
        })
        .collect()
}

/// A scoring request of `def` for a child in the middle of its age range.
fn request(def: &InstrumentDefinition, shift: usize) -> ScoreRequest {
    let months = (def.age_range.min_months + def.age_range.max_months) / 2;
    let birth_date = if months >= 0 {
        administered() - Months::new(months.unsigned_abs())
    } else {
        administered() + Months::new(months.unsigned_abs())
    };
    let initial = def.follow_up_of.as_ref().map(|link| InitialScreening {
        instrument: link.instrument.clone(),
        administered_on: administered() - chrono::Days::new(14),
        // Every M-CHAT-R item at risk ("yes" for 2, 5 and 12, "no" for the others), so the
        // Follow-Up asks about all 20.
        answers: (1..=20)
            .map(|i| (i.to_string(), json!(u8::from(matches!(i, 2 | 5 | 12)))))
            .collect(),
    });
    ScoreRequest {
        instrument: def.id.clone(),
        answers: answers(def, shift),
        administered_on: administered(),
        child: ChildFacts {
            birth_date,
            sex: Sex::Female,
            gestational_age_weeks: None,
        },
        initial,
    }
}

fn scored(instrument: &str, shift: usize) -> (ScoreRequest, ScoreResult) {
    let engine = Engine::builtin().unwrap();
    let def = definitions()
        .into_iter()
        .find(|d| d.id == instrument)
        .unwrap();
    let req = request(&def, shift);
    let result = engine
        .score(&req)
        .unwrap_or_else(|e| panic!("{instrument}: {e:?}"));
    (req, result)
}

/// The export of a real scoring of `instrument`.
fn export(instrument: &str, status: ExportStatus) -> ResultExport {
    let (req, result) = scored(instrument, 3);
    ResultExport {
        personal_code: "32345678901".to_owned(),
        child_id: "c-0001".to_owned(),
        screening_id: format!("s-{instrument}-0001"),
        result_id: "r-0001".to_owned(),
        instrument: result.instrument.clone(),
        instrument_version: result.instrument_version.clone(),
        administered_on: result.administered_on,
        scored_at: Utc.with_ymd_and_hms(2026, 3, 2, 10, 15, 0).unwrap(),
        organisation_id: "org-7".to_owned(),
        organisation_name: "Rīgas bērnu slimnīca".to_owned(),
        specialist_id: Some("sp-42".to_owned()),
        status,
        scores: ExportScore::from_result(&result),
        risk_level: result.risk_level,
        flags: result.flags.clone(),
        recommendations: result
            .recommendations
            .iter()
            .map(|r| ExportRecommendation {
                kind: r.kind,
                catalogue_id: r.programme.clone(),
                catalogue_name: r.programme.as_ref().map(|p| format!("Programme {p}")),
                due_on: r.due_on,
            })
            .collect(),
        answers: ExportAnswer::from_submission(&req.answers),
    }
}

fn entries(bundle: &Value) -> &Vec<Value> {
    bundle["entry"].as_array().unwrap()
}

fn resources<'a>(bundle: &'a Value, ty: &str) -> Vec<&'a Value> {
    entries(bundle)
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == ty)
        .collect()
}

fn codings(concept: &Value) -> Vec<(String, String)> {
    concept["coding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["system"].as_str().unwrap().to_owned(),
                c["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn has_code(concept: &Value, system: &str, code: &str) -> bool {
    codings(concept)
        .iter()
        .any(|(s, c)| s == system && c == code)
}

/// The shape every result bundle has, whatever the instrument.
fn check_common(x: &ResultExport, bundle: &Value, settings: &FhirSettings) {
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "transaction");
    let entries = entries(bundle);
    assert_eq!(entries.len(), x.scores.len() + 2, "QR + scores + risk");
    let qr = &entries[0];
    assert_eq!(qr["resource"]["resourceType"], "QuestionnaireResponse");
    let qr_url = qr["fullUrl"].as_str().unwrap();
    let patient = json!({
        "type": "Patient",
        "identifier": {"system": settings.personal_code_system, "value": x.personal_code},
    });
    let status = match x.status {
        ExportStatus::Final => ("completed", "final"),
        ExportStatus::Amended => ("amended", "amended"),
    };
    let q = &qr["resource"];
    assert_eq!(q["status"], status.0);
    assert_eq!(q["subject"], patient);
    assert_eq!(q["authored"], x.administered_on.to_string());
    assert_eq!(
        q["author"]["identifier"],
        json!({"system": settings.organisation_system, "value": x.organisation_id})
    );
    assert_eq!(
        q["questionnaire"],
        format!(
            "{}/{}|{}",
            settings.questionnaire_base, x.instrument, x.instrument_version
        )
    );
    assert_eq!(
        q["identifier"],
        json!({"system": settings.screening_system(), "value": x.screening_id})
    );
    let observations = resources(bundle, "Observation");
    assert_eq!(observations.len(), x.scores.len() + 1);
    for (score, obs) in x.scores.iter().zip(&observations) {
        assert_eq!(obs["status"], status.1);
        assert_eq!(obs["subject"], patient);
        assert_eq!(obs["effectiveDateTime"], x.administered_on.to_string());
        assert_eq!(obs["derivedFrom"], json!([{"reference": qr_url}]));
        assert_eq!(obs["category"][0]["coding"][0]["code"], "survey");
        match score.value {
            Some(v) => {
                assert_eq!(obs["valueInteger"], v);
                assert!(obs.get("dataAbsentReason").is_none());
            }
            None => {
                assert!(obs.get("valueInteger").is_none() && obs["dataAbsentReason"].is_object())
            }
        }
        match &score.band {
            Some(band) => assert!(has_code(
                &obs["interpretation"][0],
                &settings.code_system,
                &format!("band.{band}")
            )),
            None => assert!(obs.get("interpretation").is_none()),
        }
        for c in obs["code"]["coding"].as_array().unwrap() {
            if c["system"] == settings.code_system.as_str() {
                assert!(c["display"].as_str().is_some_and(|d| !d.is_empty()), "{c}");
            }
        }
    }
    let risk = observations.last().unwrap();
    assert!(has_code(&risk["code"], &settings.code_system, "risk-level"));
    assert!(has_code(
        &risk["valueCodeableConcept"],
        &settings.code_system,
        &format!("risk-level.{}", x.risk_level)
    ));
    let derived = risk["derivedFrom"].as_array().unwrap();
    assert_eq!(derived.len(), x.scores.len() + 1);
    assert_eq!(derived[0]["reference"], qr_url);
    assert_eq!(
        risk["note"].as_array().map_or(0, Vec::len),
        x.recommendations.len()
    );
    assert_eq!(
        risk["component"].as_array().map_or(0, Vec::len),
        x.flags.len()
    );
    // No resource is written for the Patient.
    assert!(resources(bundle, "Patient").is_empty());
}

#[test]
fn epds_bundle() {
    let settings = FhirSettings::default();
    let x = export("epds", ExportStatus::Final);
    let bundle = result_bundle(&x, &settings);
    check_common(&x, &bundle, &settings);
    let q = resources(&bundle, "QuestionnaireResponse")[0];
    let items = q["item"].as_array().unwrap();
    assert_eq!(items.len(), 10, "EPDS answers may be exported");
    assert_eq!(
        items[0],
        json!({"linkId": "1", "answer": [{"valueInteger": 3}]})
    );
    assert_eq!(items[9]["linkId"], "10", "items in numeric order");
    let total = resources(&bundle, "Observation")[0];
    assert!(has_code(&total["code"], codes::LOINC, "99046-5"));
    assert!(has_code(&total["method"], codes::LOINC, "71354-5"));
    assert!(has_code(&total["method"], codes::SNOMED, "450320001"));
}

#[test]
fn sdq_bundle_has_scores_but_no_items_by_default() {
    let settings = FhirSettings::default();
    for instrument in ["sdq-parent-4-17", "sdq-teacher-4-17", "sdq-parent-2-4"] {
        let x = export(instrument, ExportStatus::Final);
        assert!(!x.answers.is_empty());
        let bundle = result_bundle(&x, &settings);
        check_common(&x, &bundle, &settings);
        let q = resources(&bundle, "QuestionnaireResponse")[0];
        assert!(q.get("item").is_none(), "{instrument}: items are licensed");
        let observations = resources(&bundle, "Observation");
        assert_eq!(observations.len(), 10, "9 scales + risk");
        let emotional = observations[x.scores.iter().position(|s| s.id == "emotional").unwrap()];
        assert!(has_code(
            &emotional["code"],
            &settings.code_system,
            &format!("{instrument}.emotional")
        ));
        assert!(has_code(&emotional["method"], codes::SNOMED, "718133008"));
    }
    // A map that allows items exports them.
    let mut map = CodeMap::builtin().clone();
    map.instruments
        .get_mut("sdq-parent-4-17")
        .unwrap()
        .export_items = true;
    let x = export("sdq-parent-4-17", ExportStatus::Final);
    let bundle = result_bundle_with(&x, &settings, &map);
    let q = resources(&bundle, "QuestionnaireResponse")[0];
    assert_eq!(q["item"].as_array().unwrap().len(), x.answers.len());
}

#[test]
fn mchat_bundle_uses_ravis_codes() {
    let settings = FhirSettings::default();
    let x = export("mchat-r", ExportStatus::Final);
    let bundle = result_bundle(&x, &settings);
    check_common(&x, &bundle, &settings);
    let total = resources(&bundle, "Observation")[0];
    assert_eq!(
        codings(&total["code"]),
        vec![(settings.code_system.clone(), "mchat-r.total".to_owned())]
    );
    assert_eq!(total["code"]["coding"][0]["display"], total["code"]["text"]);
    let q = resources(&bundle, "QuestionnaireResponse")[0];
    assert_eq!(q["item"].as_array().unwrap().len(), 20);
}

#[test]
fn every_builtin_instrument_makes_a_bundle() {
    let settings = FhirSettings::default();
    for def in definitions() {
        for status in [ExportStatus::Final, ExportStatus::Amended] {
            let x = export(&def.id, status);
            check_common(&x, &result_bundle(&x, &settings), &settings);
        }
    }
}

/// Every object below `v`, with its path.
fn walk<'a>(
    v: &'a Value,
    path: String,
    out: &mut Vec<(String, &'a serde_json::Map<String, Value>)>,
) {
    match v {
        Value::Object(m) => {
            out.push((path.clone(), m));
            for (k, child) in m {
                walk(child, format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                walk(child, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn no_id_version_or_last_updated_on_create() {
    let settings = FhirSettings::default();
    for def in definitions() {
        for status in [ExportStatus::Final, ExportStatus::Amended] {
            let bundle = result_bundle(&export(&def.id, status), &settings);
            for entry in entries(&bundle) {
                let r = &entry["resource"];
                assert!(r.get("id").is_none(), "{}: id", def.id);
                let mut objects = Vec::new();
                walk(r, String::new(), &mut objects);
                for (path, m) in objects {
                    assert!(!m.contains_key("versionId"), "{}{path}.versionId", def.id);
                    assert!(
                        !m.contains_key("lastUpdated"),
                        "{}{path}.lastUpdated",
                        def.id
                    );
                }
            }
            assert!(bundle.get("id").is_none());
        }
    }
}

#[test]
fn profiles_come_from_settings() {
    let mut settings = FhirSettings::default();
    settings.profiles.questionnaire_response =
        vec!["https://vvis.gov.lv/fhir/StructureDefinition/qr-x".to_owned()];
    settings.profiles.observation = vec![
        "https://vvis.gov.lv/fhir/StructureDefinition/obs-a".to_owned(),
        "https://vvis.gov.lv/fhir/StructureDefinition/obs-b".to_owned(),
    ];
    settings.validate().unwrap();
    let bundle = result_bundle(&export("epds", ExportStatus::Final), &settings);
    for entry in entries(&bundle) {
        let r = &entry["resource"];
        let want = match r["resourceType"].as_str().unwrap() {
            "QuestionnaireResponse" => &settings.profiles.questionnaire_response,
            _ => &settings.profiles.observation,
        };
        assert_eq!(r["meta"], json!({"profile": want}));
    }
    settings.profiles.observation.clear();
    let bundle = result_bundle(&export("epds", ExportStatus::Final), &settings);
    for obs in resources(&bundle, "Observation") {
        assert!(obs.get("meta").is_none(), "no profile, no meta");
    }
}

#[test]
fn first_send_creates_conditionally_and_amended_updates_conditionally() {
    let settings = FhirSettings::default();
    let first = result_bundle(&export("sdq-parent-4-17", ExportStatus::Final), &settings);
    let amended = result_bundle(&export("sdq-parent-4-17", ExportStatus::Amended), &settings);
    for (f, a) in entries(&first).iter().zip(entries(&amended)) {
        let ty = f["resource"]["resourceType"].as_str().unwrap();
        let identifier = match &f["resource"]["identifier"] {
            Value::Array(list) => list[0].clone(),
            one => one.clone(),
        };
        let search = format!(
            "identifier={}|{}",
            identifier["system"].as_str().unwrap(),
            identifier["value"].as_str().unwrap()
        );
        assert_eq!(
            f["request"],
            json!({"method": "POST", "url": ty, "ifNoneExist": search})
        );
        assert_eq!(
            a["request"],
            json!({"method": "PUT", "url": format!("{ty}?{search}")})
        );
        assert_eq!(f["fullUrl"], a["fullUrl"], "same resource, same fullUrl");
    }
    let observation_values: Vec<&str> = resources(&first, "Observation")
        .iter()
        .map(|o| o["identifier"][0]["value"].as_str().unwrap())
        .collect();
    assert!(observation_values.contains(&"s-sdq-parent-4-17-0001/emotional"));
    assert!(observation_values.contains(&"s-sdq-parent-4-17-0001/risk"));
}

#[test]
fn configured_systems_are_used() {
    let settings = FhirSettings {
        personal_code_system: "urn:oid:1.3.6.1.4.1.99999.1".to_owned(),
        code_system: "https://vvis.gov.lv/fhir/CodeSystem/ravis".to_owned(),
        identifier_system_base: "https://ravis.gov.lv/fhir/sid".to_owned(),
        questionnaire_base: "https://ravis.gov.lv/fhir/Questionnaire".to_owned(),
        organisation_system: "urn:oid:1.3.6.1.4.1.99999.2".to_owned(),
        profiles: FhirProfiles::default(),
    };
    settings.validate().unwrap();
    for instrument in ["epds", "sdq-parent-4-17", "mchat-r"] {
        let x = export(instrument, ExportStatus::Amended);
        let bundle = result_bundle(&x, &settings);
        check_common(&x, &bundle, &settings);
        let text = String::from_utf8(result_bundle_json(&x, &settings)).unwrap();
        assert!(
            !text.contains("ravis.example"),
            "{instrument}: a default leaked"
        );
        assert!(text.contains("https://ravis.gov.lv/fhir/sid/specialist"));
    }
}

#[test]
fn answers_and_recommendations_in_words() {
    let answers: BTreeMap<String, Value> = [
        ("10", json!(1)),
        ("2", json!(0)),
        ("impact_home", json!(2)),
        ("1", json!(3)),
        ("difficulties", json!(1)),
        ("3", json!("x")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let items: Vec<(String, i64)> = ExportAnswer::from_submission(&answers)
        .into_iter()
        .map(|a| (a.item, a.code))
        .collect();
    assert_eq!(
        items,
        [
            ("1".to_owned(), 3),
            ("2".to_owned(), 0),
            ("10".to_owned(), 1),
            ("difficulties".to_owned(), 1),
            ("impact_home".to_owned(), 2),
        ],
        "numeric ids in numeric order, then the others; non-integers left out"
    );
    let rec = ExportRecommendation {
        kind: crate::scoring::RecommendationKind::ReferralProgramme,
        catalogue_id: Some("postnatal-depression-support".to_owned()),
        catalogue_name: Some("Atbalsts māmiņām".to_owned()),
        due_on: NaiveDate::from_ymd_opt(2026, 3, 16),
    };
    assert_eq!(
        recommendation_text(&rec),
        "Refer to a support programme: Atbalsts māmiņām (catalogue postnatal-depression-support), due 2026-03-16"
    );
    let rescreen = ExportRecommendation {
        kind: crate::scoring::RecommendationKind::Rescreen,
        catalogue_id: None,
        catalogue_name: None,
        due_on: None,
    };
    assert_eq!(recommendation_text(&rescreen), "Repeat the screening");
}

#[test]
fn a_score_without_value_has_a_data_absent_reason() {
    let settings = FhirSettings::default();
    let mut x = export("epds", ExportStatus::Final);
    x.scores[0].value = None;
    x.scores[0].band = None;
    let bundle = result_bundle(&x, &settings);
    check_common(&x, &bundle, &settings);
    let total = resources(&bundle, "Observation")[0];
    assert_eq!(total["dataAbsentReason"]["coding"][0]["code"], "unknown");
}

#[test]
fn search_values_are_escaped() {
    let settings = FhirSettings::default();
    let mut x = export("epds", ExportStatus::Final);
    x.screening_id = "a|b,c&d".to_owned();
    let bundle = result_bundle(&x, &settings);
    assert_eq!(
        entries(&bundle)[0]["request"]["ifNoneExist"],
        format!("identifier={}|a%7Cb%2Cc%26d", settings.screening_system())
    );
}

#[test]
fn bundles_are_deterministic() {
    let settings = FhirSettings::default();
    for def in definitions() {
        let a = serde_json::to_vec(&result_bundle(
            &export(&def.id, ExportStatus::Final),
            &settings,
        ))
        .unwrap();
        let b = serde_json::to_vec(&result_bundle(
            &export(&def.id, ExportStatus::Final),
            &settings,
        ))
        .unwrap();
        assert_eq!(a, b, "{}", def.id);
    }
    let bundle = result_bundle(&export("sdq-parent-4-17", ExportStatus::Final), &settings);
    let urls: Vec<&str> = entries(&bundle)
        .iter()
        .map(|e| e["fullUrl"].as_str().unwrap())
        .collect();
    let unique: std::collections::BTreeSet<_> = urls.iter().collect();
    assert_eq!(unique.len(), urls.len());
    for url in &urls {
        let id = url.strip_prefix("urn:uuid:").unwrap();
        let id = uuid::Uuid::parse_str(id).unwrap();
        assert_eq!(id.get_version_num(), 5);
    }
    // UUID v5 of the business identifier, known value (changes only if the scheme does).
    let observation = |id: &str| {
        full_url(
            "Observation",
            "https://ravis.example/fhir/sid/observation",
            id,
        )
    };
    assert_eq!(observation("s-1/total"), observation("s-1/total"));
    assert_ne!(observation("s-1/total"), observation("s-2/total"));
}

#[test]
fn full_urls_are_uuid_v5() {
    // RFC 9562 v5 by hand: SHA-1(namespace ‖ name), version 5, variant 10.
    let name = "QuestionnaireResponse|https://ravis.example/fhir/sid/screening|s-1";
    let mut bytes = FULL_URL_NAMESPACE.as_bytes().to_vec();
    bytes.extend(name.as_bytes());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &bytes);
    let mut want = [0u8; 16];
    want.copy_from_slice(&digest.as_ref()[..16]);
    want[6] = (want[6] & 0x0f) | 0x50;
    want[8] = (want[8] & 0x3f) | 0x80;
    assert_eq!(
        full_url(
            "QuestionnaireResponse",
            "https://ravis.example/fhir/sid/screening",
            "s-1"
        ),
        format!("urn:uuid:{}", uuid::Uuid::from_bytes(want))
    );
}

mod provenance_rules {
    use super::*;
    use crate::adapters::signing::KeyFileSigner;
    use crate::services::fhir_signing::signed_x_provenance;
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    fn agent() -> ProvenanceAgent {
        ProvenanceAgent {
            organisation_id: "ravis".to_owned(),
            organisation_name: "Valsts kanceleja — RAVIS".to_owned(),
        }
    }

    /// The bundle of `x` (its JSON body and value) and its signed `X-Provenance` header.
    async fn bundle_and_header(
        signer: &KeyFileSigner,
        x: &ResultExport,
        settings: &FhirSettings,
    ) -> (Vec<u8>, Value, String) {
        let bundle = result_bundle(x, settings);
        let body = result_bundle_json(x, settings);
        let recorded = Utc.with_ymd_and_hms(2026, 3, 2, 10, 16, 0).unwrap();
        let header = signed_x_provenance(
            signer,
            &body,
            &bundle_targets(&bundle),
            recorded,
            &agent(),
            settings,
        )
        .await
        .unwrap();
        (body, bundle, header)
    }

    async fn signed(dir: &std::path::Path) -> (KeyFileSigner, Vec<u8>, Value, String) {
        let signer = KeyFileSigner::generate(&dir.join("fhir.pem")).unwrap();
        let x = export("epds", ExportStatus::Final);
        let (body, bundle, header) = bundle_and_header(&signer, &x, &FhirSettings::default()).await;
        (signer, body, bundle, header)
    }

    #[tokio::test]
    async fn provenance_follows_the_signature_profile() {
        let dir = tempfile::tempdir().unwrap();
        let (_, _, bundle, header) = signed(dir.path()).await;
        assert!(header.is_ascii(), "a header value is ASCII");
        assert!(!header.contains('\n'));
        let p: Value = serde_json::from_str(&header).unwrap();
        assert_eq!(p["resourceType"], "Provenance");
        assert_eq!(
            p["meta"]["profile"],
            json!(FhirSettings::default().profiles.provenance)
        );
        assert_eq!(p["recorded"], "2026-03-02T10:16:00.000Z");
        let targets = p["target"].as_array().unwrap();
        assert_eq!(targets.len(), entries(&bundle).len());
        for (t, e) in targets.iter().zip(entries(&bundle)) {
            let keys: Vec<&String> = t.as_object().unwrap().keys().collect();
            assert_eq!(
                keys,
                ["reference", "type"],
                "target: reference and type only"
            );
            assert_eq!(t["reference"], e["fullUrl"]);
            assert_eq!(t["type"], e["resource"]["resourceType"]);
        }
        for forbidden in [
            "id",
            "occurredPeriod",
            "occurredDateTime",
            "policy",
            "location",
            "reason",
        ] {
            assert!(p.get(forbidden).is_none(), "{forbidden}");
        }
        let sig = &p["signature"][0];
        assert_eq!(sig["sigFormat"], "application/jose");
        assert_eq!(sig["when"], p["recorded"]);
        assert_eq!(
            p["agent"][0]["who"]["identifier"]["value"],
            agent().organisation_id
        );
    }

    #[tokio::test]
    async fn the_jws_verifies_over_the_body() {
        let dir = tempfile::tempdir().unwrap();
        let (signer, body, _, header) = signed(dir.path()).await;
        let p: Value = serde_json::from_str(&header).unwrap();
        let data = p["signature"][0]["data"].as_str().unwrap();
        let jws = String::from_utf8(STANDARD.decode(data).unwrap()).unwrap();
        let parts: Vec<&str> = jws.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert!(parts[1].is_empty(), "detached payload");
        let protected: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(protected["alg"], "ES256");
        assert_eq!(protected["kid"], signer.key_id());

        // Verified with aws-lc-rs directly, as a receiver would from the JWKS.
        let jwks = jwks(&[PublicJwk {
            key_id: signer.key_id().to_owned(),
            point: signer.point().to_vec(),
        }])
        .unwrap();
        let key = &jwks["keys"][0];
        assert_eq!(key["kid"], signer.key_id());
        let mut point = vec![0x04];
        point.extend(URL_SAFE_NO_PAD.decode(key["x"].as_str().unwrap()).unwrap());
        point.extend(URL_SAFE_NO_PAD.decode(key["y"].as_str().unwrap()).unwrap());
        let input = format!("{}.{}", parts[0], URL_SAFE_NO_PAD.encode(&body));
        let raw = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        assert_eq!(raw.len(), 64, "raw r ‖ s");
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
            &point,
        )
        .verify(input.as_bytes(), &raw)
        .unwrap();

        verify_detached_jws(&jws, &body, &point).unwrap();
        let mut tampered = body.clone();
        tampered[10] ^= 1;
        assert!(verify_detached_jws(&jws, &tampered, &point).is_err());
        assert!(verify_detached_jws(&jws.replacen("..", ".e30.", 1), &body, &point).is_err());
    }

    #[test]
    fn jwks_publishes_ec_keys() {
        let mut point = vec![0x04];
        point.extend((0..64).map(|i| i as u8));
        let set = jwks(&[PublicJwk {
            key_id: "k1".to_owned(),
            point: point.clone(),
        }])
        .unwrap();
        assert_eq!(
            set,
            json!({"keys": [{
                "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..]),
            }]})
        );
        let bad = jwks(&[PublicJwk {
            key_id: "k2".to_owned(),
            point: point[1..].to_vec(),
        }]);
        assert!(bad.unwrap_err().to_string().contains("k2"));
    }

    #[test]
    fn header_escapes_non_ascii() {
        let v = json!({"a": "Rīga 𝄞"});
        let h = x_provenance_header(&v);
        assert_eq!(h, r#"{"a":"R\u012bga \ud834\udd1e"}"#);
        assert_eq!(serde_json::from_str::<Value>(&h).unwrap(), v);
    }

    /// Writes the sample bundles (first send and amended) and their Provenance for every
    /// built-in instrument to `RAVIS_FHIR_SAMPLES_DIR` (`make test-fhir` validates them with
    /// fhir.resources and fhirpathpy), or to a temporary directory.
    #[tokio::test]
    async fn writes_samples() {
        let temp = tempfile::tempdir().unwrap();
        let dir = std::env::var_os("RAVIS_FHIR_SAMPLES_DIR")
            .map_or_else(|| temp.path().to_owned(), std::path::PathBuf::from);
        std::fs::create_dir_all(&dir).unwrap();
        let signer = KeyFileSigner::generate(&temp.path().join("fhir.pem")).unwrap();
        let settings = FhirSettings::default();
        let mut written = 0;
        for def in definitions() {
            for (status, name) in [
                (ExportStatus::Final, "first"),
                (ExportStatus::Amended, "amended"),
            ] {
                let x = export(&def.id, status);
                let (body, _, header) = bundle_and_header(&signer, &x, &settings).await;
                let stem = dir.join(format!("{}-{name}", def.id));
                std::fs::write(stem.with_extension("bundle.json"), &body).unwrap();
                std::fs::write(stem.with_extension("provenance.json"), &header).unwrap();
                written += 2;
            }
        }
        let jwks = jwks(&[PublicJwk {
            key_id: signer.key_id().to_owned(),
            point: signer.point().to_vec(),
        }])
        .unwrap();
        std::fs::write(dir.join("jwks.json"), jwks.to_string()).unwrap();
        let files = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".json")
            })
            .count();
        assert!(files >= written, "{files} files, {written} written");
        assert_eq!(written, 4 * definitions().len());
    }
}
