//! M-CHAT-R and M-CHAT-R/F golden vectors.
//!
//! Published rules: 20 items answered 0 = no, 1 = yes; "no" is at risk except items 2, 5, 12
//! where "yes" is. Total = items at risk: 0–2 low (under 24 months: rescreen at 24 months),
//! 3–7 medium (Follow-Up), 8–20 high (refer). Follow-Up: ≥ 2 items still failing = positive.

use super::*;
use crate::scoring::InitialScreening;

/// Born 2024-03-10: 16 months on 2025-07-10, 24 months on 2026-03-10, 31 on 2026-10-10.
const BORN: &str = "2024-03-10";

/// Answers for all 20 items with exactly `at_risk` at risk: at-risk answer is "yes" (1) for
/// items 2, 5, 12 and "no" (0) for the others; the passing answer is the opposite.
pub(super) fn mchat_answers(at_risk: &[u8]) -> Vec<(String, i64)> {
    (1..=20u8)
        .map(|i| {
            let risk_answer = if [2, 5, 12].contains(&i) { 1 } else { 0 };
            let answer = if at_risk.contains(&i) {
                risk_answer
            } else {
                1 - risk_answer
            };
            (i.to_string(), answer)
        })
        .collect()
}

fn mchat(at_risk: &[u8], on: &str) -> ScoreRequest {
    let answers = mchat_answers(at_risk);
    let pairs: Vec<(&str, i64)> = answers.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    request("mchat-r", &pairs, on, BORN)
}

/// A Follow-Up on `on` of an initial screening on `initial_on` with `at_risk` items at risk.
fn follow_up(outcomes: &[(&str, i64)], at_risk: &[u8], initial_on: &str, on: &str) -> ScoreRequest {
    let mut req = request("mchat-rf", outcomes, on, BORN);
    req.initial = Some(InitialScreening {
        instrument: "mchat-r".into(),
        administered_on: date(initial_on),
        answers: mchat_answers(at_risk)
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::from(v)))
            .collect(),
    });
    req
}

#[test]
fn coding_no_is_at_risk_except_items_2_5_12() {
    // Every item "yes" (1): only 2, 5 and 12 are at risk → total 3.
    let all_yes: Vec<(String, i64)> = (1..=20).map(|i| (i.to_string(), 1)).collect();
    let pairs: Vec<(&str, i64)> = all_yes.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let r = score(&request("mchat-r", &pairs, "2026-05-10", BORN));
    assert_eq!(value(&r, "total"), Some(3));
    // Every item "no" (0): the other 17 are at risk → total 17.
    let all_no: Vec<(String, i64)> = (1..=20).map(|i| (i.to_string(), 0)).collect();
    let pairs: Vec<(&str, i64)> = all_no.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let r = score(&request("mchat-r", &pairs, "2026-05-10", BORN));
    assert_eq!(value(&r, "total"), Some(17));
    // The helper's passing form scores 0, and its all-at-risk form 20.
    assert_eq!(value(&score(&mchat(&[], "2026-05-10")), "total"), Some(0));
    let all: Vec<u8> = (1..=20).collect();
    assert_eq!(value(&score(&mchat(&all, "2026-05-10")), "total"), Some(20));
}

#[test]
fn boundaries_2_3_and_7_8() {
    // At 26 months (2026-05-10), so no under-24 rescreen.
    let low = score(&mchat(&[1, 2], "2026-05-10"));
    assert_eq!(scored(&low, "total"), (Some(2), Some("low_risk")));
    assert_eq!(low.risk_level, RiskLevel::Low);
    assert!(low.recommendations.is_empty());

    let medium = score(&mchat(&[1, 2, 3], "2026-05-10"));
    assert_eq!(scored(&medium, "total"), (Some(3), Some("medium_risk")));
    assert_eq!(medium.risk_level, RiskLevel::Medium);
    // The Follow-Up is due 14 days after the screening (RAVIS policy, definition 1.1.0).
    assert_eq!(
        recs(&medium),
        vec![(
            RecommendationKind::FollowUpInterview,
            Some(date("2026-05-24")),
            None
        )]
    );

    let seven = score(&mchat(&[1, 2, 3, 4, 5, 6, 7], "2026-05-10"));
    assert_eq!(
        (value(&seven, "total"), seven.risk_level),
        (Some(7), RiskLevel::Medium)
    );

    let high = score(&mchat(&[1, 2, 3, 4, 5, 6, 7, 8], "2026-05-10"));
    assert_eq!(scored(&high, "total"), (Some(8), Some("high_risk")));
    assert_eq!(high.risk_level, RiskLevel::High);
    assert_eq!(
        recs(&high),
        vec![IN_DEPTH, programme("early-intervention-psychomotor")]
    );
    let all: Vec<u8> = (1..=20).collect();
    let r = score(&mchat(&all, "2026-05-10"));
    assert_eq!(scored(&r, "total"), (Some(20), Some("high_risk")));
}

