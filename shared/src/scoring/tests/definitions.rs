//! Loading definitions: broken files fail with the file and field named; norm overrides.

use super::*;
use crate::scoring::DefinitionError;
use crate::scoring::builtin::BUILTIN;
use serde_json::{Value, json};

fn shipped(file: &str) -> Value {
    let (_, text) = BUILTIN
        .iter()
        .find(|(name, _)| *name == file)
        .expect("shipped file");
    serde_json::from_str(text).expect("shipped JSON")
}

/// Loads the shipped set with `file` replaced by `broken`, returning the error.
fn load_with(file: &str, broken: &str) -> DefinitionError {
    let sources = BUILTIN.iter().map(|(name, text)| {
        if *name == file {
            ("broken.json", broken)
        } else {
            (*name, *text)
        }
    });
    Engine::from_sources(sources).expect_err("must not load")
}

/// The `(file, field)` of an `Invalid` error.
fn invalid_at(err: &DefinitionError) -> (&str, &str) {
    match err {
        DefinitionError::Invalid { file, field, .. } => (file.as_str(), field.as_str()),
        other => panic!("expected an Invalid error, got {other}"),
    }
}

fn broken(file: &str, edit: impl FnOnce(&mut Value)) -> DefinitionError {
    let mut def = shipped(file);
    edit(&mut def);
    load_with(file, &def.to_string())
}

/// A change that breaks a definition.
type Edit = Box<dyn FnOnce(&mut Value)>;

#[test]
fn a_broken_definition_names_file_and_field() {
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "sdq-parent-4-17.json",
            Box::new(|d| d["items"][3]["coding"] = json!("nope")),
            "items[3].coding",
        ),
        (
            "sdq-parent-4-17.json",
            Box::new(|d| d["items"][4]["id"] = json!("1")),
            "items[4].id",
        ),
        (
            "sdq-parent-4-17.json",
            Box::new(|d| d["scores"][0]["sum"]["items"][1] = json!("99")),
            "scores[0].sum.items[1]",
        ),
        (
            "sdq-parent-4-17.json",
            Box::new(|d| d["scores"][5]["sum_of"][0] = json!("impact")),
            "scores[5].sum_of[0]",
        ),
        (
            "sdq-parent-4-17.json",
            Box::new(|d| {
                d["scores"][0]["sum"]["missing"] = json!({"prorate": {"min_answered": 6}})
            }),
            "scores[0].sum.missing.prorate.min_answered",
        ),
        (
            "sdq-parent-4-17.json",
            Box::new(|d| d["norms"]["tables"][0]["bands"]["emotional"][1]["min"] = json!(5)),
            "norms.tables[0].bands.emotional[1].min",
        ),
        (
            "sdq-parent-4-17.json",
            Box::new(|d| d["norms"]["tables"][0]["bands"]["emotional"][3]["max"] = json!(9)),
            "norms.tables[0].bands.emotional",
        ),
        (
            "sdq-parent-4-17.json",
            Box::new(|d| d["risk_rules"][2]["when"][0]["band"]["in"][0] = json!("hihg")),
            "risk_rules[2].when[0]",
        ),
        (
            "sdq-parent-4-17.json",
            Box::new(|d| d["age_range"] = json!({"min_months": 60, "max_months": 48})),
            "age_range",
        ),
        (
            "sdq-parent-4-17.json",
            Box::new(|d| d["format"] = json!(2)),
            "format",
        ),
        (
            "sdq-parent-4-17.json",
            Box::new(|d| d["source"]["citation"] = json!(" ")),
            "source.citation",
        ),
        (
            "epds.json",
            Box::new(|d| d["risk_rules"][2]["recommend"][0]["programme"] = Value::Null),
            "risk_rules[2].recommend[0]",
        ),
        (
            "demo-asq-style.json",
            Box::new(|d| {
                d["norms"]["tables"][1]["age"] = json!({"min_months": 16, "max_months": 20})
            }),
            "norms.tables",
        ),
        (
            "demo-asq-style.json",
            Box::new(|d| d["risk_rules"][0]["basis"] = json!("published")),
            "risk_rules[0].basis",
        ),
        (
            "mchat-rf.json",
            Box::new(|d| d["follow_up_of"]["score"] = json!("sum")),
            "follow_up_of.score",
        ),
        (
            "sdq-parent-4-17.json",
            Box::new(|d| {
                d["scores"][4]
                    .as_object_mut()
                    .unwrap()
                    .remove("higher_is_worse");
            }),
            "scores[4].higher_is_worse",
        ),
        (
            "sdq-parent-4-17.json",
            Box::new(|d| d["scores"][5]["higher_is_worse"] = json!(false)),
            "primary_score.higher_is_worse",
        ),
    ];
    for (file, edit, field) in cases {
        let err = broken(file, edit);
        assert_eq!(invalid_at(&err), ("broken.json", field), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("broken.json: {field}: ")),
            "{err}"
        );
    }
}

