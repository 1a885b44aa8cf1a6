//! Client-flow rules: the risk rules that recommend a catalogue programme
//! (`referral_programme`), documented in `docs/SCORING.md` ("Client-flow rules").
//!
//! Each rule is checked at the edges of its age window (one month outside, first and last
//! month inside, where the instrument is scored there) and of its score band (the highest
//! value below the band, the lowest value in it), and every such rule is checked against the
//! catalogue: the programme exists, is not an instrument, and its target ages cover the
//! ages at which the rule can fire.

use super::*;
use crate::domain::catalogue::Catalogue;
use crate::scoring::InitialScreening;
use crate::scoring::definition::Condition;

/// Every screening here is administered on this day; the birth date sets the age.
const SEEN: &str = "2026-10-01";

/// The birth date that makes a child exactly `months` completed months old on [`SEEN`]
/// (negative: an expected date of delivery that many months ahead).
fn born_for(months: i32) -> String {
    let seen = date(SEEN);
    let born = if months >= 0 {
        seen.checked_sub_months(chrono::Months::new(months.unsigned_abs()))
    } else {
        seen.checked_add_months(chrono::Months::new(months.unsigned_abs()))
    };
    born.expect("in range").to_string()
}

/// The rules of a result that recommended `programme` (deduplicated recommendations are
/// credited to the first rule), and whether it was recommended at all.
fn programme_rules(r: &ScoreResult, programme: &str) -> Vec<String> {
    r.recommendations
        .iter()
        .filter(|rec| {
            rec.kind == RecommendationKind::ReferralProgramme
                && rec.programme.as_deref() == Some(programme)
        })
        .map(|rec| rec.rule.clone())
        .collect()
}

/// An SDQ request with the given scale values `[emotional, conduct, hyperactivity, peer,
/// prosocial]` for a child of `months`.
fn sdq_at(instrument: &str, scales: [i64; 5], months: i32) -> ScoreRequest {
    let answers = super::sdq::scale_answers(scales);
    let mut pairs: Vec<(&str, i64)> = answers.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    pairs.push(("difficulties", 0));
    request(instrument, &pairs, SEEN, &born_for(months))
}

/// One SDQ programme rule: the scale (index in the `scale_answers` order), its highest
/// value below `high` and lowest value in `high`, the age window, the programme and rule id.
struct SdqCase {
    instrument: &'static str,
    scale: usize,
    below: i64,
    high: i64,
    ages: (i32, i32),
    programme: &'static str,
    rule: &'static str,
}

fn check_sdq(case: &SdqCase) {
    let def = engine().instrument(case.instrument).expect("defined");
    let (first, last) = case.ages;
    // One month either side of the window, where the form is scored; the window's edges.
    let mut ages = vec![(first, true), (last, true)];
    for outside in [first - 1, last + 1] {
        if def.age_range.contains(outside) {
            ages.push((outside, false));
        }
    }
    for (months, in_window) in ages {
        for (value, in_band) in [(case.below, false), (case.high, true)] {
            let mut scales = [0, 0, 0, 0, 10];
            scales[case.scale] = value;
            let r = score(&sdq_at(case.instrument, scales, months));
            assert_eq!(r.age_months, months);
            let want = if in_window && in_band {
                vec![case.rule.to_owned()]
            } else {
                vec![]
            };
            assert_eq!(
                programme_rules(&r, case.programme),
                want,
                "{} scale {} = {value} at {months} months",
                case.instrument,
                case.scale
            );
        }
    }
}

const EMOTIONAL: usize = 0;
const CONDUCT: usize = 1;
const HYPERACTIVITY: usize = 2;

#[test]
fn incredible_years_for_conduct_or_hyperactivity_high_from_3_to_8_years() {
    // Parent and teacher cut-offs: conduct high from 4 (3 slightly raised), hyperactivity
    // high from 8 (7 slightly raised). Window 36–107 months (3 years to the last month of 8);
    // the 4–17 forms start at 48 months, the 2–4 form ends at 59.
    for (instrument, ages) in [
        ("sdq-parent-4-17", (48, 107)),
        ("sdq-teacher-4-17", (48, 107)),
        ("sdq-parent-2-4", (36, 59)),
    ] {
        for (scale, below, high, rule) in [
            (CONDUCT, 3, 4, "sdq-conduct-programme"),
            (HYPERACTIVITY, 7, 8, "sdq-hyperactivity-programme"),
        ] {
            check_sdq(&SdqCase {
                instrument,
                scale,
                below,
                high,
                ages,
                programme: "incredible-years-parents",
                rule,
            });
        }
    }
}

