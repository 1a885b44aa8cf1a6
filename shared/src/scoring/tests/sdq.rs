//! SDQ golden vectors (parent 4–17, teacher 4–17, parent 2–4).
//!
//! Published rules: items 1–25 answered 0/1/2 as printed; items 7, 11, 14, 21, 25 score
//! 2 − answer. Emotional 3,8,13,16,24; conduct 5,7,12,18,22; hyperactivity 2,10,15,21,25;
//! peer 6,11,14,19,23; prosocial 1,4,9,17,20. A scale needs 3 of 5 answers: mean × 5,
//! rounded half up. Impact items score 0,0,1,2; impact is 0 when `difficulties` is 0.

use super::*;

const PARENT: &str = "sdq-parent-4-17";
const TEACHER: &str = "sdq-teacher-4-17";
const TODDLER: &str = "sdq-parent-2-4";
/// Born 2019-05-02, seen 2026-10-01: 7 years 4 months 29 days = 88 completed months.
const BORN: &str = "2019-05-02";
const SEEN: &str = "2026-10-01";

const SCALES: [(&str, [u8; 5]); 5] = [
    ("emotional", [3, 8, 13, 16, 24]),
    ("conduct", [5, 7, 12, 18, 22]),
    ("hyperactivity", [2, 10, 15, 21, 25]),
    ("peer", [6, 11, 14, 19, 23]),
    ("prosocial", [1, 4, 9, 17, 20]),
];
const REVERSED: [u8; 5] = [7, 11, 14, 21, 25];

/// Answers giving each scale the wanted value `[emotional, conduct, hyperactivity, peer,
/// prosocial]`: the value is spread over the scale's items in order as item scores 2,2,..,rest,0
/// (e.g. 5 → 2,2,1,0,0), and a reversed item's answer is 2 − its item score.
pub(super) fn scale_answers(values: [i64; 5]) -> Vec<(String, i64)> {
    let mut answers = Vec::new();
    for ((_, items), value) in SCALES.iter().zip(values) {
        let mut rest = value;
        for item in items {
            let item_score = rest.min(2);
            rest -= item_score;
            let answer = if REVERSED.contains(item) {
                2 - item_score
            } else {
                item_score
            };
            answers.push((item.to_string(), answer));
        }
        assert_eq!(rest, 0, "a scale holds at most 10");
    }
    answers
}

/// A request seen on 2026-10-01: 88 months old for the 4–17 forms, 40 months (born 2023-05-02)
/// for the 2–4 form.
fn sdq_request(instrument: &str, answers: &[(String, i64)], extra: &[(&str, i64)]) -> ScoreRequest {
    let mut all: Vec<(&str, i64)> = answers.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    all.extend_from_slice(extra);
    let born = if instrument == TODDLER {
        "2023-05-02"
    } else {
        BORN
    };
    request(instrument, &all, SEEN, born)
}

#[test]
fn scale_answers_helper_applies_reverse_coding() {
    // Conduct 3 → item scores 5:2, 7:1, 12:0, 18:0, 22:0; item 7 is reversed so its answer is 2 − 1 = 1.
    let a = scale_answers([0, 3, 0, 0, 0]);
    let get = |k: &str| a.iter().find(|(i, _)| i == k).map(|(_, v)| *v);
    assert_eq!((get("5"), get("7"), get("12")), (Some(2), Some(1), Some(0)));
    // Peer 0 → reversed items 11 and 14 answered 2 (item score 2 − 2 = 0).
    assert_eq!(
        (get("11"), get("14"), get("6")),
        (Some(2), Some(2), Some(0))
    );
}

