//! When each dated follow-up a result asks for was done (issue #13, "overdue follow-ups"):
//! the same closing rules as the risk profile's open recommendations
//! (`scoring/risk_profile.rs`), applied to every result of a child rather than only the
//! latest, so that statistics can count follow-ups done on time, done late and not done.
//!
//! Rules (pure; the caller loads the child's stored results):
//! - a screening re-scored several times counts once, with its newest result;
//! - a result's `rescreen` recommendation with a due date is **done** by the next result of
//!   the same instrument (results ordered by `administered_on`, then `result_id`), on that
//!   result's day; without a later result it is not done;
//! - a result's `follow_up_interview` recommendation with a due date is **done** by the
//!   first result of an instrument whose definition names it as its follow-up stage
//!   (`follow_up_of`, e.g. `mchat-rf` for `mchat-r`) administered on or after the result's
//!   day, on that day;
//! - undated recommendations have no due date and are not follow-ups to count; two
//!   recommendations of the same kind in one result count once, at the earliest due date.

use super::risk_profile::{StoredResult, per_instrument};
use super::{Engine, RecommendationKind};
use crate::domain::ResultId;
use chrono::NaiveDate;
use std::collections::BTreeMap;

/// One dated follow-up and the day it was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowUp {
    /// When it is due.
    pub due_on: NaiveDate,
    /// The day of the result that did it, if one did.
    pub done_on: Option<NaiveDate>,
}

/// The dated follow-ups one result asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FollowUps {
    /// Screen again with the same instrument.
    pub rescreen: Option<FollowUp>,
    /// Administer the follow-up stage.
    pub interview: Option<FollowUp>,
}

