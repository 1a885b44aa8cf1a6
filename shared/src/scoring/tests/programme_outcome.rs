//! Programme outcomes: before/after selection around an episode and the change per score
//! (rules in `scoring/programme_outcome.rs`).

use super::*;
use crate::domain::{EpisodeId, ResultId, ScreeningId};
use crate::scoring::risk_profile::Trend;
use crate::scoring::{EpisodeSpan, OutcomeWindows, StoredResult, programme_outcomes};
use uuid::Uuid;

const PARENT: &str = "sdq-parent-4-17";
/// 7 years old in 2025, 8 in 2026: inside the 4–17 form all through.
const BORN: &str = "2018-01-15";

/// A stored SDQ result with scale values `[emotional, conduct, hyperactivity, peer,
/// prosocial]`; `n` orders the ids (a later `n` is a later result).
fn sdq(on: &str, scales: [i64; 5], screening: u128, n: u128) -> StoredResult {
    let answers = super::sdq::scale_answers(scales);
    let mut pairs: Vec<(&str, i64)> = answers.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    pairs.push(("difficulties", 0));
    StoredResult {
        result_id: ResultId::from_uuid(Uuid::from_u128(n)),
        screening_id: ScreeningId::from_uuid(Uuid::from_u128(screening)),
        result: score(&request(PARENT, &pairs, on, BORN)),
    }
}

fn episode(n: u128, start: Option<&str>, end: Option<&str>) -> EpisodeSpan {
    EpisodeSpan {
        episode_id: EpisodeId::from_uuid(Uuid::from_u128(n)),
        programme: "incredible-years-parents".into(),
        start_date: start.map(date),
        end_date: end.map(date),
    }
}

/// `(administered_on, screening n)` of before and after of the only instrument.
fn picked(e: &EpisodeSpan, results: &[StoredResult]) -> (String, Option<String>) {
    let out = programme_outcomes(
        engine(),
        std::slice::from_ref(e),
        results,
        OutcomeWindows::POLICY,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].instruments.len(), 1, "{out:?}");
    let i = &out[0].instruments[0];
    (
        i.before.administered_on.to_string(),
        i.after.as_ref().map(|a| a.administered_on.to_string()),
    )
}

const LOW: [i64; 5] = [1, 1, 1, 1, 9];

/// `(score, before, after, change, direction)`.
type Row<'a> = (
    &'a str,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<Trend>,
);

#[test]
fn before_is_the_latest_on_or_before_the_start_and_after_the_first_after_the_end() {
    let e = episode(1, Some("2026-01-05"), Some("2026-06-30"));
    let results = vec![
        sdq("2025-01-05", LOW, 1, 1), // exactly 12 months before the start
        sdq("2025-11-20", LOW, 2, 2), // before the start
        sdq("2026-01-05", LOW, 3, 3), // on the start: the latest on or before it
        sdq("2026-03-01", LOW, 4, 4), // during the episode: neither
        sdq("2026-06-30", LOW, 5, 5), // on the end: not after it
        sdq("2026-07-01", LOW, 6, 6), // the first after the end
        sdq("2026-09-01", LOW, 7, 7), // a later one
    ];
    assert_eq!(
        picked(&e, &results),
        ("2026-01-05".into(), Some("2026-07-01".into()))
    );
    // Without the start-day and the day-after results, the next candidates in order.
    let fewer: Vec<StoredResult> = results
        .iter()
        .filter(|r| ![3, 6].contains(&r.screening_id.as_uuid().as_u128()))
        .cloned()
        .collect();
    assert_eq!(
        picked(&e, &fewer),
        ("2025-11-20".into(), Some("2026-09-01".into()))
    );
}