#[test]
fn all_answers_zero_scores_the_reversed_items_two() {
    // Every printed answer 0, difficulties 0:
    // emotional 0; conduct 7→2 = 2; hyperactivity 21→2 + 25→2 = 4; peer 11→2 + 14→2 = 4;
    // prosocial 0; total 0+2+4+4 = 10; externalising 2+4 = 6; internalising 0+4 = 4; impact 0.
    let answers: Vec<(String, i64)> = (1..=25).map(|i| (i.to_string(), 0)).collect();
    let r = score(&sdq_request(PARENT, &answers, &[("difficulties", 0)]));
    assert_eq!(value(&r, "emotional"), Some(0));
    assert_eq!(value(&r, "conduct"), Some(2));
    assert_eq!(value(&r, "hyperactivity"), Some(4));
    assert_eq!(value(&r, "peer"), Some(4));
    assert_eq!(value(&r, "prosocial"), Some(0));
    assert_eq!(value(&r, "total_difficulties"), Some(10));
    assert_eq!(value(&r, "externalising"), Some(6));
    assert_eq!(value(&r, "internalising"), Some(4));
    assert_eq!(value(&r, "impact"), Some(0));
    // Parent bands: total 10 ≤ 13 close; peer 4 = high; prosocial 0 ≤ 5 very low.
    assert_eq!(band(&r, "total_difficulties"), Some("close_to_average"));
    assert_eq!(band(&r, "peer"), Some("high"));
    assert_eq!(band(&r, "prosocial"), Some("very_low"));
    assert_eq!(
        band(&r, "externalising"),
        None,
        "externalising has no bands"
    );
    assert_eq!(band(&r, "impact"), Some("close_to_average"));
    assert_eq!(r.risk_level, RiskLevel::Low);
    assert_eq!(r.flags, vec!["peer_high", "prosocial_low"]);
    assert!(r.recommendations.is_empty());
    assert_eq!(r.age_months, 88);
    assert_eq!(r.corrected_age_months, None);
}

#[test]
fn all_answers_two_scores_the_reversed_items_zero() {
    // Every printed answer 2: emotional 10; conduct 2+0+2+2+2 = 8; hyperactivity 2+2+2+0+0 = 6;
    // peer 2+0+0+2+2 = 6; prosocial 10; total 10+8+6+6 = 30; ext 14; int 16.
    let answers: Vec<(String, i64)> = (1..=25).map(|i| (i.to_string(), 2)).collect();
    let r = score(&sdq_request(PARENT, &answers, &[("difficulties", 0)]));
    let values: Vec<Option<i64>> = [
        "emotional",
        "conduct",
        "hyperactivity",
        "peer",
        "prosocial",
        "total_difficulties",
        "externalising",
        "internalising",
    ]
    .iter()
    .map(|s| value(&r, s))
    .collect();
    assert_eq!(values, [10, 8, 6, 6, 10, 30, 14, 16].map(Some).to_vec());
    assert_eq!(band(&r, "total_difficulties"), Some("very_high"));
    // Total very high → high risk, in-depth assessment; conduct very high at 88 months (36–107)
    // → Incredible Years; emotional very high at 88 months (≥ 84) → Cool Kids.
    assert_eq!(r.risk_level, RiskLevel::High);
    assert_eq!(r.flags, vec!["emotional_high", "conduct_high", "peer_high"]);
    assert_eq!(
        recs(&r),
        vec![
            IN_DEPTH,
            programme("incredible-years-parents"),
            programme("cool-kids"),
        ]
    );
    assert_eq!(r.recommendations[0].rule, "sdq-total-high");
}

#[test]
fn proration_with_four_answered_items_rounds_half_up() {
    // Emotional, item 24 missing: 3:1, 8:1, 13:0, 16:0 → sum 2, 2 × 5 / 4 = 2.5 → 3 (half up;
    // banker's rounding would give 2).
    let r = score(&sdq_request(
        PARENT,
        &[],
        &[("3", 1), ("8", 1), ("13", 0), ("16", 0)],
    ));
    assert_eq!(value(&r, "emotional"), Some(3));
    // 3:2, 8:2, 13:2, 16:0 → sum 6, 6 × 5 / 4 = 7.5 → 8.
    let r = score(&sdq_request(
        PARENT,
        &[],
        &[("3", 2), ("8", 2), ("13", 2), ("16", 0)],
    ));
    assert_eq!(value(&r, "emotional"), Some(8));
    // 3:1, 8:0, 13:0, 24:0 → sum 1, 1 × 5 / 4 = 1.25 → 1.
    let r = score(&sdq_request(
        PARENT,
        &[],
        &[("3", 1), ("8", 0), ("13", 0), ("24", 0)],
    ));
    assert_eq!(value(&r, "emotional"), Some(1));
    let text = &r
        .explanation
        .iter()
        .find(|e| e.rule == "score.emotional")
        .expect("explained")
        .text;
    assert_eq!(
        text,
        "4 of 5 items: 1 × 5 / 4 = 1.25 → 1 (half up); band close_to_average (0–3)"
    );
}