#[test]
fn every_shipped_score_states_its_polarity() {
    // Higher is better only for the SDQ prosocial scale and the ASQ-style areas.
    let mut better = Vec::new();
    for id in engine().instrument_ids() {
        for s in &engine().instrument(id).expect("defined").scores {
            assert!(s.higher_is_worse.is_some(), "{id}.{}", s.id);
            if !s.higher_is_worse() {
                better.push(format!("{id}.{}", s.id));
            }
        }
    }
    assert_eq!(
        better,
        [
            "demo-asq-style.communication",
            "demo-asq-style.gross_motor",
            "demo-asq-style.fine_motor",
            "demo-asq-style.problem_solving",
            "demo-asq-style.personal_social",
            "sdq-parent-2-4.prosocial",
            "sdq-parent-4-17.prosocial",
            "sdq-teacher-4-17.prosocial",
        ]
    );
}

#[test]
fn a_definition_that_is_not_the_format_is_a_parse_error_naming_the_field() {
    let mut def = shipped("epds.json");
    def.as_object_mut().expect("object").remove("version");
    let err = load_with("epds.json", &def.to_string());
    assert!(matches!(err, DefinitionError::Parse { .. }));
    assert!(
        err.to_string().contains("broken.json")
            && err.to_string().contains("missing field `version`"),
        "{err}"
    );

    let mut def = shipped("epds.json");
    def["colour"] = json!("blue");
    let err = load_with("epds.json", &def.to_string());
    assert!(err.to_string().contains("unknown field `colour`"), "{err}");

    let err = load_with("epds.json", "{ not json");
    assert!(matches!(err, DefinitionError::Parse { ref file, .. } if file == "broken.json"));
    use std::error::Error as _;
    assert!(
        err.source().is_some(),
        "the JSON error is kept as the cause"
    );
}

#[test]
fn cross_definition_links_are_checked() {
    // M-CHAT-R/F without M-CHAT-R.
    let rf = BUILTIN
        .iter()
        .find(|(n, _)| *n == "mchat-rf.json")
        .expect("shipped");
    let err = Engine::from_sources([*rf]).expect_err("needs mchat-r");
    assert_eq!(
        invalid_at(&err),
        ("mchat-rf.json", "follow_up_of.instrument")
    );
    // The same instrument twice.
    let epds = BUILTIN
        .iter()
        .find(|(n, _)| *n == "epds.json")
        .expect("shipped");
    let err = Engine::from_sources([*epds, ("copy.json", epds.1)]).expect_err("duplicate");
    assert_eq!(invalid_at(&err), ("copy.json", "id"));
}

#[test]
fn definitions_load_from_a_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in BUILTIN {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    std::fs::write(dir.path().join("README.txt"), "ignored").expect("write");
    let from_dir = Engine::from_dir(dir.path()).expect("loads");
    assert_eq!(from_dir.instrument_ids().count(), BUILTIN.len());
    let req = request("epds", &[("1", 2), ("10", 3)], "2026-01-10", "2025-12-01");
    assert_eq!(from_dir.score(&req), engine().score(&req));
    // A broken file in the directory names its path.
    std::fs::write(dir.path().join("zz-broken.json"), "{}").expect("write");
    let err = Engine::from_dir(dir.path()).expect_err("broken");
    assert!(err.to_string().contains("zz-broken.json"), "{err}");
}

/// A norms override for sdq-parent-4-17: the shipped parent bands, with `edit` applied.
fn sdq_override(edit: impl FnOnce(&mut Value)) -> String {
    let def = shipped("sdq-parent-4-17.json");
    let mut over = json!({
        "format": 1,
        "instrument": "sdq-parent-4-17",
        "norms": {
            "id": "lv-test",
            "version": "2027-1",
            "source": {"citation": "Test norms for the override mechanism, not a real sample."},
            "tables": def["norms"]["tables"].clone(),
        }
    });
    edit(&mut over);
    over.to_string()
}

fn emotional_bands(close: i64, slightly: i64, high: i64) -> Value {
    json!([
        {"band": "close_to_average", "min": 0, "max": close},
        {"band": "slightly_raised", "min": close + 1, "max": slightly},
        {"band": "high", "min": slightly + 1, "max": high},
        {"band": "very_high", "min": high + 1, "max": 10}
    ])
}