#[test]
fn windows_are_twelve_months_inclusive() {
    let e = episode(1, Some("2026-01-05"), Some("2026-06-30"));
    // Edges inside: 12 months before the start, 12 months after the end.
    let inside = vec![sdq("2025-01-05", LOW, 1, 1), sdq("2027-06-30", LOW, 2, 2)];
    assert_eq!(
        picked(&e, &inside),
        ("2025-01-05".into(), Some("2027-06-30".into()))
    );
    // One day further out on either side: no before (so no entry), no after.
    let outside = vec![sdq("2025-01-04", LOW, 1, 1), sdq("2027-07-01", LOW, 2, 2)];
    let out = programme_outcomes(
        engine(),
        std::slice::from_ref(&e),
        &outside,
        OutcomeWindows::POLICY,
    );
    assert!(out[0].instruments.is_empty(), "{out:?}");
    let with_before = vec![sdq("2025-06-01", LOW, 1, 1), sdq("2027-07-01", LOW, 2, 2)];
    assert_eq!(picked(&e, &with_before), ("2025-06-01".into(), None));
    // The windows are a parameter: 6 months before drops the 2025-06-01 screening.
    let narrow = OutcomeWindows {
        before_months: 6,
        after_months: 12,
    };
    assert!(
        programme_outcomes(engine(), &[e], &with_before, narrow)[0]
            .instruments
            .is_empty()
    );
    assert_eq!(
        OutcomeWindows::default(),
        OutcomeWindows {
            before_months: 12,
            after_months: 12
        }
    );
}

#[test]
fn change_and_direction_follow_each_scores_polarity() {
    // Before: emotional 5, conduct 6, hyperactivity 8, peer 3, prosocial 4 → total 22,
    // externalising 14, internalising 8. After: 2, 3, 8, 4, 7 → total 17, ext 11, int 6.
    let e = episode(1, Some("2026-01-05"), Some("2026-06-30"));
    let results = vec![
        sdq("2025-12-01", [5, 6, 8, 3, 4], 1, 1),
        sdq("2026-08-01", [2, 3, 8, 4, 7], 2, 2),
    ];
    let out = programme_outcomes(
        engine(),
        std::slice::from_ref(&e),
        &results,
        OutcomeWindows::POLICY,
    );
    assert_eq!(out[0].episode_id, e.episode_id);
    assert_eq!(out[0].programme, "incredible-years-parents");
    assert_eq!(out[0].start_date, date("2026-01-05"));
    assert_eq!(out[0].end_date, Some(date("2026-06-30")));
    let i = &out[0].instruments[0];
    assert_eq!(i.instrument, PARENT);
    assert_eq!(i.before.result_id, results[0].result_id);
    assert_eq!(i.before.screening_id, results[0].screening_id);
    assert_eq!(
        i.before.instrument_version,
        results[0].result.instrument_version
    );
    assert_eq!(
        i.after.as_ref().map(|a| a.result_id),
        Some(results[1].result_id)
    );
    let got: Vec<Row> = i
        .scores
        .iter()
        .map(|s| (s.score.as_str(), s.before, s.after, s.change, s.direction))
        .collect();
    use Trend::*;
    assert_eq!(
        got,
        vec![
            ("emotional", Some(5), Some(2), Some(-3), Some(Improved)),
            ("conduct", Some(6), Some(3), Some(-3), Some(Improved)),
            ("hyperactivity", Some(8), Some(8), Some(0), Some(Unchanged)),
            ("peer", Some(3), Some(4), Some(1), Some(Worsened)),
            // Prosocial: higher is better.
            ("prosocial", Some(4), Some(7), Some(3), Some(Improved)),
            (
                "total_difficulties",
                Some(22),
                Some(17),
                Some(-5),
                Some(Improved)
            ),
            (
                "externalising",
                Some(14),
                Some(11),
                Some(-3),
                Some(Improved)
            ),
            ("internalising", Some(8), Some(6), Some(-2), Some(Improved)),
            // difficulties answered 0 both times: impact 0.
            ("impact", Some(0), Some(0), Some(0), Some(Unchanged)),
        ]
    );
    // Prosocial falling is worse.
    let results = vec![
        sdq("2025-12-01", [0, 0, 0, 0, 9], 1, 1),
        sdq("2026-08-01", [0, 0, 0, 0, 5], 2, 2),
    ];
    let out = programme_outcomes(engine(), &[e], &results, OutcomeWindows::POLICY);
    let prosocial = out[0].instruments[0]
        .scores
        .iter()
        .find(|s| s.score == "prosocial")
        .expect("scored");
    assert_eq!(
        (prosocial.change, prosocial.direction),
        (Some(-4), Some(Worsened))
    );
}

