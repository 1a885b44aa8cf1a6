//! EPDS golden vectors.
//!
//! Published rules (Cox, Holden & Sagovsky 1987): 10 items, answer = printed option index 0–3;
//! items 1, 2, 4 score as the index, items 3 and 5–10 score 3 − index. Total 0–30: ≥ 13 high,
//! 10–12 medium. Any score above 0 on item 10 raises `self_harm` and makes the result urgent.

use super::*;

/// Born 2025-12-01; seen 2026-01-10 (1 month postnatal).
const BORN: &str = "2025-12-01";
const SEEN: &str = "2026-01-10";

/// Answers giving item scores `scores` (items 1–10): index = score for items 1, 2, 4 and
/// 3 − score for the others.
pub(super) fn epds_answers(scores: [i64; 10]) -> Vec<(String, i64)> {
    scores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let item = i + 1;
            let answer = if [1, 2, 4].contains(&item) { *s } else { 3 - s };
            (item.to_string(), answer)
        })
        .collect()
}

fn epds(scores: [i64; 10]) -> ScoreRequest {
    let answers = epds_answers(scores);
    let pairs: Vec<(&str, i64)> = answers.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    request("epds", &pairs, SEEN, BORN)
}

#[test]
fn items_3_and_5_to_10_are_reverse_scored() {
    // All answers 0: items 1, 2, 4 score 0; items 3, 5–10 score 3 each: 7 × 3 = 21.
    let zeros: Vec<(String, i64)> = (1..=10).map(|i| (i.to_string(), 0)).collect();
    let pairs: Vec<(&str, i64)> = zeros.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let r = score(&request("epds", &pairs, SEEN, BORN));
    assert_eq!(value(&r, "total"), Some(21));
    assert_eq!(band(&r, "total"), Some("probable_depression"));
    // Item 10 answered 0 scores 3 > 0: self-harm, urgent.
    assert_eq!(r.risk_level, RiskLevel::Urgent);
    assert_eq!(r.flags, vec!["self_harm"]);
    assert_eq!(
        recs(&r),
        vec![
            (RecommendationKind::ReferralUrgent, Some(date(SEEN)), None),
            IN_DEPTH,
            programme("postnatal-depression-support"),
        ]
    );
    // All answers 3: items 1, 2, 4 score 3 each = 9; the others 0.
    let threes: Vec<(String, i64)> = (1..=10).map(|i| (i.to_string(), 3)).collect();
    let pairs: Vec<(&str, i64)> = threes.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let r = score(&request("epds", &pairs, SEEN, BORN));
    assert_eq!(value(&r, "total"), Some(9));
    assert_eq!(r.risk_level, RiskLevel::Low);
    assert!(r.flags.is_empty());
}

#[test]
fn every_band_boundary() {
    let cases: [([i64; 10], i64, &str, RiskLevel); 6] = [
        ([0; 10], 0, "below_threshold", RiskLevel::Low),
        (
            [3, 3, 3, 0, 0, 0, 0, 0, 0, 0],
            9,
            "below_threshold",
            RiskLevel::Low,
        ),
        (
            [3, 3, 3, 1, 0, 0, 0, 0, 0, 0],
            10,
            "possible_depression",
            RiskLevel::Medium,
        ),
        (
            [3, 3, 3, 3, 0, 0, 0, 0, 0, 0],
            12,
            "possible_depression",
            RiskLevel::Medium,
        ),
        (
            [3, 3, 3, 3, 1, 0, 0, 0, 0, 0],
            13,
            "probable_depression",
            RiskLevel::High,
        ),
        (
            [3, 3, 3, 3, 3, 3, 3, 3, 3, 3],
            30,
            "probable_depression",
            RiskLevel::Urgent,
        ),
    ];
    for (scores, total, expected_band, risk) in cases {
        let r = score(&epds(scores));
        assert_eq!(value(&r, "total"), Some(total), "{scores:?}");
        assert_eq!(band(&r, "total"), Some(expected_band), "total {total}");
        assert_eq!(r.risk_level, risk, "total {total}");
    }
    // 10–12: repeat in 2 weeks (2026-01-10 + 14 days).
    let r = score(&epds([3, 3, 3, 1, 0, 0, 0, 0, 0, 0]));
    assert_eq!(
        recs(&r),
        vec![(RecommendationKind::Rescreen, Some(date("2026-01-24")), None)]
    );
    // 13: in-depth assessment and the programme.
    let r = score(&epds([3, 3, 3, 3, 1, 0, 0, 0, 0, 0]));
    assert_eq!(r.recommendations.len(), 2);
    assert!(r.flags.is_empty());
}

#[test]
fn item_10_is_urgent_regardless_of_the_total() {
    // Item 10 scores 1 (answer 2), everything else 0: total 1, yet urgent.
    let r = score(&epds([0, 0, 0, 0, 0, 0, 0, 0, 0, 1]));
    assert_eq!(value(&r, "total"), Some(1));
    assert_eq!(band(&r, "total"), Some("below_threshold"));
    assert_eq!(r.risk_level, RiskLevel::Urgent);
    assert_eq!(r.flags, vec!["self_harm"]);
    assert_eq!(
        recs(&r),
        vec![(RecommendationKind::ReferralUrgent, Some(date(SEEN)), None)]
    );
    let why = r
        .explanation
        .iter()
        .find(|e| e.rule == "epds-self-harm")
        .expect("explained");
    assert!(why.text.contains("risk urgent"), "{}", why.text);
    // Even when the other items are missing (no total).
    let r = score(&request("epds", &[("10", 1)], SEEN, BORN));
    assert_eq!(value(&r, "total"), None);
    assert_eq!(r.risk_level, RiskLevel::Urgent);
    assert_eq!(r.flags, vec!["self_harm", "incomplete"]);
    // Item 10 answered 3 scores 0: no flag.
    let r = score(&epds([0; 10]));
    assert!(r.flags.is_empty());
}

#[test]
fn all_missing_and_partly_missing() {
    let r = score(&request("epds", &[], SEEN, BORN));
    assert_eq!(value(&r, "total"), None);
    assert_eq!(r.risk_level, RiskLevel::Medium);
    assert_eq!(r.flags, vec!["incomplete"]);
    // Nine of ten answered: no total (the EPDS is not prorated).
    let mut req = epds([1; 10]);
    req.answers.remove("4");
    assert_eq!(value(&score(&req), "total"), None);
}

#[test]
fn age_range_from_nine_months_before_birth_to_twelve_after() {
    // Expected birth 2026-06-15: from 2025-08-16 it is 9 completed months (16 Aug + 10 months
    // = 16 Jun, after the 15th) before birth, so -9; from 2025-08-15 exactly 10 months: -10.
    let at = |day: &str| request("epds", &[], day, "2026-06-15");
    assert_eq!(score(&at("2025-08-16")).age_months, -9);
    assert_eq!(error_fields(&at("2025-08-15")), vec!["administered_on"]);
    assert_eq!(score(&at("2026-03-01")).age_months, -3);
    // After birth 2025-12-01: 12 months until 2026-12-31, 13 on 2027-01-01.
    let at = |day: &str| request("epds", &[], day, BORN);
    assert_eq!(score(&at("2026-12-31")).age_months, 12);
    assert_eq!(error_fields(&at("2027-01-01")), vec!["administered_on"]);
}

#[test]
fn no_prematurity_correction() {
    let mut req = epds([0; 10]);
    req.child.gestational_age_weeks = Some(30);
    assert_eq!(score(&req).corrected_age_months, None);
}
