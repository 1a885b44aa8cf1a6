//! What is due for one child, and for whom: the rules that turn a child's results,
//! referrals and support episodes into worklist items (issue #14, item 2; documented in
//! `docs/CARE_PATHWAY.md`). Pure: the caller loads the facts.
//!
//! - `rescreen`, `follow_up_interview`: each dated open recommendation of those kinds in the
//!   risk profile (`scoring/risk_profile.rs`: a later screening with the same instrument, or
//!   the follow-up stage, closes it), for the organisation that submitted the screening;
//! - `referral_to_send`: a `proposed` referral, for the referring organisation, due on its
//!   due date;
//! - `referral_response`: a `sent` referral, for the provider, due [`RESPONSE_DAYS`] after it
//!   was sent (or on the referral's due date if earlier);
//! - `referral_start`: an `accepted` referral not started, for the provider, due on its due date;
//! - `episode_outcome`: an open episode past its planned end, for the provider, due on the
//!   planned end;
//! - `support_review`: the follow-up cadence of an open, started episode, for the provider:
//!   due [`Cadence`] months after the last review (else the start) — every 3 months while the
//!   child is under 3 years old on that day, every 6 months from 3 years (settings).
//!
//! A child who is merged, deceased or moved abroad has no items.

use crate::domain::field_error::{NotOneOf, one_of};
use crate::domain::referral::{Referral, ReferralState, Urgency};
use crate::domain::registry::SupportEpisode;
use crate::domain::{Child, ChildId, ChildStatus};
use crate::scoring::RecommendationKind;
use crate::scoring::risk_profile::OpenRecommendation;
use chrono::{Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// Days a provider has to answer a sent referral (RAVIS policy).
pub const RESPONSE_DAYS: u64 = 7;

/// What a worklist item asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    /// Screen again with the same instrument.
    Rescreen,
    /// Administer the follow-up stage (e.g. the M-CHAT-R/F interview).
    FollowUpInterview,
    /// Send a proposed referral (with the family's agreement).
    ReferralToSend,
    /// Accept or decline a referral.
    ReferralResponse,
    /// Start the support of an accepted referral.
    ReferralStart,
    /// Record the outcome of support past its planned end.
    EpisodeOutcome,
    /// Review the support (the follow-up cadence).
    SupportReview,
}

impl WorkKind {
    /// Every kind.
    pub const ALL: [WorkKind; 7] = [
        WorkKind::Rescreen,
        WorkKind::FollowUpInterview,
        WorkKind::ReferralToSend,
        WorkKind::ReferralResponse,
        WorkKind::ReferralStart,
        WorkKind::EpisodeOutcome,
        WorkKind::SupportReview,
    ];

    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkKind::Rescreen => "rescreen",
            WorkKind::FollowUpInterview => "follow_up_interview",
            WorkKind::ReferralToSend => "referral_to_send",
            WorkKind::ReferralResponse => "referral_response",
            WorkKind::ReferralStart => "referral_start",
            WorkKind::EpisodeOutcome => "episode_outcome",
            WorkKind::SupportReview => "support_review",
        }
    }

    /// Parses a `kind` filter value.
    pub fn parse(raw: &str) -> Result<Self, NotOneOf> {
        one_of(raw, Self::ALL.map(|k| (k.as_str(), k)))
    }
}

/// The follow-up cadence of children in support (settings `RAVIS_REVIEW_MONTHS_UNDER_3`,
/// `RAVIS_REVIEW_MONTHS_FROM_3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// Months between reviews while the child is under 3 years old.
    pub under_3: u32,
    /// Months between reviews from 3 years.
    pub from_3: u32,
}

impl Default for Cadence {
    fn default() -> Self {
        Self {
            under_3: 3,
            from_3: 6,
        }
    }
}

/// One item: something an organisation should do for a child by a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkItem {
    /// The organisation whose list it is on.
    pub organisation: String,
    /// The child.
    pub child_id: ChildId,
    /// What to do.
    pub kind: WorkKind,
    /// By when.
    pub due_on: NaiveDate,
    /// How urgent (ties on the same day: most urgent first).
    pub urgency: Urgency,
    /// What it comes from: `screening:<id>:<rule>`, `referral:<id>`, `episode:<id>`.
    pub source: String,
    /// The token subject it is assigned to, when one person owns it (the screener).
    pub assignee: Option<String>,
    /// The API resource to act on.
    pub link: String,
    /// The instrument (screening items) or programme (referral and episode items).
    pub subject: Option<String>,
}