#[test]
fn open_episodes_have_a_before_and_no_after() {
    let e = episode(1, Some("2026-01-05"), None);
    let results = vec![
        sdq("2025-12-01", [5, 6, 8, 3, 4], 1, 1),
        sdq("2026-08-01", LOW, 2, 2),
    ];
    let out = programme_outcomes(engine(), &[e], &results, OutcomeWindows::POLICY);
    let i = &out[0].instruments[0];
    assert_eq!(i.before.administered_on, date("2025-12-01"));
    assert_eq!(i.after, None);
    assert!(i.scores.iter().all(|s| s.after.is_none()
        && s.change.is_none()
        && s.direction.is_none()
        && s.before.is_some()));
}

#[test]
fn episodes_not_started_have_no_outcome_and_order_is_kept() {
    let results = vec![sdq("2025-12-01", LOW, 1, 1)];
    let episodes = [
        episode(3, Some("2026-02-01"), None),
        episode(1, None, None),
        episode(2, Some("2026-01-05"), None),
    ];
    let out = programme_outcomes(engine(), &episodes, &results, OutcomeWindows::POLICY);
    let ids: Vec<EpisodeId> = out.iter().map(|o| o.episode_id).collect();
    assert_eq!(ids, vec![episodes[0].episode_id, episodes[2].episode_id]);
}

#[test]
fn a_rescored_screening_counts_once_with_its_newest_result() {
    let e = episode(1, Some("2026-01-05"), Some("2026-06-30"));
    // Screening 1 scored twice: the newer result (id 9) holds conduct 6.
    let results = vec![
        sdq("2025-12-01", [0, 2, 0, 0, 9], 1, 9),
        sdq("2025-12-01", [0, 4, 0, 0, 9], 1, 1),
        sdq("2026-08-01", [0, 1, 0, 0, 9], 2, 10),
    ];
    let out = programme_outcomes(engine(), &[e], &results, OutcomeWindows::POLICY);
    let i = &out[0].instruments[0];
    assert_eq!(i.before.result_id, results[0].result_id);
    let conduct = i
        .scores
        .iter()
        .find(|s| s.score == "conduct")
        .expect("scored");
    assert_eq!((conduct.before, conduct.change), (Some(2), Some(-1)));
}

#[test]
fn instruments_are_matched_separately_and_missing_values_give_no_change() {
    let e = episode(1, Some("2026-01-05"), Some("2026-06-30"));
    // An EPDS of the mother after the start only (no before): not listed.
    let epds_answers = super::epds::epds_answers([1; 10]);
    let pairs: Vec<(&str, i64)> = epds_answers.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let epds_after = StoredResult {
        result_id: ResultId::from_uuid(Uuid::from_u128(50)),
        screening_id: ScreeningId::from_uuid(Uuid::from_u128(50)),
        result: score(&request("epds", &pairs, "2026-07-10", "2025-12-01")),
    };
    // SDQ after with too few emotional answers: emotional, total and internalising null.
    let mut after = sdq("2026-08-01", [2, 2, 2, 2, 8], 2, 2);
    let mut partial = after.result.clone();
    for s in ["emotional", "total_difficulties", "internalising"] {
        partial.scores.get_mut(s).expect("scored").value = None;
    }
    after.result = partial;
    // A score the current definition does not know keeps its values but has no direction.
    let mut before = sdq("2025-12-01", [3, 3, 3, 3, 8], 1, 1);
    let legacy = before.result.scores["conduct"].clone();
    before.result.scores.insert("legacy".into(), legacy.clone());
    after.result.scores.insert("legacy".into(), legacy);
    let out = programme_outcomes(
        engine(),
        &[e],
        &[before, after, epds_after],
        OutcomeWindows::POLICY,
    );
    let instruments: Vec<&str> = out[0]
        .instruments
        .iter()
        .map(|i| i.instrument.as_str())
        .collect();
    assert_eq!(instruments, vec![PARENT]);
    let by = |id: &str| {
        out[0].instruments[0]
            .scores
            .iter()
            .find(|s| s.score == id)
            .cloned()
            .expect("listed")
    };
    let emotional = by("emotional");
    assert_eq!(
        (
            emotional.before,
            emotional.after,
            emotional.change,
            emotional.direction
        ),
        (Some(3), None, None, None)
    );
    assert_eq!(by("conduct").direction, Some(Trend::Improved));
    let legacy = by("legacy");
    assert_eq!((legacy.change, legacy.direction), (Some(0), None));
    // Unknown scores come after the definition's own.
    assert_eq!(
        out[0].instruments[0]
            .scores
            .last()
            .map(|s| s.score.as_str()),
        Some("legacy")
    );
}
