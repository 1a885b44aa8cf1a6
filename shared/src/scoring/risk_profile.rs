//! The risk profile of one child: one view over all instruments and informants over time.
//!
//! Rules (pure; the caller loads the child's stored results):
//! - a screening re-scored several times counts once, with its newest result (the greatest
//!   `result_id`: result ids are UUID v7, so later ids sort later);
//! - per instrument, results are ordered by `administered_on`, then `result_id`; the last is
//!   the latest, the one before it the previous;
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

/// Builds the risk profile of one child from all their stored results (see the module rules).
pub fn risk_profile(engine: &Engine, results: &[StoredResult], today: NaiveDate) -> RiskProfile {
    // Newest result per screening.
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
    let mut per_instrument: BTreeMap<&str, Vec<&StoredResult>> = BTreeMap::new();
    for r in per_screening.into_values() {
        per_instrument
            .entry(r.result.instrument.as_str())
            .or_default()
            .push(r);
    }
    for list in per_instrument.values_mut() {
        list.sort_by_key(|r| (r.result.administered_on, r.result_id));
    }

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
