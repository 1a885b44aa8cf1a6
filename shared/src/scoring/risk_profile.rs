//! The risk profile of one child: one view over all instruments and informants over time.
//!
//! Rules (pure; the caller loads the child's stored results):
//! - a screening re-scored several times counts once, with its newest result (the greatest
//!   `result_id`: result ids are UUID v7, so later ids sort later);
//! - per instrument, results are ordered by `administered_on`, then `result_id`; the last is
//!   the latest, the one before it the previous; all of them, in that order, are its history;
//! - the trend compares latest with previous by risk level and by the instrument's primary
//!   score (`improved` / `unchanged` / `worsened`; no total trend without a primary score);
//! - open recommendations are those of each instrument's latest result (a newer screening of
//!   the same instrument supersedes older advice), except a `follow_up_interview` once a
//!   result of the follow-up stage (e.g. `mchat-rf` for `mchat-r`) exists on or after that date;
//! - a dated recommendation is `overdue` before today, `due` from today until
//!   [`DUE_WINDOW_DAYS`] ahead, `scheduled` after that.

use super::{Engine, Recommendation, RecommendationKind, RiskLevel, ScoreResult};
use crate::domain::{ResultId, ScreeningId};
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many days ahead a dated recommendation counts as `due`.
pub const DUE_WINDOW_DAYS: u64 = 30;

/// A result as stored: which screening it scores and its own id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResult {
    /// Id of this result (UUID v7: a re-scoring gets a later id).
    pub result_id: ResultId,
    /// The screening (submitted answers) it scores.
    pub screening_id: ScreeningId,
    /// The result.
    pub result: ScoreResult,
}

/// Direction of change between two results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// Lower risk level or better primary score.
    Improved,
    /// Same.
    Unchanged,
    /// Higher risk level or worse primary score.
    Worsened,
}

/// Whether a dated recommendation is late.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueStatus {
    /// The recommendation has no date.
    Undated,
    /// Due more than [`DUE_WINDOW_DAYS`] from today.
    Scheduled,
    /// Due today or within [`DUE_WINDOW_DAYS`].
    Due,
    /// Due before today.
    Overdue,
}

/// The essentials of one result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultSummary {
    /// Result id.
    pub result_id: ResultId,
    /// Screening id.
    pub screening_id: ScreeningId,
    /// Date administered.
    pub administered_on: NaiveDate,
    /// Definition version that produced the result.
    pub instrument_version: String,
    /// Risk level.
    pub risk_level: RiskLevel,
    /// Value of the instrument's primary score, when it has one and it has a value.
    pub primary_value: Option<i64>,
    /// Flags.
    pub flags: Vec<String>,
}

/// One instrument in the profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstrumentSummary {
    /// Instrument id.
    pub instrument: String,
    /// Primary score id used for `trend_total`, if the instrument has one.
    pub primary_score: Option<String>,
    /// Number of screenings with this instrument.
    pub screenings: usize,
    /// The latest result.
    pub latest: ResultSummary,
    /// The one before it.
    pub previous: Option<ResultSummary>,
    /// Latest versus previous, by risk level.
    pub trend_risk: Option<Trend>,
    /// Latest versus previous, by primary score.
    pub trend_total: Option<Trend>,
    /// Every result of the instrument (a re-scored screening once, with its newest
    /// result), oldest first: the scores over time.
    pub history: Vec<ResultSummary>,
}

/// A recommendation still open, with its origin and due status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRecommendation {
    /// Instrument whose result made it.
    pub instrument: String,
    /// That result.
    pub result_id: ResultId,
    /// When that screening was administered.
    pub administered_on: NaiveDate,
    /// The recommendation.
    pub recommendation: Recommendation,
    /// Due status relative to the profile's date.
    pub status: DueStatus,
}

/// The profile of one child on a given day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskProfile {
    /// The day the profile describes ("today").
    pub as_of: NaiveDate,
    /// Highest risk level among the latest results; none without results.
    pub overall_risk: Option<RiskLevel>,
    /// One entry per instrument, sorted by instrument id.
    pub instruments: Vec<InstrumentSummary>,
    /// Open recommendations, by instrument id then rule order.
    pub open_recommendations: Vec<OpenRecommendation>,
    /// Open rescreens that are due or overdue.
    pub rescreens_due: Vec<OpenRecommendation>,
}

/// The newest result of each screening (the greatest `result_id`: a re-scoring gets a later
/// id), by screening id.
pub fn newest_per_screening(results: &[StoredResult]) -> Vec<&StoredResult> {
    let mut per_screening: BTreeMap<ScreeningId, &StoredResult> = BTreeMap::new();
    for r in results {
        per_screening
            .entry(r.screening_id)
            .and_modify(|cur| {
                if r.result_id > cur.result_id {
                    *cur = r;
                }
            })
            .or_insert(r);
    }
    per_screening.into_values().collect()
}

