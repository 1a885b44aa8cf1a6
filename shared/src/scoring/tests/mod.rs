//! Golden and property tests of the scoring engine.
//!
//! Golden vectors are worked by hand from the published rules; the arithmetic is in comments.

mod client_flow;
mod definitions;
mod demo_asq;
mod epds;
mod lines;
mod mchat;
mod programme_outcome;
mod properties;
mod sdq;

use super::{ChildFacts, Engine, RecommendationKind, RiskLevel, ScoreRequest, ScoreResult, Sex};
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The shipped engine, loaded once.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::builtin().expect("shipped definitions load"))
}

fn date(s: &str) -> NaiveDate {
    s.parse().expect("test date")
}

/// A request for a term-born girl.
fn request(
    instrument: &str,
    answers: &[(&str, i64)],
    administered_on: &str,
    birth: &str,
) -> ScoreRequest {
    ScoreRequest {
        instrument: instrument.to_owned(),
        answers: answers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
            .collect::<BTreeMap<_, _>>(),
        administered_on: date(administered_on),
        child: ChildFacts {
            birth_date: date(birth),
            sex: Sex::Female,
            gestational_age_weeks: Some(40),
        },
        initial: None,
    }
}

/// Scores a request that must be valid.
fn score(req: &ScoreRequest) -> ScoreResult {
    match engine().score(req) {
        Ok(result) => result,
        Err(errors) => panic!("expected a result, got errors: {errors:?}"),
    }
}

/// The errors of a request that must be invalid, as `(field, reason)` pairs.
fn errors(req: &ScoreRequest) -> Vec<(String, String)> {
    match engine().score(req) {
        Ok(result) => panic!("expected errors, got a result: {result:?}"),
        Err(errors) => errors.into_iter().map(|e| (e.field, e.reason)).collect(),
    }
}

/// Fields of the errors of an invalid request.
fn error_fields(req: &ScoreRequest) -> Vec<String> {
    errors(req).into_iter().map(|(f, _)| f).collect()
}

fn value(result: &ScoreResult, score: &str) -> Option<i64> {
    result.scores.get(score).expect("score exists").value
}

fn band<'r>(result: &'r ScoreResult, score: &str) -> Option<&'r str> {
    result
        .scores
        .get(score)
        .expect("score exists")
        .band
        .as_deref()
}

/// The value and the band of a score.
fn scored<'r>(result: &'r ScoreResult, score: &str) -> (Option<i64>, Option<&'r str>) {
    (value(result, score), band(result, score))
}

/// A recommendation as [`recs`] gives it.
type Rec<'r> = (RecommendationKind, Option<NaiveDate>, Option<&'r str>);

/// The referral for an in-depth assessment, as [`recs`] gives it.
const IN_DEPTH: Rec<'static> = (RecommendationKind::ReferralInDepthAssessment, None, None);

/// The referral to `programme`, as [`recs`] gives it.
fn programme(programme: &str) -> Rec<'_> {
    (RecommendationKind::ReferralProgramme, None, Some(programme))
}

/// `(kind, due_on, programme)` of each recommendation.
fn recs(result: &ScoreResult) -> Vec<Rec<'_>> {
    result
        .recommendations
        .iter()
        .map(|r| (r.kind, r.due_on, r.programme.as_deref()))
        .collect()
}

#[test]
fn shipped_definitions_load_with_the_public_ids() {
    let ids: Vec<&str> = engine().instrument_ids().collect();
    assert_eq!(
        ids,
        vec![
            "demo-asq-style",
            "epds",
            "mchat-r",
            "mchat-rf",
            "sdq-parent-2-4",
            "sdq-parent-4-17",
            "sdq-teacher-4-17"
        ]
    );
    for id in ids {
        let def = engine().instrument(id).expect("defined");
        assert!(!def.source.citation.is_empty(), "{id} cites its source");
        assert!(
            !def.norms.source.citation.is_empty(),
            "{id} norms cite their source"
        );
        assert_eq!(
            def.demonstration,
            id == "demo-asq-style",
            "{id} demonstration flag"
        );
    }
}

#[test]
fn results_carry_versions_and_risk_levels_serialise_lower_case() {
    let r = score(&request("epds", &[], "2026-01-10", "2025-12-01"));
    assert_eq!(r.instrument, "epds");
    assert_eq!(r.instrument_version, "1.1.0");
    assert_eq!(r.engine_version, super::ENGINE_VERSION);
    assert_eq!(r.norms.id, "epds-cox-1987");
    let json = serde_json::to_value(&r).expect("serialises");
    assert_eq!(json["risk_level"], "medium");
    assert_eq!(RiskLevel::Urgent.as_str(), "urgent");
    let back: ScoreResult = serde_json::from_value(json).expect("round-trips");
    assert_eq!(back, r);
}
