//! Golden vectors of the demonstration ASQ-style instrument (`demo-asq-style`).
//!
//! Its rules (all invented numbers, see the definition): 30 items, answers 0 = yes, 1 =
//! sometimes, 2 = not yet scoring 10 / 5 / 0; five areas of six items (communication 1–6,
//! gross motor 7–12, fine motor 13–18, problem solving 19–24, personal-social 25–30); an area
//! needs 4 of 6 answers: sum × 6 / answered, rounded half up. Interval tables by corrected age:
//! 12m (10–14 months), 18m (15–20), 24m (21–26), each area with bands below_cutoff / monitoring
//! / on_schedule.

use super::*;

const DEMO: &str = "demo-asq-style";
const DOMAINS: [&str; 5] = [
    "communication",
    "gross_motor",
    "fine_motor",
    "problem_solving",
    "personal_social",
];

/// Born 2025-01-10, term: 12 completed months on 2026-01-10.
const BORN: &str = "2025-01-10";
const SEEN: &str = "2026-01-20";

fn demo(answers: &[(String, i64)], on: &str, born: &str) -> ScoreRequest {
    let pairs: Vec<(&str, i64)> = answers.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    request(DEMO, &pairs, on, born)
}

fn all(answer: i64) -> Vec<(String, i64)> {
    (1..=30).map(|i| (i.to_string(), answer)).collect()
}

#[test]
fn answers_score_10_5_0() {
    // All "yes": 6 × 10 = 60 per area, on schedule.
    let r = score(&demo(&all(0), SEEN, BORN));
    for d in DOMAINS {
        assert_eq!(scored(&r, d), (Some(60), Some("on_schedule")), "{d}");
    }
    assert_eq!(r.risk_level, RiskLevel::Low);
    // All "sometimes": 6 × 5 = 30. In the 12m table: communication 30 on schedule (30–60),
    // gross motor 30 monitoring (21–34), fine motor 30 below cut-off (0–30).
    let r = score(&demo(&all(1), SEEN, BORN));
    assert_eq!(value(&r, "communication"), Some(30));
    assert_eq!(band(&r, "communication"), Some("on_schedule"));
    assert_eq!(band(&r, "gross_motor"), Some("monitoring"));
    assert_eq!(band(&r, "fine_motor"), Some("below_cutoff"));
    assert_eq!(r.risk_level, RiskLevel::High);
    // All "not yet": 0 everywhere, below every cut-off; one referral, five flags.
    let r = score(&demo(&all(2), SEEN, BORN));
    assert!(DOMAINS.iter().all(|d| value(&r, d) == Some(0)));
    assert_eq!(r.flags.len(), 5);
    assert_eq!(recs(&r), vec![IN_DEPTH]);
    let why = r
        .explanation
        .iter()
        .find(|e| e.rule == "demo-communication-below-cutoff");
    assert!(why.is_some_and(|e| e.text.contains("[demonstration]")));
}

#[test]
fn proration_with_four_and_five_of_six_answered() {
    let mut answers = all(0);
    // Communication items 1–4 answered yes, yes, sometimes, not yet (10 + 10 + 5 + 0 = 25);
    // 5 and 6 missing: 25 × 6 / 4 = 37.5 → 38.
    answers.retain(|(k, _)| k != "5" && k != "6");
    answers[2].1 = 1;
    answers[3].1 = 2;
    // Gross motor: item 12 missing, 7–11 = yes ×3, sometimes, not yet = 35: 35 × 6 / 5 = 42.
    answers.retain(|(k, _)| k != "12");
    for (k, v) in answers.iter_mut() {
        match k.as_str() {
            "10" => *v = 1,
            "11" => *v = 2,
            _ => {}
        }
    }
    // Fine motor: only 13, 14, 15 answered (3 of 6): no score.
    answers.retain(|(k, _)| !["16", "17", "18"].contains(&k.as_str()));
    let r = score(&demo(&answers, SEEN, BORN));
    assert_eq!(value(&r, "communication"), Some(38));
    assert_eq!(value(&r, "gross_motor"), Some(42));
    assert_eq!(value(&r, "fine_motor"), None);
    assert_eq!(r.flags, vec!["incomplete"]);
    assert_eq!(r.risk_level, RiskLevel::Medium);
}

#[test]
fn all_missing() {
    let r = score(&demo(&[], SEEN, BORN));
    assert!(r.scores.values().all(|s| s.value.is_none()));
    assert_eq!(r.flags, vec!["incomplete"]);
    assert_eq!(
        recs(&r),
        vec![(RecommendationKind::Rescreen, Some(date(SEEN)), None)]
    );
}