/// The current results (newest per screening) of each instrument, oldest first (by
/// `administered_on`, then `result_id`), by instrument id.
pub fn per_instrument(results: &[StoredResult]) -> BTreeMap<&str, Vec<&StoredResult>> {
    let mut out: BTreeMap<&str, Vec<&StoredResult>> = BTreeMap::new();
    for r in newest_per_screening(results) {
        out.entry(r.result.instrument.as_str()).or_default().push(r);
    }
    for list in out.values_mut() {
        list.sort_by_key(|r| (r.result.administered_on, r.result_id));
    }
    out
}

/// Builds the risk profile of one child from all their stored results (see the module rules).
pub fn risk_profile(engine: &Engine, results: &[StoredResult], today: NaiveDate) -> RiskProfile {
    let per_instrument = per_instrument(results);

    let mut instruments = Vec::new();
    let mut open = Vec::new();
    for (&id, list) in &per_instrument {
        let Some(&latest) = list.last() else {
            continue;
        };
        let previous = list.len().checked_sub(2).map(|i| list[i]);
        let primary = engine.instrument(id).and_then(|d| d.primary_score.clone());
        let value_of = |r: &StoredResult| {
            primary
                .as_ref()
                .and_then(|p| r.result.scores.get(&p.score))
                .and_then(|s| s.value)
        };
        let trend_risk = previous.map(|p| compare(p.result.risk_level, latest.result.risk_level));
        let trend_total = match (previous.and_then(value_of), value_of(latest), &primary) {
            (Some(before), Some(now), Some(p)) => Some(if p.higher_is_worse {
                compare(before, now)
            } else {
                compare(now, before)
            }),
            _ => None,
        };
        let summary = |r: &StoredResult| ResultSummary {
            result_id: r.result_id,
            screening_id: r.screening_id,
            administered_on: r.result.administered_on,
            instrument_version: r.result.instrument_version.clone(),
            risk_level: r.result.risk_level,
            primary_value: value_of(r),
            flags: r.result.flags.clone(),
        };
        instruments.push(InstrumentSummary {
            instrument: id.to_owned(),
            primary_score: primary.as_ref().map(|p| p.score.clone()),
            screenings: list.len(),
            latest: summary(latest),
            previous: previous.map(summary),
            trend_risk,
            trend_total,
            history: list.iter().map(|r| summary(r)).collect(),
        });

        for rec in &latest.result.recommendations {
            if rec.kind == RecommendationKind::FollowUpInterview
                && followed_up(engine, id, latest.result.administered_on, &per_instrument)
            {
                continue;
            }
            open.push(OpenRecommendation {
                instrument: id.to_owned(),
                result_id: latest.result_id,
                administered_on: latest.result.administered_on,
                recommendation: rec.clone(),
                status: status(rec.due_on, today),
            });
        }
    }
    let rescreens_due = open
        .iter()
        .filter(|o| {
            o.recommendation.kind == RecommendationKind::Rescreen
                && matches!(o.status, DueStatus::Due | DueStatus::Overdue)
        })
        .cloned()
        .collect();
    RiskProfile {
        as_of: today,
        overall_risk: instruments.iter().map(|i| i.latest.risk_level).max(),
        instruments,
        open_recommendations: open,
        rescreens_due,
    }
}

/// `Improved` when `after` is lower than `before` (lower = better).
fn compare<T: Ord>(before: T, after: T) -> Trend {
    match after.cmp(&before) {
        std::cmp::Ordering::Less => Trend::Improved,
        std::cmp::Ordering::Equal => Trend::Unchanged,
        std::cmp::Ordering::Greater => Trend::Worsened,
    }
}

/// Whether a follow-up stage of `instrument` has a result on or after `since`.
fn followed_up(
    engine: &Engine,
    instrument: &str,
    since: NaiveDate,
    per_instrument: &BTreeMap<&str, Vec<&StoredResult>>,
) -> bool {
    per_instrument.iter().any(|(&other, list)| {
        engine
            .instrument(other)
            .and_then(|d| d.follow_up_of.as_ref())
            .is_some_and(|f| f.instrument == instrument)
            && list.iter().any(|r| r.result.administered_on >= since)
    })
}