#[test]
fn proration_with_three_answered_items() {
    // 3:2, 8:1, 13:1 → sum 4, 4 × 5 / 3 = 6.67 → 7.
    let r = score(&sdq_request(PARENT, &[], &[("3", 2), ("8", 1), ("13", 1)]));
    assert_eq!(value(&r, "emotional"), Some(7));
    // 3:1, 8:0, 13:0 → 5 / 3 = 1.67 → 2.
    let r = score(&sdq_request(PARENT, &[], &[("3", 1), ("8", 0), ("13", 0)]));
    assert_eq!(value(&r, "emotional"), Some(2));
    // 3:2, 8:2, 13:1 → 25 / 3 = 8.33 → 8.
    let r = score(&sdq_request(PARENT, &[], &[("3", 2), ("8", 2), ("13", 1)]));
    assert_eq!(value(&r, "emotional"), Some(8));
    // With a reversed item: conduct 5:1, 7:0 (→ 2), 12:0 → sum 3, 3 × 5 / 3 = 5.
    let r = score(&sdq_request(PARENT, &[], &[("5", 1), ("7", 0), ("12", 0)]));
    assert_eq!(value(&r, "conduct"), Some(5));
    // Hyperactivity 21:2 (→ 0), 25:1 (→ 1), 2:0 → sum 1, 5 / 3 = 1.67 → 2.
    let r = score(&sdq_request(PARENT, &[], &[("21", 2), ("25", 1), ("2", 0)]));
    assert_eq!(value(&r, "hyperactivity"), Some(2));
}

#[test]
fn two_answered_items_give_no_scale_and_no_total() {
    // Emotional from 2 items is null, so total difficulties and internalising are null too;
    // the other scales are complete (all answers 1 → every item scores 1 → 5 each).
    let answers: Vec<(String, i64)> = (1..=25)
        .filter(|i| ![3, 8, 13].contains(i))
        .map(|i| (i.to_string(), 1))
        .collect();
    let r = score(&sdq_request(PARENT, &answers, &[("difficulties", 0)]));
    assert_eq!(value(&r, "emotional"), None);
    assert_eq!(band(&r, "emotional"), None);
    assert_eq!(value(&r, "conduct"), Some(5));
    assert_eq!(value(&r, "total_difficulties"), None);
    assert_eq!(value(&r, "internalising"), None);
    assert_eq!(value(&r, "externalising"), Some(10));
    assert_eq!(r.risk_level, RiskLevel::Medium);
    assert!(r.flags.contains(&"incomplete".to_owned()));
}

#[test]
fn all_missing_gives_null_scores_and_asks_to_administer_again() {
    for instrument in [PARENT, TEACHER, TODDLER] {
        let born = if instrument == TODDLER {
            "2023-05-02"
        } else {
            BORN
        };
        let r = score(&request(instrument, &[], SEEN, born));
        assert!(
            r.scores
                .values()
                .all(|s| s.value.is_none() && s.band.is_none()),
            "{instrument}"
        );
        assert_eq!(r.scores.len(), 9, "{instrument} reports every score");
        assert_eq!(r.risk_level, RiskLevel::Medium);
        assert_eq!(r.flags, vec!["incomplete"]);
        assert_eq!(
            recs(&r),
            vec![(RecommendationKind::Rescreen, Some(date(SEEN)), None)]
        );
    }
}

#[test]
fn impact_rules() {
    // difficulties 0 → impact 0, even if impact items were answered.
    let r = score(&sdq_request(
        PARENT,
        &[],
        &[("difficulties", 0), ("impact_home", 3)],
    ));
    assert_eq!(value(&r, "impact"), Some(0));
    // difficulties 2; distress 3 → 2, home 2 → 1, friendships 1 → 0, learning 0 → 0,
    // leisure 3 → 2: impact 5 → very high (parent 3+).
    let items = [
        ("difficulties", 2),
        ("impact_distress", 3),
        ("impact_home", 2),
        ("impact_friendships", 1),
        ("impact_learning", 0),
        ("impact_leisure", 3),
    ];
    let r = score(&sdq_request(PARENT, &[], &items));
    assert_eq!(value(&r, "impact"), Some(5));
    assert_eq!(band(&r, "impact"), Some("very_high"));
    // One impact item missing → null.
    let r = score(&sdq_request(PARENT, &[], &items[..5]));
    assert_eq!(value(&r, "impact"), None);
    // difficulties unanswered but every impact item answered → their sum (official syntax).
    let r = score(&sdq_request(PARENT, &[], &items[1..]));
    assert_eq!(value(&r, "impact"), Some(5));
    // Teacher: three impact items, distress 2 → 1, friendships 3 → 2, learning 3 → 2 = 5.
    let r = score(&sdq_request(
        TEACHER,
        &[],
        &[
            ("difficulties", 1),
            ("impact_distress", 2),
            ("impact_friendships", 3),
            ("impact_learning", 3),
        ],
    ));
    assert_eq!(value(&r, "impact"), Some(5));
    assert_eq!(band(&r, "impact"), Some("very_high"));
    // The teacher form has no home or leisure item.
    let bad = sdq_request(TEACHER, &[], &[("impact_home", 1)]);
    assert_eq!(error_fields(&bad), vec!["answers.impact_home"]);
}

