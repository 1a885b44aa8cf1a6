//! Programme outcomes: how a child's screening scores changed around a support episode
//! (issue #14, item 4). Pure: the caller loads the child's episodes and stored results. The
//! risk profile shows them per child; a reports service can count them ("change in SDQ
//! scores after a programme") with the same rules.
//!
//! Rules:
//! - only started episodes have outcomes (an episode without `start_date` has none);
//! - a screening re-scored several times counts once, with its newest result (as in the
//!   risk profile);
//! - per episode and instrument, **before** is the latest result administered on or before
//!   the start and at most [`OutcomeWindows::before_months`] before it; **after** is the
//!   first result administered after the end and at most [`OutcomeWindows::after_months`]
//!   after it (ties on the date: the greater result id, i.e. the later one, counts as later);
//!   an episode still open has no after;
//! - an instrument appears for an episode when it has a before result (without one no change
//!   can be measured); its after may be null;
//! - per score of the before result (in the definition's order, then any the current
//!   definition no longer has): before, after, change = after − before, and the direction
//!   `improved` / `unchanged` / `worsened` by the score's polarity (`higher_is_worse` in the
//!   definition; SDQ prosocial: higher is better). Change and direction are null when a
//!   value is missing, and the direction also when the current definition lacks the score.
//!
//! The windows are RAVIS policy ([`OutcomeWindows::POLICY`], 12 months each way): a
//! screening older than a year no longer describes the child at the start, and one more
//! than a year after the end measures more than the programme.

use super::risk_profile::{StoredResult, Trend, per_instrument};
use super::{Engine, ScoreResult};
use crate::domain::registry::SupportEpisode;
use crate::domain::{EpisodeId, ResultId, ScreeningId};
use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// How far from an episode a screening may lie to count as its before or after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeWindows {
    /// Months before the start within which the before screening must lie.
    pub before_months: u32,
    /// Months after the end within which the after screening must lie.
    pub after_months: u32,
}

impl OutcomeWindows {
    /// The RAVIS policy: 12 months before the start, 12 months after the end.
    pub const POLICY: Self = Self {
        before_months: 12,
        after_months: 12,
    };
}

impl Default for OutcomeWindows {
    fn default() -> Self {
        Self::POLICY
    }
}

/// The part of a support episode that outcomes need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpisodeSpan {
    /// Episode id.
    pub episode_id: EpisodeId,
    /// Programme or service (catalogue id).
    pub programme: String,
    /// First day of support; none while not started.
    pub start_date: Option<NaiveDate>,
    /// Last day of support; none while open.
    pub end_date: Option<NaiveDate>,
}

impl From<&SupportEpisode> for EpisodeSpan {
    fn from(e: &SupportEpisode) -> Self {
        Self {
            episode_id: e.id,
            programme: e.programme.clone(),
            start_date: e.start_date,
            end_date: e.end_date,
        }
    }
}

/// A result used as a before or after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeResult {
    /// Result id.
    pub result_id: ResultId,
    /// Screening id.
    pub screening_id: ScreeningId,
    /// Date administered.
    pub administered_on: NaiveDate,
    /// Definition version that produced the result.
    pub instrument_version: String,
}

/// One score before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreChange {
    /// Score id.
    pub score: String,
    /// Value before.
    pub before: Option<i64>,
    /// Value after.
    pub after: Option<i64>,
    /// After − before.
    pub change: Option<i64>,
    /// Improved, unchanged or worsened, by the score's polarity.
    pub direction: Option<Trend>,
}

/// One instrument around one episode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstrumentOutcome {
    /// Instrument id.
    pub instrument: String,
    /// The latest result within the window before the start.
    pub before: OutcomeResult,
    /// The first result within the window after the end; none while open or not yet screened.
    pub after: Option<OutcomeResult>,
    /// Per score.
    pub scores: Vec<ScoreChange>,
}

/// The outcomes of one episode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgrammeOutcome {
    /// Episode id.
    pub episode_id: EpisodeId,
    /// Programme or service (catalogue id).
    pub programme: String,
    /// First day of support.
    pub start_date: NaiveDate,
    /// Last day of support; none while open.
    pub end_date: Option<NaiveDate>,
    /// One entry per instrument with a before result, by instrument id.
    pub instruments: Vec<InstrumentOutcome>,
}