#[test]
fn conduct_and_hyperactivity_both_high_suggest_incredible_years_once() {
    let r = score(&sdq_at("sdq-parent-4-17", [0, 4, 8, 0, 10], 60));
    assert_eq!(
        programme_rules(&r, "incredible-years-parents"),
        vec!["sdq-conduct-programme"]
    );
    let fired: Vec<&str> = r.explanation.iter().map(|e| e.rule.as_str()).collect();
    assert!(fired.contains(&"sdq-hyperactivity-programme"), "{fired:?}");
}

#[test]
fn cool_kids_for_emotional_high_from_7_years() {
    // Emotional high from 5 (4 slightly raised) on both cut-off tables; from 84 months to the
    // end of the 4–17 forms (215). The 2–4 form has no Cool Kids rule.
    for instrument in ["sdq-parent-4-17", "sdq-teacher-4-17"] {
        check_sdq(&SdqCase {
            instrument,
            scale: EMOTIONAL,
            below: 4,
            high: 5,
            ages: (84, 215),
            programme: "cool-kids",
            rule: "sdq-emotional-programme",
        });
    }
    let r = score(&sdq_at("sdq-parent-2-4", [10, 0, 0, 0, 10], 59));
    assert!(programme_rules(&r, "cool-kids").is_empty());
}

#[test]
fn postnatal_depression_support_for_probable_depression_after_the_birth() {
    // Total 12 (possible depression) never; 13 (probable) from birth (0 months) to 12 months.
    // Before the birth (−1 month) the mother is referred for assessment, not to the programme.
    let twelve = [3, 3, 3, 3, 0, 0, 0, 0, 0, 0];
    let thirteen = [3, 3, 3, 3, 1, 0, 0, 0, 0, 0];
    for months in [-9, -1, 0, 12] {
        for (scores, in_band) in [(twelve, false), (thirteen, true)] {
            let answers = super::epds::epds_answers(scores);
            let pairs: Vec<(&str, i64)> = answers.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            let r = score(&request("epds", &pairs, SEEN, &born_for(months)));
            assert_eq!(r.age_months, months);
            let want = if in_band && months >= 0 {
                vec!["epds-probable-depression-programme".to_owned()]
            } else {
                vec![]
            };
            assert_eq!(
                programme_rules(&r, "postnatal-depression-support"),
                want,
                "{scores:?} at {months} months"
            );
            // The published referral for assessment does not depend on age.
            assert_eq!(
                r.recommendations
                    .iter()
                    .any(|rec| rec.kind == RecommendationKind::ReferralInDepthAssessment),
                in_band,
                "{scores:?} at {months} months"
            );
        }
    }
}

#[test]
fn mchat_high_risk_and_follow_up_positive_refer_to_assessment_and_early_intervention() {
    let first_items = |n: u8| (1..=n).collect::<Vec<u8>>();
    for months in [16, 30] {
        let born = born_for(months);
        // M-CHAT-R: total 7 is medium (follow-up interview), 8 is high.
        for (total, high) in [(7u8, false), (8, true)] {
            let answers = super::mchat::mchat_answers(&first_items(total));
            let pairs: Vec<(&str, i64)> = answers.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            let r = score(&request("mchat-r", &pairs, SEEN, &born));
            assert_eq!(value(&r, "total"), Some(i64::from(total)));
            let want = if high {
                vec!["mchat-r-high-programme".to_owned()]
            } else {
                vec![]
            };
            assert_eq!(
                programme_rules(&r, "early-intervention-psychomotor"),
                want,
                "total {total} at {months} months"
            );
            assert_eq!(
                r.recommendations
                    .iter()
                    .any(|rec| rec.kind == RecommendationKind::ReferralInDepthAssessment),
                high
            );
        }
        // Follow-Up of an initial total of 5, the same day: 1 failing item negative, 2 positive.
        for (failing, positive) in [(1i64, false), (2, true)] {
            let outcomes: Vec<(String, i64)> = (1..=5)
                .map(|i| (i.to_string(), i64::from(i <= failing)))
                .collect();
            let pairs: Vec<(&str, i64)> = outcomes.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            let mut req = request("mchat-rf", &pairs, SEEN, &born);
            req.initial = Some(InitialScreening {
                instrument: "mchat-r".into(),
                administered_on: date(SEEN),
                answers: super::mchat::mchat_answers(&first_items(5))
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::from(v)))
                    .collect(),
            });
            let r = score(&req);
            let want = if positive {
                vec!["mchat-rf-positive-programme".to_owned()]
            } else {
                vec![]
            };
            assert_eq!(
                programme_rules(&r, "early-intervention-psychomotor"),
                want,
                "{failing} failing at {months} months"
            );
            let assessment: Vec<&str> = r
                .recommendations
                .iter()
                .filter(|rec| rec.kind == RecommendationKind::ReferralInDepthAssessment)
                .map(|rec| rec.rule.as_str())
                .collect();
            let want: Vec<&str> = if positive {
                vec!["mchat-rf-positive"]
            } else {
                vec![]
            };
            assert_eq!(assessment, want);
        }
    }
}