#[test]
fn every_band_boundary_of_every_interval_table() {
    // (table, [(cut-off, top of monitoring zone)] per area), as written in the definition.
    let tables: [(&str, [(i64, i64); 5]); 3] = [
        ("12m", [(15, 29), (20, 34), (30, 44), (25, 39), (20, 34)]),
        ("18m", [(12, 26), (35, 47), (30, 42), (22, 35), (25, 38)]),
        ("24m", [(25, 38), (38, 49), (35, 46), (29, 41), (31, 43)]),
    ];
    let e = engine();
    for (table, cuts) in tables {
        for (d, (cut, top)) in DOMAINS.iter().zip(cuts) {
            let band = |v| e.band_in_table(DEMO, table, d, v);
            assert_eq!(band(0), Some("below_cutoff"), "{table} {d} 0");
            assert_eq!(band(cut), Some("below_cutoff"), "{table} {d} {cut}");
            assert_eq!(band(cut + 1), Some("monitoring"), "{table} {d} {}", cut + 1);
            assert_eq!(band(top), Some("monitoring"), "{table} {d} {top}");
            assert_eq!(
                band(top + 1),
                Some("on_schedule"),
                "{table} {d} {}",
                top + 1
            );
            assert_eq!(band(60), Some("on_schedule"), "{table} {d} 60");
        }
    }
    // And through scoring where answers reach a boundary exactly: 12m gross motor cut-off 20
    // (yes, yes, not yet ×4 = 20) and 25 (+ one sometimes) in the monitoring zone.
    let mut answers = all(0);
    for (k, v) in answers.iter_mut() {
        if ["9", "10", "11", "12"].contains(&k.as_str()) {
            *v = 2;
        }
    }
    let r = score(&demo(&answers, SEEN, BORN));
    assert_eq!(scored(&r, "gross_motor"), (Some(20), Some("below_cutoff")));
    answers[8].1 = 1; // item 9: sometimes → 25
    let r = score(&demo(&answers, SEEN, BORN));
    assert_eq!(scored(&r, "gross_motor"), (Some(25), Some("monitoring")));
    // Monitoring → medium, rescreen in 2 months (2026-01-20 + 2 months).
    assert_eq!(r.risk_level, RiskLevel::Medium);
    assert_eq!(
        recs(&r),
        vec![(RecommendationKind::Rescreen, Some(date("2026-03-20")), None)]
    );
}

#[test]
fn interval_is_chosen_by_age_with_edges() {
    // Born 2025-01-10 (term). Completed months on the 10th of each month.
    let table_at = |on: &str| score(&demo(&all(0), on, BORN)).norms.table;
    assert_eq!(
        error_fields(&demo(&all(0), "2025-11-09", BORN)),
        vec!["administered_on"]
    ); // 9
    assert_eq!(table_at("2025-11-10"), "12m"); // 10
    assert_eq!(table_at("2026-03-10"), "12m"); // 14
    assert_eq!(table_at("2026-04-10"), "18m"); // 15
    assert_eq!(table_at("2026-09-10"), "18m"); // 20
    assert_eq!(table_at("2026-10-10"), "24m"); // 21
    assert_eq!(table_at("2027-03-10"), "24m"); // 26
    assert_eq!(
        error_fields(&demo(&all(0), "2027-04-10", BORN)),
        vec!["administered_on"]
    ); // 27
}

#[test]
fn prematurity_correction_before_24_months() {
    let premature = |on: &str, born: &str, weeks: u8| {
        let mut req = demo(&all(0), on, born);
        req.child.gestational_age_weeks = Some(weeks);
        req
    };
    // 32 weeks: 8 weeks (56 days) early; born 2025-01-10, corrected birth 2025-03-07; on
    // 2026-01-20 chronological 12, corrected 10 → 12m table.
    let r = score(&premature(SEEN, BORN, 32));
    assert_eq!((r.age_months, r.corrected_age_months), (12, Some(10)));
    assert_eq!(r.norms.table, "12m");
    assert!(r.explanation.iter().any(|e| e.rule == "age.corrected"));
    // 28 weeks: 12 weeks (84 days) early, corrected birth 2025-04-04; on 2026-04-10
    // chronological 15 (18m table at term) but corrected 12 → 12m table.
    let r = score(&premature("2026-04-10", BORN, 28));
    assert_eq!(
        (r.age_months, r.corrected_age_months, r.norms.table.as_str()),
        (15, Some(12), "12m")
    );
    // 30 weeks: 10 weeks (70 days) early, corrected birth 2025-03-21; on 2025-11-10
    // chronological 10 but corrected 7: outside 10–26.
    let errs = errors(&premature("2025-11-10", BORN, 30));
    assert_eq!(errs[0].0, "administered_on");
    assert!(
        errs[0]
            .1
            .contains("7 completed months old (corrected for prematurity)"),
        "{}",
        errs[0].1
    );
    // Chronological 23 (born 2024-01-10, on 2025-12-10) at 30 weeks: corrected birth
    // 2024-03-20, corrected 20 → 18m table. At 24 months chronological: no correction, 24m.
    let r = score(&premature("2025-12-10", "2024-01-10", 30));
    assert_eq!(
        (r.age_months, r.corrected_age_months, r.norms.table.as_str()),
        (23, Some(20), "18m")
    );
    let r = score(&premature("2026-01-10", "2024-01-10", 30));
    assert_eq!(
        (r.age_months, r.corrected_age_months, r.norms.table.as_str()),
        (24, None, "24m")
    );
    // 37 weeks is term for the policy: no correction. 36 weeks: 4 weeks (28 days) early,
    // corrected birth 2025-02-07, on 2026-01-20 corrected 11.
    assert_eq!(score(&premature(SEEN, BORN, 37)).corrected_age_months, None);
    assert_eq!(
        score(&premature(SEEN, BORN, 36)).corrected_age_months,
        Some(11)
    );
}

#[test]
fn implausible_gestational_age_is_rejected() {
    let mut req = demo(&all(0), SEEN, BORN);
    req.child.gestational_age_weeks = Some(12);
    assert_eq!(error_fields(&req), vec!["child.gestational_age_weeks"]);
}