/// Emotional 5 (3:2, 8:2, 13:1, 16:0, 24:0) under `engine`.
fn emotional_five(engine: &Engine, sex: Sex) -> (Option<String>, String) {
    let mut req = request(
        "sdq-parent-4-17",
        &[("3", 2), ("8", 2), ("13", 1), ("16", 0), ("24", 0)],
        "2026-10-01",
        "2019-05-02",
    );
    req.child.sex = sex;
    let r = engine.score(&req).expect("scores");
    (r.scores["emotional"].band.clone(), r.norms.id)
}

#[test]
fn national_norms_replace_the_shipped_bands() {
    // Shipped parent bands: emotional 5 is high (5–6).
    assert_eq!(
        emotional_five(engine(), Sex::Female),
        (Some("high".into()), "sdq-uk-four-band".into())
    );
    // Override: emotional 0–4 close, 5 slightly raised, 6–7 high, 8–10 very high.
    let json = sdq_override(|o| {
        o["norms"]["tables"][0]["bands"]["emotional"] = emotional_bands(4, 5, 7);
    });
    let lv = engine()
        .clone()
        .with_norms_override("lv.json", &json)
        .expect("valid override");
    assert_eq!(
        emotional_five(&lv, Sex::Female),
        (Some("slightly_raised".into()), "lv-test".into())
    );
    assert_eq!(
        lv.instrument("sdq-parent-4-17")
            .map(|d| d.norms.id.as_str()),
        Some("lv-test")
    );
    // Other instruments are untouched.
    assert_eq!(
        lv.instrument("sdq-teacher-4-17")
            .map(|d| d.norms.id.as_str()),
        Some("sdq-uk-four-band")
    );

    // Sex-specific tables: girls as above, boys 0–5 close.
    let json = sdq_override(|o| {
        let parent = o["norms"]["tables"][0].clone();
        let mut girls = parent.clone();
        girls["id"] = json!("girls");
        girls["sex"] = json!("female");
        girls["bands"]["emotional"] = emotional_bands(4, 5, 7);
        let mut boys = parent;
        boys["id"] = json!("boys");
        boys["sex"] = json!("male");
        boys["bands"]["emotional"] = emotional_bands(5, 6, 8);
        o["norms"]["tables"] = json!([girls, boys]);
    });
    let lv = engine()
        .clone()
        .with_norms_override("lv.json", &json)
        .expect("valid override");
    assert_eq!(
        emotional_five(&lv, Sex::Female).0.as_deref(),
        Some("slightly_raised")
    );
    assert_eq!(
        emotional_five(&lv, Sex::Male).0.as_deref(),
        Some("close_to_average")
    );

    // Loaded from a file too.
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), &json).expect("write");
    let lv = engine()
        .clone()
        .with_norms_file(file.path())
        .expect("loads");
    assert_eq!(
        emotional_five(&lv, Sex::Male).0.as_deref(),
        Some("close_to_average")
    );
}

#[test]
fn a_bad_norms_override_is_rejected_naming_the_field() {
    let try_override = |json: String| {
        let err = engine()
            .clone()
            .with_norms_override("lv.json", &json)
            .expect_err("invalid");
        match err {
            DefinitionError::Invalid {
                file,
                field,
                reason,
            } => (file, field, reason),
            other => panic!("expected Invalid, got {other}"),
        }
    };
    // Girls only: boys find no table.
    let (file, field, reason) = try_override(sdq_override(|o| {
        o["norms"]["tables"][0]["sex"] = json!("female")
    }));
    assert_eq!((file.as_str(), field.as_str()), ("lv.json", "norms.tables"));
    assert!(reason.contains("sex male"), "{reason}");
    // A band name the risk rules do not know.
    let (_, field, _) = try_override(sdq_override(|o| {
        o["norms"]["tables"][0]["bands"]["emotional"][1]["band"] = json!("elevated");
    }));
    assert_eq!(field, "norms.tables[0].bands.emotional[1].band");
    // Fewer banded scores than the shipped norms.
    let (_, field, _) = try_override(sdq_override(|o| {
        o["norms"]["tables"][0]["bands"]
            .as_object_mut()
            .expect("object")
            .remove("impact");
    }));
    assert_eq!(field, "norms.tables[0].bands");
    // Unknown instrument.
    let (_, field, _) = try_override(sdq_override(|o| o["instrument"] = json!("sdq-unknown")));
    assert_eq!(field, "instrument");
}