#[test]
fn low_risk_under_24_months_is_rescreened_at_24_months() {
    // 23 months on 2026-03-09 (10 Mar 2024 + 24 months = 10 Mar 2026): rescreen due 2026-03-10.
    let r = score(&mchat(&[4], "2026-03-09"));
    assert_eq!(r.age_months, 23);
    assert_eq!(r.risk_level, RiskLevel::Low);
    assert_eq!(
        recs(&r),
        vec![(RecommendationKind::Rescreen, Some(date("2026-03-10")), None)]
    );
    assert_eq!(r.recommendations[0].rule, "mchat-r-low-under-24");
    // At 24 months, no rescreen.
    let r = score(&mchat(&[4], "2026-03-10"));
    assert_eq!(r.age_months, 24);
    assert!(r.recommendations.is_empty());
    // Medium under 24 months: Follow-Up, not a rescreen.
    let r = score(&mchat(&[4, 6, 7], "2026-03-09"));
    assert_eq!(
        recs(&r),
        vec![(
            RecommendationKind::FollowUpInterview,
            Some(date("2026-03-23")),
            None
        )]
    );
}

#[test]
fn missing_answers_give_no_total() {
    let r = score(&request("mchat-r", &[], "2026-05-10", BORN));
    assert_eq!(value(&r, "total"), None);
    assert_eq!(r.risk_level, RiskLevel::Medium);
    assert_eq!(r.flags, vec!["incomplete"]);
    // 19 of 20 answered is not enough either.
    let mut req = mchat(&[], "2026-05-10");
    req.answers.remove("20");
    let r = score(&req);
    assert_eq!(value(&r, "total"), None);
    assert!(
        r.explanation
            .iter()
            .any(|e| e.text == "19 of 20 items, 20 needed: no score")
    );
}

#[test]
fn age_range_edges_16_to_30_months() {
    assert_eq!(
        error_fields(&mchat(&[], "2025-07-09")),
        vec!["administered_on"]
    ); // 15 months
    assert_eq!(score(&mchat(&[], "2025-07-10")).age_months, 16);
    assert_eq!(score(&mchat(&[], "2026-10-09")).age_months, 30);
    assert_eq!(
        error_fields(&mchat(&[], "2026-10-10")),
        vec!["administered_on"]
    ); // 31 months
}

#[test]
fn no_prematurity_correction() {
    // Born at 30 weeks, 16 months chronological: accepted at chronological age (corrected it
    // would be 13 months and out of range).
    let mut req = mchat(&[], "2025-07-10");
    req.child.gestational_age_weeks = Some(30);
    let r = score(&req);
    assert_eq!((r.age_months, r.corrected_age_months), (16, None));
}

#[test]
fn follow_up_two_or_more_failing_items_is_positive() {
    // Initial 2025-11-10 (20 months): items 1–5 at risk, total 5 (medium).
    let one = follow_up(
        &[("1", 1), ("2", 0), ("3", 0), ("4", 0), ("5", 0)],
        &[1, 2, 3, 4, 5],
        "2025-11-10",
        "2025-11-20",
    );
    let r = score(&one);
    assert_eq!(scored(&r, "total"), (Some(1), Some("negative")));
    assert_eq!(r.risk_level, RiskLevel::Low);
    assert!(r.recommendations.is_empty());
    let initial = r
        .explanation
        .iter()
        .find(|e| e.rule == "initial")
        .expect("explained");
    assert!(
        initial.text.contains("total 5") && initial.text.contains("1, 2, 3, 4, 5"),
        "{}",
        initial.text
    );

    let two = follow_up(
        &[("1", 1), ("2", 1), ("3", 0), ("4", 0), ("5", 0)],
        &[1, 2, 3, 4, 5],
        "2025-11-10",
        "2025-11-20",
    );
    let r = score(&two);
    assert_eq!(scored(&r, "total"), (Some(2), Some("positive")));
    assert_eq!(r.risk_level, RiskLevel::High);
    assert_eq!(
        recs(&r),
        vec![IN_DEPTH, programme("early-intervention-psychomotor")]
    );
    // Nothing failing: 0, negative.
    let none = follow_up(
        &[("3", 0), ("7", 0), ("9", 0)],
        &[3, 7, 9],
        "2025-11-10",
        "2025-11-10",
    );
    assert_eq!(value(&score(&none), "total"), Some(0));
}

