//! The `ravis score` contract through `score_lines`.

use super::*;
use crate::scoring::{LinesSummary, score_lines};
use serde_json::{Value, json};

const GOOD: &str = r#"{"instrument": "sdq-parent-4-17", "answers": {"1": 0, "2": 2, "3": 1, "8": 1, "13": 0, "16": 0}, "administered_on": "2026-10-01", "child": {"birth_date": "2019-05-02", "sex": "female", "gestational_age_weeks": 39}}"#;

fn run(input: &str) -> (LinesSummary, Vec<Value>) {
    let mut out = Vec::new();
    let summary = score_lines(input.as_bytes(), &mut out).expect("in-memory I/O");
    let text = String::from_utf8(out).expect("UTF-8 output");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "every output line ends with a newline"
    );
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is JSON"))
        .collect();
    (summary, lines)
}

#[test]
fn the_issue_example_line_scores_like_the_engine() {
    let (summary, out) = run(&format!("{GOOD}\n"));
    assert_eq!(
        summary,
        LinesSummary {
            lines: 1,
            scored: 1,
            failed: 0
        }
    );
    let req: ScoreRequest = serde_json::from_str(GOOD).expect("a ScoreRequest");
    let expected = serde_json::to_value(score(&req)).expect("serialises");
    assert_eq!(out, vec![expected]);
    // The contract's required keys and shapes.
    let r = &out[0];
    for key in [
        "instrument",
        "instrument_version",
        "scores",
        "risk_level",
        "flags",
        "recommendations",
        "explanation",
    ] {
        assert!(r.get(key).is_some(), "{key}");
    }
    for s in [
        "emotional",
        "conduct",
        "hyperactivity",
        "peer",
        "prosocial",
        "total_difficulties",
        "externalising",
        "internalising",
        "impact",
    ] {
        let score = &r["scores"][s];
        assert!(
            score.get("value").is_some() && score.get("band").is_some(),
            "{s}"
        );
    }
    // Emotional 3:1, 8:1, 13:0, 16:0 → 2 × 5 / 4 = 2.5 → 3.
    assert_eq!(
        r["scores"]["emotional"],
        json!({"value": 3, "band": "close_to_average"})
    );
}

#[test]
fn a_bad_line_reports_its_number_and_the_others_still_score() {
    let input = format!(
        "{GOOD}\n\
         {{\"instrument\": \"sdq-parent-4-17\", \"answers\": {{\"1\": 3, \"x\": 1}}, \"administered_on\": \"2026-10-01\", \"child\": {{\"birth_date\": \"2019-05-02\", \"sex\": \"female\"}}}}\n\
         \n\
         not json\n\
         {GOOD}\r\n"
    );
    let (summary, out) = run(&input);
    assert_eq!(
        summary,
        LinesSummary {
            lines: 4,
            scored: 2,
            failed: 2
        }
    );
    assert_eq!(out.len(), 4, "blank lines produce no output");
    assert_eq!(out[0]["instrument"], "sdq-parent-4-17");
    assert_eq!(
        out[1],
        json!({"line": 2, "errors": [
            {"field": "answers.1", "reason": "answer 3 is not a code of this item: allowed 0–2"},
            {"field": "answers.x", "reason": "unknown item: sdq-parent-4-17 has no item 'x'"}
        ]})
    );
    assert_eq!(out[2]["line"], 4);
    assert_eq!(out[2]["errors"][0]["field"], "");
    assert!(
        out[2]["errors"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("not a JSON request object"))
    );
    assert_eq!(out[3], out[0], "CRLF line endings are accepted");
}