/// The outcomes of a child's episodes (see the module rules), in the order of `episodes`
/// (episodes not started are left out).
pub fn programme_outcomes(
    engine: &Engine,
    episodes: &[EpisodeSpan],
    results: &[StoredResult],
    windows: OutcomeWindows,
) -> Vec<ProgrammeOutcome> {
    let per_instrument = per_instrument(results);
    episodes
        .iter()
        .filter_map(|e| {
            let start = e.start_date?;
            let instruments = per_instrument
                .iter()
                .filter_map(|(id, list)| {
                    instrument_outcome(engine, id, list, start, e.end_date, windows)
                })
                .collect();
            Some(ProgrammeOutcome {
                episode_id: e.episode_id,
                programme: e.programme.clone(),
                start_date: start,
                end_date: e.end_date,
                instruments,
            })
        })
        .collect()
}

/// One instrument's outcome around an episode, from its results sorted oldest first.
fn instrument_outcome(
    engine: &Engine,
    id: &str,
    sorted: &[&StoredResult],
    start: NaiveDate,
    end: Option<NaiveDate>,
    windows: OutcomeWindows,
) -> Option<InstrumentOutcome> {
    let days: Vec<NaiveDate> = sorted.iter().map(|r| r.result.administered_on).collect();
    let (before, after) = before_after(&days, start, end, windows)?;
    let before = sorted[before];
    let after = after.map(|i| sorted[i]);
    Some(InstrumentOutcome {
        instrument: id.to_owned(),
        before: summary(before),
        after: after.map(summary),
        scores: score_changes(engine, id, &before.result, after.map(|r| &r.result)),
    })
}

/// The positions of the before and after results of an episode among the days of one
/// instrument's results, sorted oldest first (see the module rules): none without a before;
/// the after is none while the episode is open or not yet screened. The analytics lake's
/// indicators (`statistics::indicators`) use the same rule.
pub fn before_after(
    days: &[NaiveDate],
    start: NaiveDate,
    end: Option<NaiveDate>,
    windows: OutcomeWindows,
) -> Option<(usize, Option<usize>)> {
    let earliest = start.checked_sub_months(Months::new(windows.before_months))?;
    let before = days
        .iter()
        .rposition(|on| earliest <= *on && *on <= start)?;
    let after = end.and_then(|end| {
        let latest = end.checked_add_months(Months::new(windows.after_months))?;
        days.iter().position(|on| end < *on && *on <= latest)
    });
    Some((before, after))
}

fn summary(r: &StoredResult) -> OutcomeResult {
    OutcomeResult {
        result_id: r.result_id,
        screening_id: r.screening_id,
        administered_on: r.result.administered_on,
        instrument_version: r.result.instrument_version.clone(),
    }
}

fn score_changes(
    engine: &Engine,
    id: &str,
    before: &ScoreResult,
    after: Option<&ScoreResult>,
) -> Vec<ScoreChange> {
    let def = engine.instrument(id);
    // Definition order first (emotional, conduct, …), then scores it no longer defines.
    let mut order: Vec<&str> = def
        .map(|d| {
            d.scores
                .iter()
                .map(|s| s.id.as_str())
                .filter(|s| before.scores.contains_key(*s))
                .collect()
        })
        .unwrap_or_default();
    for s in before.scores.keys() {
        if !order.contains(&s.as_str()) {
            order.push(s);
        }
    }
    order
        .into_iter()
        .map(|score| {
            let was = before.scores.get(score).and_then(|s| s.value);
            let now = after
                .and_then(|a| a.scores.get(score))
                .and_then(|s| s.value);
            let higher_is_worse = def
                .and_then(|d| d.scores.iter().find(|s| s.id == score))
                .map(|s| s.higher_is_worse());
            let (change, direction) = match (was, now) {
                (Some(b), Some(a)) => (
                    Some(a - b),
                    higher_is_worse.map(|worse| {
                        let better = if worse { b.cmp(&a) } else { a.cmp(&b) };
                        match better {
                            Ordering::Greater => Trend::Improved,
                            Ordering::Equal => Trend::Unchanged,
                            Ordering::Less => Trend::Worsened,
                        }
                    }),
                ),
                _ => (None, None),
            };
            ScoreChange {
                score: score.to_owned(),
                before: was,
                after: now,
                change,
                direction,
            }
        })
        .collect()
}