/// The follow-ups of each current result (newest per screening) of one child, by result id.
pub fn follow_ups(engine: &Engine, results: &[StoredResult]) -> BTreeMap<ResultId, FollowUps> {
    let per_instrument = per_instrument(results);
    // The days of the results of each instrument's follow-up stage, sorted.
    let mut stage_days: BTreeMap<&str, Vec<NaiveDate>> = BTreeMap::new();
    for (&id, list) in &per_instrument {
        if let Some(of) = engine.instrument(id).and_then(|d| d.follow_up_of.as_ref()) {
            let days = stage_days.entry(of.instrument.as_str()).or_default();
            days.extend(list.iter().map(|r| r.result.administered_on));
            days.sort_unstable();
        }
    }
    let mut out = BTreeMap::new();
    for (&id, list) in &per_instrument {
        for (i, r) in list.iter().enumerate() {
            let on = r.result.administered_on;
            let due = |kind: RecommendationKind| {
                r.result
                    .recommendations
                    .iter()
                    .filter(|rec| rec.kind == kind)
                    .filter_map(|rec| rec.due_on)
                    .min()
            };
            let rescreen = due(RecommendationKind::Rescreen).map(|due_on| FollowUp {
                due_on,
                done_on: list.get(i + 1).map(|next| next.result.administered_on),
            });
            let interview = due(RecommendationKind::FollowUpInterview).map(|due_on| FollowUp {
                due_on,
                done_on: stage_days
                    .get(id)
                    .and_then(|days| days.iter().find(|d| **d >= on).copied()),
            });
            if rescreen.is_some() || interview.is_some() {
                out.insert(
                    r.result_id,
                    FollowUps {
                        rescreen,
                        interview,
                    },
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ScreeningId;
    use crate::scoring::{ChildFacts, Recommendation, ScoreRequest, ScoreResult, Sex};
    use uuid::Uuid;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// A result of `instrument` on `on` asking for `asks` (kind, due), as stored under ids
    /// `result` / `screening`. Only the instrument, the day and the recommendations matter to
    /// the rule, so one scored M-CHAT-R result is reshaped.
    fn stored(
        engine: &Engine,
        instrument: &str,
        on: &str,
        asks: &[(RecommendationKind, Option<&str>)],
        result: u128,
        screening: u128,
    ) -> StoredResult {
        let answers = (1..=20u8)
            .map(|i| {
                (
                    i.to_string(),
                    serde_json::Value::from(u8::from(!matches!(i, 2 | 5 | 12))),
                )
            })
            .collect();
        let mut scored: ScoreResult = engine
            .score(&ScoreRequest {
                instrument: "mchat-r".into(),
                answers,
                administered_on: d("2025-11-10"),
                child: ChildFacts {
                    birth_date: d("2024-03-10"),
                    sex: Sex::Female,
                    gestational_age_weeks: None,
                },
                initial: None,
            })
            .unwrap();
        scored.instrument = instrument.into();
        scored.administered_on = d(on);
        scored.recommendations = asks
            .iter()
            .map(|(kind, due)| Recommendation {
                kind: *kind,
                due_on: due.map(d),
                programme: None,
                rule: "test".into(),
            })
            .collect();
        StoredResult {
            result_id: ResultId::from_uuid(Uuid::from_u128(result)),
            screening_id: ScreeningId::from_uuid(Uuid::from_u128(screening)),
            result: scored,
        }
    }

    fn id(n: u128) -> ResultId {
        ResultId::from_uuid(Uuid::from_u128(n))
    }

    #[test]
    fn a_rescreen_is_done_by_the_next_result_of_the_same_instrument() {
        let engine = Engine::builtin().unwrap();
        let rescreen = [(RecommendationKind::Rescreen, Some("2026-03-01"))];
        let results = vec![
            stored(&engine, "sdq-parent-4-17", "2026-01-10", &rescreen, 1, 10),
            // Another instrument does not close it.
            stored(&engine, "epds", "2026-02-01", &[], 2, 11),
            stored(&engine, "sdq-parent-4-17", "2026-04-02", &rescreen, 3, 12),
        ];
        let f = follow_ups(&engine, &results);
        assert_eq!(
            f[&id(1)].rescreen,
            Some(FollowUp {
                due_on: d("2026-03-01"),
                done_on: Some(d("2026-04-02"))
            })
        );
        assert_eq!(f[&id(1)].interview, None);
        assert_eq!(
            f[&id(3)].rescreen.unwrap().done_on,
            None,
            "nothing after it"
        );
        assert!(!f.contains_key(&id(2)), "no dated follow-up asked");
    }

    #[test]
    fn an_interview_is_done_by_the_follow_up_stage_on_or_after_its_day() {
        let engine = Engine::builtin().unwrap();
        let interview = [
            (RecommendationKind::FollowUpInterview, Some("2025-11-24")),
            (RecommendationKind::FollowUpInterview, Some("2025-12-24")),
            (RecommendationKind::Rescreen, None),
        ];
        let results = vec![
            stored(&engine, "mchat-rf", "2025-10-01", &[], 1, 10),
            stored(&engine, "mchat-r", "2025-11-10", &interview, 2, 11),
            stored(&engine, "mchat-rf", "2025-11-30", &[], 3, 12),
        ];
        let f = follow_ups(&engine, &results);
        assert_eq!(
            f[&id(2)].interview,
            Some(FollowUp {
                due_on: d("2025-11-24"),
                done_on: Some(d("2025-11-30"))
            }),
            "the earliest due date; the stage before the screening does not count"
        );
        assert_eq!(f[&id(2)].rescreen, None, "undated");
    }

    #[test]
    fn a_rescored_screening_counts_once_with_its_newest_result() {
        let engine = Engine::builtin().unwrap();
        let rescreen = [(RecommendationKind::Rescreen, Some("2026-03-01"))];
        let results = vec![
            stored(&engine, "epds", "2026-01-10", &rescreen, 1, 10),
            stored(&engine, "epds", "2026-01-10", &rescreen, 2, 10),
        ];
        let f = follow_ups(&engine, &results);
        assert_eq!(f.keys().copied().collect::<Vec<_>>(), vec![id(2)]);
        assert_eq!(f[&id(2)].rescreen.unwrap().done_on, None);
    }
}