impl WorkItem {
    /// The item's id within its organisation: `<kind>#<source>`.
    pub fn id(&self) -> String {
        format!("{}#{}", self.kind.as_str(), self.source)
    }
}

/// Who submitted a screening (owner of its follow-ups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitter {
    /// The screening.
    pub screening_id: crate::domain::ScreeningId,
    /// Its organisation.
    pub organisation: String,
    /// Its token subject.
    pub subject: String,
}

/// Everything [`derive`] needs about one child.
pub struct ChildFacts<'a> {
    /// The child.
    pub child: &'a Child,
    /// Open recommendations of its risk profile.
    pub open: &'a [OpenRecommendation],
    /// Who submitted which screening, with the result each open recommendation came from.
    pub submitters: &'a [(crate::domain::ResultId, Submitter)],
    /// Its referrals.
    pub referrals: &'a [Referral],
    /// Its support episodes.
    pub episodes: &'a [SupportEpisode],
}

/// The items due for the child (see the module rules), in no particular order.
pub fn derive(facts: &ChildFacts<'_>, cadence: Cadence) -> Vec<WorkItem> {
    let child = facts.child;
    if child.status != ChildStatus::Active {
        return Vec::new();
    }
    let mut items = Vec::new();
    for open in facts.open {
        let kind = match open.recommendation.kind {
            RecommendationKind::Rescreen => WorkKind::Rescreen,
            RecommendationKind::FollowUpInterview => WorkKind::FollowUpInterview,
            _ => continue,
        };
        let (Some(due_on), Some((_, by))) = (
            open.recommendation.due_on,
            facts.submitters.iter().find(|(r, _)| *r == open.result_id),
        ) else {
            continue;
        };
        items.push(WorkItem {
            organisation: by.organisation.clone(),
            child_id: child.id,
            kind,
            due_on,
            urgency: Urgency::Routine,
            source: format!("screening:{}:{}", by.screening_id, open.recommendation.rule),
            assignee: Some(by.subject.clone()),
            link: format!("/screenings/{}", by.screening_id),
            subject: Some(open.instrument.clone()),
        });
    }
    for r in facts.referrals {
        let (kind, organisation, due_on) = match r.state {
            ReferralState::Proposed => (WorkKind::ReferralToSend, &r.referring_org, r.due_on),
            ReferralState::Sent => {
                let answer_by = r
                    .sent_on()
                    .and_then(|d| d.checked_add_days(Days::new(RESPONSE_DAYS)))
                    .map_or(r.due_on, |d| d.min(r.due_on));
                (WorkKind::ReferralResponse, &r.provider_org, answer_by)
            }
            ReferralState::Accepted => (WorkKind::ReferralStart, &r.provider_org, r.due_on),
            _ => continue,
        };
        items.push(WorkItem {
            organisation: organisation.clone(),
            child_id: child.id,
            kind,
            due_on,
            urgency: r.urgency,
            source: format!("referral:{}", r.id),
            assignee: (kind == WorkKind::ReferralToSend).then(|| r.referring_subject.clone()),
            link: format!("/referrals/{}", r.id),
            subject: Some(r.programme.clone()),
        });
    }
    for e in facts.episodes.iter().filter(|e| e.is_open()) {
        let Some(start) = e.start_date else { continue };
        let item = |kind, due_on| WorkItem {
            organisation: e.provider_org.clone(),
            child_id: child.id,
            kind,
            due_on,
            urgency: Urgency::Routine,
            source: format!("episode:{}", e.id),
            assignee: None,
            link: format!("/support-episodes/{}", e.id),
            subject: Some(e.programme.clone()),
        };
        if let Some(planned) = e.planned_end_date {
            items.push(item(WorkKind::EpisodeOutcome, planned));
        }
        let last = e.last_review_on.unwrap_or(start).max(start);
        let months = if crate::scoring::completed_months(child.birth_date, last) < 36 {
            cadence.under_3
        } else {
            cadence.from_3
        };
        if let Some(due) = last.checked_add_months(Months::new(months)) {
            items.push(item(WorkKind::SupportReview, due));
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::referral::{AgreementStatus, FamilyAgreement, ReferralBasis, Step};
    use crate::domain::registry::ReferralSource;
    use crate::domain::{EpisodeId, ReferralId, ResultId, ScreeningId, Sex};
    use crate::scoring::Recommendation;
    use crate::scoring::risk_profile::DueStatus;
    use uuid::Uuid;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn child(birth: &str) -> Child {
        Child {
            id: ChildId::from_uuid(Uuid::from_u128(1)),
            personal_code: None,
            given_name: "A".into(),
            family_name: "B".into(),
            birth_date: d(birth),
            sex: Sex::Female,
            gestational_age_weeks: None,
            atvk: None,
            status: ChildStatus::Active,
            created_at: "2024-01-01T00:00:00Z".parse().unwrap(),
            registered_by_org: "clinic".into(),
        }
    }

    fn episode(start: &str, last_review: Option<&str>, planned: Option<&str>) -> SupportEpisode {
        SupportEpisode {
            id: EpisodeId::from_uuid(Uuid::from_u128(7)),
            child_id: ChildId::from_uuid(Uuid::from_u128(1)),
            programme: "cool-kids".into(),
            provider_org: "provider".into(),
            specialist_id: None,
            referring_org: None,
            referral_date: d(start),
            referral_source: ReferralSource::Text { text: "t".into() },
            start_date: Some(d(start)),
            end_date: None,
            outcome: None,
            end_reason: None,
            created_at: "2024-01-01T00:00:00Z".parse().unwrap(),
            planned_end_date: planned.map(d),
            last_review_on: last_review.map(d),
            referral_id: None,
        }
    }

    fn referral(state: ReferralState, sent: &str, due: &str) -> Referral {
        let at = |s: &str| format!("{s}T09:00:00Z").parse().unwrap();
        Referral {
            id: ReferralId::from_uuid(Uuid::from_u128(9)),
            child_id: ChildId::from_uuid(Uuid::from_u128(1)),
            programme: "cool-kids".into(),
            provider_org: "provider".into(),
            referring_org: "clinic".into(),
            referring_subject: "nurse".into(),
            referring_specialist_id: None,
            basis: ReferralBasis::Reason { text: "t".into() },
            urgency: Urgency::Soon,
            due_on: d(due),
            state,
            family_agreement: FamilyAgreement {
                status: AgreementStatus::Agreed,
                recorded_at: None,
                recorded_by: None,
            },
            decline_reason: None,
            end_reason: None,
            outcome: None,
            episode_id: None,
            care_until: None,
            history: vec![Step {
                state: ReferralState::Sent,
                at: at(sent),
                by: "nurse".into(),
                by_org: "clinic".into(),
                reason: None,
            }],
            created_at: at(sent),
        }
    }

    fn facts<'a>(
        child: &'a Child,
        open: &'a [OpenRecommendation],
        submitters: &'a [(ResultId, Submitter)],
        referrals: &'a [Referral],
        episodes: &'a [SupportEpisode],
    ) -> ChildFacts<'a> {
        ChildFacts {
            child,
            open,
            submitters,
            referrals,
            episodes,
        }
    }

    #[test]
    fn dated_follow_ups_go_to_the_screener() {
        let c = child("2024-06-01");
        let result = ResultId::from_uuid(Uuid::from_u128(3));
        let screening = ScreeningId::from_uuid(Uuid::from_u128(4));
        let open = |kind, due: Option<&str>| OpenRecommendation {
            instrument: "mchat-r".into(),
            result_id: result,
            administered_on: d("2026-10-01"),
            recommendation: Recommendation {
                kind,
                due_on: due.map(d),
                programme: None,
                rule: "r".into(),
            },
            status: DueStatus::Overdue,
        };
        let recs = [
            open(RecommendationKind::FollowUpInterview, Some("2026-10-15")),
            open(RecommendationKind::Rescreen, None),
            open(
                RecommendationKind::ReferralInDepthAssessment,
                Some("2026-10-01"),
            ),
        ];
        let by = [(
            result,
            Submitter {
                screening_id: screening,
                organisation: "clinic".into(),
                subject: "nurse".into(),
            },
        )];
        let items = derive(&facts(&c, &recs, &by, &[], &[]), Cadence::default());
        assert_eq!(
            items.len(),
            1,
            "undated and referral recommendations are no items"
        );
        assert_eq!(items[0].kind, WorkKind::FollowUpInterview);
        assert_eq!(items[0].organisation, "clinic");
        assert_eq!(items[0].assignee.as_deref(), Some("nurse"));
        assert_eq!(items[0].due_on, d("2026-10-15"));
        assert_eq!(items[0].link, format!("/screenings/{screening}"));
        let mut gone = c.clone();
        gone.status = ChildStatus::Merged;
        assert!(derive(&facts(&gone, &recs, &by, &[], &[]), Cadence::default()).is_empty());
    }

    #[test]
    fn referrals_wait_on_the_side_that_must_act() {
        let c = child("2020-01-01");
        let items = |r: Referral| derive(&facts(&c, &[], &[], &[r], &[]), Cadence::default());
        let sent = items(referral(ReferralState::Sent, "2026-11-01", "2026-12-01"));
        assert_eq!(
            (sent[0].kind, sent[0].organisation.as_str(), sent[0].due_on),
            (WorkKind::ReferralResponse, "provider", d("2026-11-08"))
        );
        let soon = items(referral(ReferralState::Sent, "2026-11-01", "2026-11-03"));
        assert_eq!(
            soon[0].due_on,
            d("2026-11-03"),
            "never later than the due date"
        );
        let proposed = items(referral(
            ReferralState::Proposed,
            "2026-11-01",
            "2026-12-01",
        ));
        assert_eq!(
            (proposed[0].kind, proposed[0].organisation.as_str()),
            (WorkKind::ReferralToSend, "clinic")
        );
        let accepted = items(referral(
            ReferralState::Accepted,
            "2026-11-01",
            "2026-12-01",
        ));
        assert_eq!(
            (accepted[0].kind, accepted[0].due_on),
            (WorkKind::ReferralStart, d("2026-12-01"))
        );
        for done in [
            ReferralState::Started,
            ReferralState::Declined,
            ReferralState::Completed,
            ReferralState::Withdrawn,
        ] {
            assert!(items(referral(done, "2026-11-01", "2026-12-01")).is_empty());
        }
    }

    #[test]
    fn the_review_cadence_follows_the_age_on_the_last_review() {
        let review = |birth: &str, e: SupportEpisode| {
            derive(
                &facts(&child(birth), &[], &[], &[], &[e]),
                Cadence::default(),
            )
            .into_iter()
            .find(|i| i.kind == WorkKind::SupportReview)
            .map(|i| i.due_on)
        };
        // Under 3 at the start: 3 months.
        assert_eq!(
            review("2025-01-01", episode("2026-01-10", None, None)),
            Some(d("2026-04-10"))
        );
        // From 3: 6 months, counted from the last review.
        assert_eq!(
            review(
                "2020-01-01",
                episode("2026-01-10", Some("2026-03-01"), None)
            ),
            Some(d("2026-09-01"))
        );
        // Turned 3 between start and review: the age on the review day counts.
        assert_eq!(
            review(
                "2023-02-01",
                episode("2026-01-10", Some("2026-02-01"), None)
            ),
            Some(d("2026-08-01"))
        );
        let mut ended = episode("2026-01-10", None, Some("2026-06-01"));
        ended.end_date = Some(d("2026-06-01"));
        assert_eq!(review("2020-01-01", ended), None);
        let mut unstarted = episode("2026-01-10", None, None);
        unstarted.start_date = None;
        assert_eq!(review("2020-01-01", unstarted), None);
        let planned = derive(
            &facts(
                &child("2020-01-01"),
                &[],
                &[],
                &[],
                &[episode("2026-01-10", None, Some("2026-06-01"))],
            ),
            Cadence::default(),
        );
        assert!(
            planned
                .iter()
                .any(|i| i.kind == WorkKind::EpisodeOutcome && i.due_on == d("2026-06-01"))
        );
    }
}