fn status(due_on: Option<NaiveDate>, today: NaiveDate) -> DueStatus {
    let Some(due) = due_on else {
        return DueStatus::Undated;
    };
    let window_end = today
        .checked_add_days(Days::new(DUE_WINDOW_DAYS))
        .unwrap_or(NaiveDate::MAX);
    if due < today {
        DueStatus::Overdue
    } else if due <= window_end {
        DueStatus::Due
    } else {
        DueStatus::Scheduled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::{ChildFacts, InitialScreening, ScoreRequest, Sex};
    use uuid::Uuid;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// Born 2024-03-10; M-CHAT-R answers with `at_risk` items at risk (see the golden tests).
    fn mchat_answers(at_risk: &[u8]) -> BTreeMap<String, serde_json::Value> {
        (1..=20u8)
            .map(|i| {
                let risk = u8::from(matches!(i, 2 | 5 | 12));
                let answer = if at_risk.contains(&i) { risk } else { 1 - risk };
                (i.to_string(), serde_json::Value::from(answer))
            })
            .collect()
    }

    fn scored(engine: &Engine, req: ScoreRequest, result: u128, screening: u128) -> StoredResult {
        StoredResult {
            result_id: ResultId::from_uuid(Uuid::from_u128(result)),
            screening_id: ScreeningId::from_uuid(Uuid::from_u128(screening)),
            result: engine.score(&req).unwrap(),
        }
    }

    /// Answers by item id.
    fn answers(pairs: &[(&str, i64)]) -> BTreeMap<String, serde_json::Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
            .collect()
    }

    /// An M-CHAT-R screening on `on` with `at_risk` items at risk, scored as result `result`
    /// of screening `screening`.
    fn mchat(
        engine: &Engine,
        at_risk: &[u8],
        on: &str,
        result: u128,
        screening: u128,
    ) -> StoredResult {
        scored(
            engine,
            req("mchat-r", mchat_answers(at_risk), on),
            result,
            screening,
        )
    }

    fn req(
        instrument: &str,
        answers: BTreeMap<String, serde_json::Value>,
        on: &str,
    ) -> ScoreRequest {
        ScoreRequest {
            instrument: instrument.into(),
            answers,
            administered_on: d(on),
            child: ChildFacts {
                birth_date: d("2024-03-10"),
                sex: Sex::Male,
                gestational_age_weeks: None,
            },
            initial: None,
        }
    }

    #[test]
    fn no_results_no_profile() {
        let engine = Engine::builtin().unwrap();
        let p = risk_profile(&engine, &[], d("2026-01-01"));
        assert_eq!(p.overall_risk, None);
        assert!(p.instruments.is_empty() && p.open_recommendations.is_empty());
    }

    #[test]
    fn latest_previous_trend_and_rescreen_status() {
        let engine = Engine::builtin().unwrap();
        // M-CHAT-R at 16 months: total 5 (medium); at 22 months: total 1 (low, rescreen at
        // 24 months = 2026-03-10). Given out of order on purpose.
        let results = vec![
            mchat(&engine, &[1], "2026-01-10", 2, 20),
            mchat(&engine, &[1, 3, 4, 6, 7], "2025-07-10", 1, 10),
        ];
        let p = risk_profile(&engine, &results, d("2026-03-15"));
        assert_eq!(p.overall_risk, Some(RiskLevel::Low));
        let m = &p.instruments[0];
        assert_eq!((m.instrument.as_str(), m.screenings), ("mchat-r", 2));
        assert_eq!(m.latest.administered_on, d("2026-01-10"));
        assert_eq!(m.latest.primary_value, Some(1));
        assert_eq!(m.previous.as_ref().map(|p| p.primary_value), Some(Some(5)));
        assert_eq!(m.trend_risk, Some(Trend::Improved));
        assert_eq!(m.trend_total, Some(Trend::Improved));
        // Only the latest result's advice is open: the rescreen, overdue on 2026-03-15.
        assert_eq!(p.open_recommendations.len(), 1);
        assert_eq!(
            p.open_recommendations[0].recommendation.due_on,
            Some(d("2026-03-10"))
        );
        assert_eq!(p.open_recommendations[0].status, DueStatus::Overdue);
        assert_eq!(p.rescreens_due.len(), 1);
        // Due within 30 days; scheduled beyond.
        let p = risk_profile(&engine, &results, d("2026-02-20"));
        assert_eq!(p.open_recommendations[0].status, DueStatus::Due);
        let p = risk_profile(&engine, &results, d("2026-03-10"));
        assert_eq!(p.open_recommendations[0].status, DueStatus::Due);
        let p = risk_profile(&engine, &results, d("2026-01-15"));
        assert_eq!(p.open_recommendations[0].status, DueStatus::Scheduled);
        assert!(p.rescreens_due.is_empty());
        // Worsened the other way round, unchanged against itself.
        let swapped = vec![
            mchat(&engine, &[1], "2025-07-10", 1, 10),
            mchat(&engine, &[1, 3, 4, 6, 7], "2026-01-10", 2, 20),
        ];
        let p = risk_profile(&engine, &swapped, d("2026-01-15"));
        assert_eq!(p.instruments[0].trend_risk, Some(Trend::Worsened));
        assert_eq!(p.instruments[0].trend_total, Some(Trend::Worsened));
        let same = vec![
            mchat(&engine, &[1], "2025-07-10", 1, 10),
            mchat(&engine, &[2], "2026-01-10", 2, 20),
        ];
        let p = risk_profile(&engine, &same, d("2026-01-15"));
        assert_eq!(p.instruments[0].trend_total, Some(Trend::Unchanged));
    }

    #[test]
    fn a_follow_up_closes_the_follow_up_interview_and_instruments_combine() {
        let engine = Engine::builtin().unwrap();
        let initial = req("mchat-r", mchat_answers(&[1, 3, 4]), "2025-11-10");
        let mut rf = req(
            "mchat-rf",
            answers(&[("1", 1), ("3", 1), ("4", 0)]),
            "2025-11-20",
        );
        rf.initial = Some(InitialScreening {
            instrument: "mchat-r".into(),
            administered_on: d("2025-11-10"),
            answers: initial.answers.clone(),
        });
        // EPDS a week after birth with item 10 at risk (answer 0 scores 3): urgent.
        let epds = req("epds", answers(&[("10", 0)]), "2024-03-17");
        let only_initial = vec![scored(&engine, initial.clone(), 1, 10)];
        let p = risk_profile(&engine, &only_initial, d("2025-11-12"));
        assert_eq!(
            p.open_recommendations[0].recommendation.kind,
            RecommendationKind::FollowUpInterview
        );
        // Due 14 days after the screening (2025-11-24): within the due window.
        assert_eq!(
            p.open_recommendations[0].recommendation.due_on,
            Some(d("2025-11-24"))
        );
        assert_eq!(p.open_recommendations[0].status, DueStatus::Due);

        let results = vec![
            scored(&engine, initial, 1, 10),
            scored(&engine, rf, 2, 11),
            scored(&engine, epds, 3, 12),
        ];
        let p = risk_profile(&engine, &results, d("2025-11-21"));
        let ids: Vec<&str> = p
            .instruments
            .iter()
            .map(|i| i.instrument.as_str())
            .collect();
        assert_eq!(ids, vec!["epds", "mchat-r", "mchat-rf"]);
        assert_eq!(p.overall_risk, Some(RiskLevel::Urgent));
        let open: Vec<(&str, RecommendationKind)> = p
            .open_recommendations
            .iter()
            .map(|o| (o.instrument.as_str(), o.recommendation.kind))
            .collect();
        assert_eq!(
            open,
            vec![
                ("epds", RecommendationKind::ReferralUrgent),
                ("epds", RecommendationKind::Rescreen),
                ("mchat-rf", RecommendationKind::ReferralInDepthAssessment),
                ("mchat-rf", RecommendationKind::ReferralProgramme),
            ]
        );
        // The incomplete EPDS asked to administer again on its date, long past.
        assert_eq!(p.rescreens_due.len(), 1);
        assert_eq!(p.rescreens_due[0].status, DueStatus::Overdue);
        assert_eq!(p.instruments[1].trend_risk, None, "one screening: no trend");
    }

    #[test]
    fn a_rescored_screening_counts_once_with_its_newest_result() {
        let engine = Engine::builtin().unwrap();
        let first = mchat(&engine, &[1, 3, 4], "2025-11-10", 5, 10);
        let mut rescored = first.clone();
        rescored.result_id = ResultId::from_uuid(Uuid::from_u128(9));
        rescored.result.instrument_version = "1.1.0".into();
        let p = risk_profile(&engine, &[rescored.clone(), first.clone()], d("2025-11-12"));
        assert_eq!(p.instruments[0].screenings, 1);
        assert_eq!(p.instruments[0].latest.instrument_version, "1.1.0");
        assert_eq!(p.instruments[0].latest.result_id, rescored.result_id);
        assert_eq!(p.instruments[0].previous, None);
        assert_eq!(
            p.instruments[0].history,
            vec![p.instruments[0].latest.clone()]
        );

        // A later screening: the history holds both, oldest first, beyond latest/previous.
        let later = mchat(&engine, &[1], "2025-12-10", 11, 12);
        let earliest = mchat(&engine, &[1, 3], "2025-10-10", 12, 13);
        let p = risk_profile(
            &engine,
            &[later, rescored, first, earliest],
            d("2025-12-12"),
        );
        let days: Vec<String> = p.instruments[0]
            .history
            .iter()
            .map(|r| r.administered_on.to_string())
            .collect();
        assert_eq!(days, ["2025-10-10", "2025-11-10", "2025-12-10"]);
        assert_eq!(p.instruments[0].history[1].instrument_version, "1.1.0");
    }
}