/// The ages (effective, completed months) at which a rule can fire: the instrument's age
/// range narrowed by the rule's `age_months` conditions.
fn rule_window(
    def: &crate::scoring::InstrumentDefinition,
    when: &[Condition],
) -> Option<(i32, i32)> {
    let (mut min, mut max) = (def.age_range.min_months, def.age_range.max_months);
    for c in when {
        if let Condition::AgeMonths { min: lo, max: hi } = c {
            min = min.max(lo.unwrap_or(i32::MIN));
            max = max.min(hi.unwrap_or(i32::MAX));
        }
    }
    (min <= max).then_some((min, max))
}

#[test]
fn every_programme_rule_names_a_catalogue_programme_that_covers_its_ages() {
    let catalogue = Catalogue::builtin().expect("shipped catalogue");
    let instruments: Vec<&str> = engine().instrument_ids().collect();
    let mut checked = Vec::new();
    for id in &instruments {
        let def = engine().instrument(id).expect("defined");
        for rule in &def.risk_rules {
            for rec in &rule.recommend {
                if rec.kind != RecommendationKind::ReferralProgramme {
                    continue;
                }
                let programme = rec.programme.as_deref().expect("validated");
                let where_ = format!("{id}: {}: '{programme}'", rule.id);
                let entry = catalogue
                    .programme(programme)
                    .unwrap_or_else(|| panic!("{where_} is not in the catalogue"));
                assert!(
                    ["programme", "support-group", "therapy", "service"]
                        .contains(&entry.kind.as_str())
                        && !instruments.contains(&programme),
                    "{where_} is not a programme or service"
                );
                let (first, last) = rule_window(def, &rule.when)
                    .unwrap_or_else(|| panic!("{where_}: the rule can never fire"));
                let ages = entry
                    .target_age_months
                    .unwrap_or_else(|| panic!("{where_} has no target ages"));
                assert!(
                    i32::from(ages.min) <= first && last <= i32::from(ages.max),
                    "{where_}: the rule fires at {first}–{last} months, the programme is for {}–{}",
                    ages.min,
                    ages.max
                );
                checked.push(format!("{id}/{}", rule.id));
            }
        }
    }
    // The rules of docs/SCORING.md's client-flow table, no more and no fewer.
    checked.sort();
    assert_eq!(
        checked,
        [
            "epds/epds-probable-depression-programme",
            "mchat-r/mchat-r-high-programme",
            "mchat-rf/mchat-rf-positive-programme",
            "sdq-parent-2-4/sdq-conduct-programme",
            "sdq-parent-2-4/sdq-hyperactivity-programme",
            "sdq-parent-4-17/sdq-conduct-programme",
            "sdq-parent-4-17/sdq-emotional-programme",
            "sdq-parent-4-17/sdq-hyperactivity-programme",
            "sdq-teacher-4-17/sdq-conduct-programme",
            "sdq-teacher-4-17/sdq-emotional-programme",
            "sdq-teacher-4-17/sdq-hyperactivity-programme",
        ]
    );
}

#[test]
fn rule_windows_intersect_the_instrument_ages_with_the_age_conditions() {
    let def = engine().instrument("sdq-parent-2-4").expect("defined");
    let cond = |min, max| Condition::AgeMonths { min, max };
    assert_eq!(rule_window(def, &[]), Some((24, 59)));
    assert_eq!(
        rule_window(def, &[cond(Some(36), Some(107))]),
        Some((36, 59))
    );
    assert_eq!(rule_window(def, &[cond(None, Some(30))]), Some((24, 30)));
    assert_eq!(rule_window(def, &[cond(Some(84), None)]), None);
}