#[test]
fn follow_up_asks_exactly_the_items_at_risk() {
    // All missing: every at-risk item needs an outcome.
    let empty = follow_up(&[], &[1, 2, 3], "2025-11-10", "2025-11-20");
    assert_eq!(
        error_fields(&empty),
        vec!["answers.1", "answers.2", "answers.3"]
    );
    // Item 6 was not at risk.
    let extra = follow_up(
        &[("1", 0), ("2", 0), ("3", 0), ("6", 1)],
        &[1, 2, 3],
        "2025-11-10",
        "2025-11-20",
    );
    let errs = errors(&extra);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].0, "answers.6");
    assert!(errs[0].1.contains("not at risk"));
    // Outcomes are pass (0) / fail (1).
    let bad = follow_up(
        &[("1", 2), ("2", 0), ("3", 0)],
        &[1, 2, 3],
        "2025-11-10",
        "2025-11-20",
    );
    assert_eq!(error_fields(&bad), vec!["answers.1"]);
}

#[test]
fn follow_up_is_linked_to_a_valid_initial_screening() {
    // Missing link.
    let mut req = follow_up(&[("1", 0)], &[1, 2, 3], "2025-11-10", "2025-11-20");
    req.initial = None;
    assert_eq!(error_fields(&req), vec!["initial"]);
    // Wrong instrument.
    let mut req = follow_up(&[("1", 0)], &[1, 2, 3], "2025-11-10", "2025-11-20");
    if let Some(init) = req.initial.as_mut() {
        init.instrument = "epds".into();
    }
    assert_eq!(error_fields(&req), vec!["initial.instrument"]);
    // Initial low risk (2): no Follow-Up.
    let low = follow_up(&[("1", 1), ("2", 1)], &[1, 2], "2025-11-10", "2025-11-20");
    let errs = errors(&low);
    assert_eq!(errs[0].0, "initial");
    assert!(
        errs[0].1.contains("is 2") && errs[0].1.contains("from 3"),
        "{}",
        errs[0].1
    );
    // Initial high risk (8) may still have a Follow-Up.
    let at_risk = [1, 2, 3, 4, 5, 6, 7, 8];
    let outcomes: Vec<(String, i64)> = at_risk.iter().map(|i| (i.to_string(), 0)).collect();
    let pairs: Vec<(&str, i64)> = outcomes.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        value(
            &score(&follow_up(&pairs, &at_risk, "2025-11-10", "2025-11-20")),
            "total"
        ),
        Some(0)
    );
    // Errors in the initial answers are named under `initial.`.
    let mut req = follow_up(
        &[("1", 0), ("2", 0), ("3", 0)],
        &[1, 2, 3],
        "2025-11-10",
        "2025-11-20",
    );
    if let Some(init) = req.initial.as_mut() {
        init.answers.insert("3".into(), serde_json::json!(5));
    }
    assert_eq!(error_fields(&req), vec!["initial.answers.3"]);
    // An incomplete initial screening has no total to follow up.
    let mut req = follow_up(
        &[("1", 0), ("2", 0), ("3", 0)],
        &[1, 2, 3],
        "2025-11-10",
        "2025-11-20",
    );
    if let Some(init) = req.initial.as_mut() {
        init.answers.remove("20");
    }
    assert_eq!(error_fields(&req), vec!["initial.answers"]);
    // The initial screening cannot be after its Follow-Up.
    let late = follow_up(
        &[("1", 0), ("2", 0), ("3", 0)],
        &[1, 2, 3],
        "2025-11-21",
        "2025-11-20",
    );
    assert_eq!(error_fields(&late), vec!["initial.administered_on"]);
    // Only follow-up stages take an initial screening.
    let mut req = mchat(&[], "2026-05-10");
    req.initial = follow_up(&[], &[1], "2025-11-10", "2025-11-20").initial;
    assert_eq!(error_fields(&req), vec!["initial"]);
}

#[test]
fn follow_up_age_range_is_checked_at_the_initial_screening() {
    // Initial at 15 months is rejected under `initial.`.
    let early = follow_up(
        &[("1", 0), ("2", 0), ("3", 0)],
        &[1, 2, 3],
        "2025-07-09",
        "2025-07-20",
    );
    assert_eq!(error_fields(&early), vec!["initial.administered_on"]);
    // Initial at 30 months, Follow-Up a week later at 31 months: accepted.
    let late = follow_up(
        &[("1", 1), ("2", 1), ("3", 0)],
        &[1, 2, 3],
        "2026-10-09",
        "2026-10-16",
    );
    let r = score(&late);
    assert_eq!(r.age_months, 31);
    assert_eq!(band(&r, "total"), Some("positive"));
}