/// `(scale values, total expected band)` checks go through real answers.
fn scale_band(instrument: &str, scale: usize, v: i64) -> (Option<i64>, Option<String>) {
    let mut values = [0i64; 5];
    values[scale] = v;
    let r = score(&sdq_request(
        instrument,
        &scale_answers(values),
        &[("difficulties", 0)],
    ));
    let id = SCALES[scale].0;
    (value(&r, id), band(&r, id).map(str::to_owned))
}

fn check_scale_bands(instrument: &str, scale: usize, expected: &[(i64, &str)]) {
    for (v, b) in expected {
        assert_eq!(
            scale_band(instrument, scale, *v),
            (Some(*v), Some((*b).to_owned())),
            "{instrument} {} = {v}",
            SCALES[scale].0
        );
    }
}

fn check_total_bands(instrument: &str, expected: &[(i64, &str)]) {
    for (v, b) in expected {
        // Spread the total over emotional, conduct, hyperactivity, peer (10 each at most).
        let mut values = [0i64; 5];
        let mut rest = *v;
        for slot in values.iter_mut().take(4) {
            *slot = rest.min(10);
            rest -= *slot;
        }
        let r = score(&sdq_request(
            instrument,
            &scale_answers(values),
            &[("difficulties", 0)],
        ));
        assert_eq!(
            value(&r, "total_difficulties"),
            Some(*v),
            "{instrument} total {v}"
        );
        assert_eq!(
            band(&r, "total_difficulties"),
            Some(*b),
            "{instrument} total {v}"
        );
    }
}

fn check_impact_bands(instrument: &str, items: &[&str], expected: &[(i64, &str)]) {
    for (v, b) in expected {
        // Impact v from items scoring 2 (answer 3) then 1 (answer 2) then 0 (answer 0).
        let mut rest = *v;
        let mut answers = vec![("difficulties", 1)];
        for item in items {
            let s = rest.min(2);
            rest -= s;
            answers.push((*item, [0, 2, 3][s as usize]));
        }
        let r = score(&sdq_request(instrument, &[], &answers));
        assert_eq!(value(&r, "impact"), Some(*v), "{instrument} impact {v}");
        assert_eq!(band(&r, "impact"), Some(*b), "{instrument} impact {v}");
    }
}

const PARENT_IMPACT: [&str; 5] = [
    "impact_distress",
    "impact_home",
    "impact_friendships",
    "impact_learning",
    "impact_leisure",
];
const TEACHER_IMPACT: [&str; 3] = ["impact_distress", "impact_friendships", "impact_learning"];
const C: &str = "close_to_average";
const S: &str = "slightly_raised";
const H: &str = "high";
const V: &str = "very_high";

/// Parent four-band cut-offs: every boundary, both sides, and the ends of the range.
fn check_parent_norms(instrument: &str) {
    // total 0–13 / 14–16 / 17–19 / 20–40
    check_total_bands(
        instrument,
        &[
            (0, C),
            (13, C),
            (14, S),
            (16, S),
            (17, H),
            (19, H),
            (20, V),
            (40, V),
        ],
    );
    // emotional 0–3 / 4 / 5–6 / 7–10
    check_scale_bands(
        instrument,
        0,
        &[(0, C), (3, C), (4, S), (5, H), (6, H), (7, V), (10, V)],
    );
    // conduct 0–2 / 3 / 4–5 / 6–10
    check_scale_bands(
        instrument,
        1,
        &[(0, C), (2, C), (3, S), (4, H), (5, H), (6, V), (10, V)],
    );
    // hyperactivity 0–5 / 6–7 / 8 / 9–10
    check_scale_bands(
        instrument,
        2,
        &[(0, C), (5, C), (6, S), (7, S), (8, H), (9, V), (10, V)],
    );
    // peer 0–2 / 3 / 4 / 5–10
    check_scale_bands(
        instrument,
        3,
        &[(0, C), (2, C), (3, S), (4, H), (5, V), (10, V)],
    );
    // prosocial 8–10 close / 7 slightly lowered / 6 low / 0–5 very low
    check_scale_bands(
        instrument,
        4,
        &[
            (10, C),
            (8, C),
            (7, "slightly_lowered"),
            (6, "low"),
            (5, "very_low"),
            (0, "very_low"),
        ],
    );
    // impact 0 / 1 / 2 / 3+ (max 10)
    check_impact_bands(
        instrument,
        &PARENT_IMPACT,
        &[(0, C), (1, S), (2, H), (3, V), (10, V)],
    );
}