#[test]
fn structural_problems_name_their_fields() {
    let line = |s: &str| run(&format!("{s}\n")).1.remove(0);
    // Unknown top-level field: named, and the rest is still checked.
    let out = line(
        r#"{"instrument": "epds", "answers": {"1": 9}, "administered_on": "2026-01-10", "child": {"birth_date": "2025-12-01", "sex": "male"}, "colour": 1}"#,
    );
    let fields: Vec<&str> = out["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, vec!["colour", "answers.1"]);
    // Missing fields and wrong types.
    let out = line(
        r#"{"instrument": 5, "administered_on": "1 Jan", "child": {"birth_date": "2025-12-01"}}"#,
    );
    let errs: Vec<(String, String)> = out["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or("").to_owned(),
                e["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        vec!["instrument", "administered_on", "child", "answers"]
    );
    assert_eq!(errs[0].1, "must be a string");
    assert!(errs[2].1.contains("missing field `sex`"), "{}", errs[2].1);
    assert_eq!(errs[3].1, "missing");
    // Unknown instrument: listed first, with the known ones.
    let out = line(
        r#"{"instrument": "sdq", "answers": {}, "administered_on": "2026-01-10", "child": {"birth_date": "2025-12-01", "sex": "male", "gestational_age_weeks": 3}}"#,
    );
    assert_eq!(out["errors"][0]["field"], "instrument");
    assert!(
        out["errors"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("sdq-parent-4-17"))
    );
    assert_eq!(out["errors"][1]["field"], "child.gestational_age_weeks");
    // Answers that are not an object; a field given twice; not an object at all.
    let out = line(
        r#"{"instrument": "epds", "answers": [1], "administered_on": "2026-01-10", "child": {"birth_date": "2025-12-01", "sex": "male"}}"#,
    );
    assert_eq!(out["errors"][0]["field"], "answers");
    let out = line(
        r#"{"instrument": "epds", "instrument": "epds", "answers": {}, "administered_on": "2026-01-10", "child": {"birth_date": "2025-12-01", "sex": "male"}}"#,
    );
    assert_eq!(
        out["errors"][0],
        json!({"field": "instrument", "reason": "given more than once"})
    );
    let out = line("[1, 2]");
    assert_eq!(out["errors"][0]["field"], "");
}

#[test]
fn invalid_utf8_is_an_error_for_that_line_only() {
    let mut input = Vec::new();
    input.extend_from_slice(b"{\"instrument\": \"\xff\"}\n");
    input.extend_from_slice(GOOD.as_bytes());
    input.push(b'\n');
    let mut out = Vec::new();
    let summary = score_lines(&input[..], &mut out).expect("in-memory I/O");
    assert_eq!(
        summary,
        LinesSummary {
            lines: 2,
            scored: 1,
            failed: 1
        }
    );
    let text = String::from_utf8(out).expect("UTF-8 output");
    let first: Value = serde_json::from_str(text.lines().next().expect("a line")).expect("JSON");
    assert_eq!(first["errors"][0]["reason"], "the line is not valid UTF-8");
}

#[test]
fn a_follow_up_line_carries_its_initial_screening() {
    // Initial: items 1, 3, 4 answered "no" (at risk), all else passing → total 3.
    let mut initial = serde_json::Map::new();
    for i in 1..=20 {
        let passing = if [2, 5, 12].contains(&i) { 0 } else { 1 };
        let answer = if [1, 3, 4].contains(&i) { 0 } else { passing };
        initial.insert(i.to_string(), json!(answer));
    }
    let line = json!({
        "instrument": "mchat-rf",
        "answers": {"1": 1, "3": 1, "4": 0},
        "administered_on": "2025-11-20",
        "child": {"birth_date": "2024-03-10", "sex": "male"},
        "initial": {"instrument": "mchat-r", "administered_on": "2025-11-10", "answers": initial}
    });
    let (_, out) = run(&format!("{line}\n"));
    assert_eq!(
        out[0]["scores"]["total"],
        json!({"value": 2, "band": "positive"})
    );
    assert_eq!(out[0]["risk_level"], "high");
}

#[test]
fn empty_input_gives_empty_output() {
    let (summary, out) = run("");
    assert_eq!(summary, LinesSummary::default());
    assert!(out.is_empty());
}