#[test]
fn parent_4_17_every_band_boundary() {
    check_parent_norms(PARENT);
}

#[test]
fn parent_2_4_every_band_boundary() {
    // The 2–4 form uses the parent cut-offs (see its definition's notes).
    check_parent_norms(TODDLER);
}

#[test]
fn teacher_every_band_boundary() {
    // total 0–11 / 12–15 / 16–18 / 19–40
    check_total_bands(
        TEACHER,
        &[
            (0, C),
            (11, C),
            (12, S),
            (15, S),
            (16, H),
            (18, H),
            (19, V),
            (40, V),
        ],
    );
    // emotional 0–3 / 4 / 5 / 6–10
    check_scale_bands(
        TEACHER,
        0,
        &[(0, C), (3, C), (4, S), (5, H), (6, V), (10, V)],
    );
    // conduct 0–2 / 3 / 4 / 5–10
    check_scale_bands(
        TEACHER,
        1,
        &[(0, C), (2, C), (3, S), (4, H), (5, V), (10, V)],
    );
    // hyperactivity 0–5 / 6–7 / 8 / 9–10
    check_scale_bands(
        TEACHER,
        2,
        &[(0, C), (5, C), (6, S), (7, S), (8, H), (9, V), (10, V)],
    );
    // peer 0–2 / 3–4 / 5 / 6–10
    check_scale_bands(
        TEACHER,
        3,
        &[(0, C), (2, C), (3, S), (4, S), (5, H), (6, V), (10, V)],
    );
    // prosocial 6–10 close / 5 slightly lowered / 4 low / 0–3 very low
    check_scale_bands(
        TEACHER,
        4,
        &[
            (10, C),
            (6, C),
            (5, "slightly_lowered"),
            (4, "low"),
            (3, "very_low"),
            (0, "very_low"),
        ],
    );
    // impact 0 / 1 / 2 / 3+ (max 6 with three items)
    check_impact_bands(
        TEACHER,
        &TEACHER_IMPACT,
        &[(0, C), (1, S), (2, H), (3, V), (6, V)],
    );
}

#[test]
fn age_range_edges() {
    // Born 2020-01-15: 47 months on 2024-01-14, 48 on 2024-01-15; 215 on 2038-01-14, 216 on 2038-01-15.
    for instrument in [PARENT, TEACHER] {
        let at = |day: &str| request(instrument, &[], day, "2020-01-15");
        assert_eq!(
            error_fields(&at("2024-01-14")),
            vec!["administered_on"],
            "{instrument} 47"
        );
        assert_eq!(score(&at("2024-01-15")).age_months, 48);
        assert_eq!(score(&at("2038-01-14")).age_months, 215);
        assert_eq!(
            error_fields(&at("2038-01-15")),
            vec!["administered_on"],
            "{instrument} 216"
        );
    }
    // 2–4 form: 24–59 months. Born 2022-03-31: + 24 months = 2024-03-31, so 2024-03-30 is 23
    // months; + 59 months = 2027-02-28 (end of February) and + 60 months = 2027-03-31.
    let at = |day: &str| request(TODDLER, &[], day, "2022-03-31");
    assert_eq!(error_fields(&at("2024-03-30")), vec!["administered_on"]);
    assert_eq!(score(&at("2024-03-31")).age_months, 24);
    assert_eq!(score(&at("2027-03-30")).age_months, 59);
    assert_eq!(error_fields(&at("2027-03-31")), vec!["administered_on"]);
    let (field, reason) = errors(&at("2027-03-31")).remove(0);
    assert_eq!(field, "administered_on");
    assert!(
        reason.contains("60 completed months") && reason.contains("24–59"),
        "{reason}"
    );
}

#[test]
fn parent_2_4_bands_at_three_years() {
    // Born 2023-05-02, seen 2026-10-01: 40 completed months, inside 24–59.
    let answers: Vec<(String, i64)> = (1..=25).map(|i| (i.to_string(), 2)).collect();
    let r = score(&sdq_request(TODDLER, &answers, &[("difficulties", 0)]));
    assert_eq!(r.age_months, 40);
    // Same arithmetic as the 4–17 form: total 30 very high; conduct 8 → Incredible Years;
    // no Cool Kids rule on the 2–4 form.
    assert_eq!(value(&r, "total_difficulties"), Some(30));
    assert_eq!(band(&r, "total_difficulties"), Some(V));
    assert_eq!(
        recs(&r),
        vec![IN_DEPTH, programme("incredible-years-parents")]
    );
}

#[test]
fn no_prematurity_correction() {
    // Born at 28 weeks, 24 months chronological (2022-03-31 → 2024-03-31): the 2–4 form has no
    // correction policy, so the age stays 24 and is in range (corrected it would be 21).
    let mut req = request(TODDLER, &[], "2024-03-31", "2022-03-31");
    req.child.gestational_age_weeks = Some(28);
    let r = score(&req);
    assert_eq!((r.age_months, r.corrected_age_months), (24, None));
    let mut req = request(PARENT, &[], SEEN, BORN);
    req.child.gestational_age_weeks = Some(30);
    assert_eq!(score(&req).corrected_age_months, None);
}

#[test]
fn risk_levels_and_recommendations_of_the_policy_rules() {
    // Total 14 (slightly raised) → medium, rescreen in 6 months (2026-10-01 + 6 months).
    let r = score(&sdq_request(
        PARENT,
        &scale_answers([4, 3, 5, 2, 10]),
        &[("difficulties", 0)],
    ));
    assert_eq!(value(&r, "total_difficulties"), Some(14));
    assert_eq!(r.risk_level, RiskLevel::Medium);
    assert_eq!(
        recs(&r),
        vec![(RecommendationKind::Rescreen, Some(date("2027-04-01")), None)]
    );
    // Impact 1 alone is slightly raised: same rescreen, not repeated.
    let mut answers = scale_answers([4, 3, 5, 2, 10]);
    answers.push(("impact_home".into(), 2));
    for item in [
        "impact_distress",
        "impact_friendships",
        "impact_learning",
        "impact_leisure",
    ] {
        answers.push((item.into(), 0));
    }
    let r = score(&sdq_request(PARENT, &answers, &[("difficulties", 1)]));
    assert_eq!(value(&r, "impact"), Some(1));
    assert_eq!(r.recommendations.len(), 1);
    // Explanation names every rule that fired.
    let rules: Vec<&str> = r.explanation.iter().map(|e| e.rule.as_str()).collect();
    assert!(rules.contains(&"sdq-total-slightly-raised"));
    assert!(rules.contains(&"sdq-impact-slightly-raised"));
    assert!(rules.contains(&"score.total_difficulties"));
}

#[test]
fn answers_are_checked_against_the_codings() {
    let bad = request(
        PARENT,
        &[("1", 3), ("7", -1), ("difficulties", 4), ("99", 1)],
        SEEN,
        BORN,
    );
    let errs = errors(&bad);
    let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "answers.1",
            "answers.7",
            "answers.difficulties",
            "answers.99"
        ]
    );
    assert!(errs[0].1.contains("allowed 0–2"), "{}", errs[0].1);
    assert!(errs[2].1.contains("allowed 0–3"), "{}", errs[2].1);
    assert!(errs[3].1.contains("unknown item"), "{}", errs[3].1);
    // Non-integers are named with what they were.
    let mut req = request(PARENT, &[], SEEN, BORN);
    req.answers.insert("2".into(), serde_json::json!("1"));
    req.answers.insert("3".into(), serde_json::json!(1.0));
    req.answers.insert("4".into(), serde_json::json!(null));
    let errs = errors(&req);
    assert_eq!(
        errs[0],
        (
            "answers.2".into(),
            "must be an integer answer code 0–2, got a string".into()
        )
    );
    assert!(errs[1].1.ends_with("got a decimal number"));
    assert!(errs[2].1.ends_with("got null"));
}
