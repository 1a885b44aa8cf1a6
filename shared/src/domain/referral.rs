//! Referrals: a child sent from a screening result (or a specialist's choice) to a programme
//! or service at a provider organisation, and the states it goes through (issue #14).
//!
//! ```text
//! proposed ──send──▶ sent ──accept──▶ accepted ──start──▶ started ──complete──▶ completed
//!    │                 │  └──decline(reason)──▶ declined   │   └──────end(reason, outcome)──▶ ended
//!    └──withdraw──▶ withdrawn ◀──withdraw──┘◀──withdraw────┘ (accepted: also end)
//! ```
//!
//! Who may take a step: the referring organisation sends, withdraws and records the family's
//! agreement; the provider organisation accepts, declines, starts, completes and ends. A
//! referral is sent only with the family's agreement recorded as `agreed` (RAVIS policy:
//! the child's data goes to another organisation; `docs/CARE_PATHWAY.md`). The rules are pure;
//! `services/referrals/` applies them.

use crate::domain::field_error::{NotOneOf, one_of};
pub use crate::domain::ids::ReferralId;
use crate::domain::registry::{EndReason, EpisodeOutcome};
use crate::domain::{ChildId, EpisodeId, FieldError, ScreeningId, SpecialistId};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Where a referral is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferralState {
    /// Drafted by the referring organisation, not yet sent.
    Proposed,
    /// Sent to the provider, awaiting its answer.
    Sent,
    /// The provider accepted; support not started yet.
    Accepted,
    /// The provider declined (with a reason).
    Declined,
    /// Support started (a support episode is linked).
    Started,
    /// Support completed.
    Completed,
    /// Support ended early (with a reason and an outcome).
    Ended,
    /// The referring organisation withdrew the referral.
    Withdrawn,
}

impl ReferralState {
    /// Every state, in life order.
    pub const ALL: [ReferralState; 8] = [
        ReferralState::Proposed,
        ReferralState::Sent,
        ReferralState::Accepted,
        ReferralState::Declined,
        ReferralState::Started,
        ReferralState::Completed,
        ReferralState::Ended,
        ReferralState::Withdrawn,
    ];

    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferralState::Proposed => "proposed",
            ReferralState::Sent => "sent",
            ReferralState::Accepted => "accepted",
            ReferralState::Declined => "declined",
            ReferralState::Started => "started",
            ReferralState::Completed => "completed",
            ReferralState::Ended => "ended",
            ReferralState::Withdrawn => "withdrawn",
        }
    }

    /// Whether nothing can follow.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ReferralState::Declined
                | ReferralState::Completed
                | ReferralState::Ended
                | ReferralState::Withdrawn
        )
    }

    /// Whether the provider organisation has a care link through this referral in this
    /// state (from acceptance until the end; after the end, for the grace period).
    pub fn grants_care(self) -> bool {
        matches!(self, ReferralState::Accepted | ReferralState::Started)
    }

    /// Parses a `state` filter value.
    pub fn parse(raw: &str) -> Result<Self, NotOneOf> {
        one_of(raw, Self::ALL.map(|s| (s.as_str(), s)))
    }
}

/// Who takes a step: the organisation that referred, or the one referred to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The referring organisation.
    Referring,
    /// The provider organisation.
    Provider,
}

/// The states a step may start from and the side that takes it.
pub fn step_rule(to: ReferralState) -> (&'static [ReferralState], Side) {
    use ReferralState::*;
    match to {
        Proposed => (&[], Side::Referring),
        Sent => (&[Proposed], Side::Referring),
        Accepted => (&[Sent], Side::Provider),
        Declined => (&[Sent], Side::Provider),
        Started => (&[Accepted], Side::Provider),
        Completed => (&[Started], Side::Provider),
        Ended => (&[Accepted, Started], Side::Provider),
        Withdrawn => (&[Proposed, Sent, Accepted], Side::Referring),
    }
}

/// Days a provider keeps seeing the child after a referral ends, unless configured
/// (`RAVIS_REFERRAL_GRACE_DAYS`; RAVIS policy: time to write the closing report).
pub const DEFAULT_GRACE_DAYS: u32 = 30;

/// How soon support is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// Act today.
    Urgent,
    /// Within about two weeks.
    Soon,
    /// Within about a month.
    Routine,
}

impl Urgency {
    /// Days until the due date when a referral states none (RAVIS policy).
    pub fn default_due_days(self) -> u64 {
        match self {
            Urgency::Urgent => 0,
            Urgency::Soon => 14,
            Urgency::Routine => 30,
        }
    }

    /// Sort rank (most urgent first).
    pub fn rank(self) -> u8 {
        match self {
            Urgency::Urgent => 0,
            Urgency::Soon => 1,
            Urgency::Routine => 2,
        }
    }
}

/// What a referral answers: a recommendation of a screening result, or a specialist's
/// choice with a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ReferralBasis {
    /// A recommendation of the result of a screening of the same child.
    Result {
        /// The screening.
        screening_id: ScreeningId,
        /// The risk rule whose recommendation it follows.
        rule: String,
    },
    /// The specialist's choice.
    Reason {
        /// Why (free text, 1–1000 characters).
        text: String,
    },
}

/// The family's agreement to the referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgreementStatus {
    /// The family agreed.
    Agreed,
    /// The family declined.
    Declined,
    /// Not asked yet.
    NotAsked,
}

/// The family's agreement as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyAgreement {
    /// Agreed, declined or not asked.
    pub status: AgreementStatus,
    /// When it was recorded (not set while `not_asked`).
    pub recorded_at: Option<DateTime<Utc>>,
    /// Who recorded it (token subject and organisation).
    pub recorded_by: Option<String>,
}

/// One step of a referral's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The state reached.
    pub state: ReferralState,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (token subject).
    pub by: String,
    /// For which organisation.
    pub by_org: String,
    /// The reason given, if any.
    pub reason: Option<String>,
}

/// A stored referral.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Referral {
    /// Id (UUID v7).
    pub id: ReferralId,
    /// The child.
    pub child_id: ChildId,
    /// The programme or service (catalogue id).
    pub programme: String,
    /// The organisation referred to.
    pub provider_org: String,
    /// The organisation that referred.
    pub referring_org: String,
    /// The token subject of the referring specialist.
    pub referring_subject: String,
    /// The referring specialist in the registry, if named.
    pub referring_specialist_id: Option<SpecialistId>,
    /// What it answers.
    pub basis: ReferralBasis,
    /// How soon.
    pub urgency: Urgency,
    /// When support should start by.
    pub due_on: NaiveDate,
    /// Current state.
    pub state: ReferralState,
    /// The family's agreement.
    pub family_agreement: FamilyAgreement,
    /// Why the provider declined (state `declined`).
    pub decline_reason: Option<String>,
    /// Why support ended (state `ended`; `completed` for `completed`).
    pub end_reason: Option<EndReason>,
    /// Outcome of the support (states `completed`, `ended`).
    pub outcome: Option<EpisodeOutcome>,
    /// The support episode, once started.
    pub episode_id: Option<EpisodeId>,
    /// Until when the provider keeps its care link after the end (end + grace period).
    pub care_until: Option<DateTime<Utc>>,
    /// Every state reached, oldest first.
    pub history: Vec<Step>,
    /// When created.
    pub created_at: DateTime<Utc>,
}

impl Referral {
    /// When the referral was sent, if it was.
    pub fn sent_on(&self) -> Option<NaiveDate> {
        self.history
            .iter()
            .find(|s| s.state == ReferralState::Sent)
            .map(|s| s.at.date_naive())
    }

    /// Whether the provider organisation may see the child through this referral at `now`.
    pub fn grants_care_at(&self, now: DateTime<Utc>) -> bool {
        self.state.grants_care() || self.care_until.is_some_and(|until| now < until)
    }
}

/// Body of `POST /referrals`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReferralInput {
    /// The child.
    pub child_id: ChildId,
    /// What it answers: `{"result": {"screening_id", "rule"}}` or `{"reason": {"text"}}`.
    pub basis: ReferralBasis,
    /// Programme or service; taken from the recommendation when it names one.
    #[serde(default)]
    pub programme: Option<String>,
    /// The organisation referred to.
    pub provider_org: String,
    /// The referring specialist in the registry (must work for the caller's organisation).
    #[serde(default)]
    pub specialist_id: Option<SpecialistId>,
    /// How soon; `urgent` for a recommendation of kind `referral_urgent`, else `routine`.
    #[serde(default)]
    pub urgency: Option<Urgency>,
    /// Support should start by; default: the recommendation's due date, else today plus
    /// the urgency's days.
    #[serde(default)]
    pub due_on: Option<NaiveDate>,
    /// The family's agreement so far (default `not_asked`).
    #[serde(default)]
    pub family_agreement: Option<AgreementStatus>,
}

/// Body of `POST /referrals/{id}/transitions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionInput {
    /// The state to move to.
    pub to: ReferralState,
    /// Why (required to decline, end or withdraw).
    #[serde(default)]
    pub reason: Option<String>,
    /// Why support ended (`end`; `completed` is implied by `completed`).
    #[serde(default)]
    pub end_reason: Option<EndReason>,
    /// Outcome (required to complete or end a started referral).
    #[serde(default)]
    pub outcome: Option<EpisodeOutcome>,
    /// Start: an open support episode of the child at the provider to link instead of
    /// creating one.
    #[serde(default)]
    pub episode_id: Option<EpisodeId>,
    /// Start: first day of support (default today); complete/end: last day (default today).
    #[serde(default)]
    pub date: Option<NaiveDate>,
    /// Start: the specialist delivering support (must work for the provider).
    #[serde(default)]
    pub specialist_id: Option<SpecialistId>,
    /// Start: when the programme is planned to end.
    #[serde(default)]
    pub planned_end_date: Option<NaiveDate>,
}

/// Body of `PUT /referrals/{id}/family-agreement`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementInput {
    /// Agreed, declined or not asked.
    pub status: AgreementStatus,
}

/// Longest free-text reason.
pub const MAX_REASON_CHARS: usize = 1000;

/// Checks a free-text reason: present when `required`; when given, 1–1000 characters after
/// trimming white space, none of them a control character. Returns it trimmed.
pub fn check_reason(
    field: &str,
    reason: Option<&str>,
    required: bool,
) -> Result<Option<String>, FieldError> {
    let Some(raw) = reason else {
        return if required {
            Err(FieldError::new(field, "is required for this step"))
        } else {
            Ok(None)
        };
    };
    match crate::domain::registry::text_problem(raw, MAX_REASON_CHARS) {
        Some(reason) => Err(FieldError::new(field, reason)),
        None => Ok(Some(raw.trim().to_owned())),
    }
}

/// The field rules of a step that need no store: what each target state requires and
/// forbids, and dates not in the future. Returns every problem.
pub fn check_transition(input: &TransitionInput, today: NaiveDate) -> Vec<FieldError> {
    use ReferralState::*;
    let mut errors = Vec::new();
    let reason_required = matches!(input.to, Declined | Withdrawn | Ended);
    if let Err(e) = check_reason("reason", input.reason.as_deref(), reason_required) {
        errors.push(e);
    }
    if input.to == Proposed {
        errors.push(FieldError::new(
            "to",
            "a referral is proposed when it is created",
        ));
    }
    if input.to == Ended && input.end_reason.is_none() {
        errors.push(FieldError::new("end_reason", "is required to end support"));
    }
    if input.end_reason.is_some() && input.to != Ended {
        errors.push(FieldError::new(
            "end_reason",
            "is only given to end support",
        ));
    }
    if input.to == Completed && input.outcome.is_none() {
        errors.push(FieldError::new(
            "outcome",
            "is required to complete support",
        ));
    }
    if input.outcome.is_some() && !matches!(input.to, Completed | Ended) {
        errors.push(FieldError::new(
            "outcome",
            "is only given to complete or end support",
        ));
    }
    if (input.episode_id.is_some() || input.specialist_id.is_some()) && input.to != Started {
        let field = if input.episode_id.is_some() {
            "episode_id"
        } else {
            "specialist_id"
        };
        errors.push(FieldError::new(field, "is only given to start support"));
    }
    if input.planned_end_date.is_some() && input.to != Started {
        errors.push(FieldError::new(
            "planned_end_date",
            "is only given to start support",
        ));
    }
    if input.date.is_some() && !matches!(input.to, Started | Completed | Ended) {
        errors.push(FieldError::new(
            "date",
            "is only given to start, complete or end support",
        ));
    }
    if input.date.is_some_and(|d| d > today) {
        errors.push(FieldError::new("date", "must not be in the future"));
    }
    if let (Some(start), Some(end)) = (input.date, input.planned_end_date)
        && end < start
    {
        errors.push(FieldError::new(
            "planned_end_date",
            "must not be before the start",
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(to: ReferralState) -> TransitionInput {
        TransitionInput {
            to,
            reason: None,
            end_reason: None,
            outcome: None,
            episode_id: None,
            date: None,
            specialist_id: None,
            planned_end_date: None,
        }
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn each_state_is_reached_only_from_its_predecessors() {
        use ReferralState::*;
        let reachable: Vec<(ReferralState, ReferralState)> = ReferralState::ALL
            .into_iter()
            .flat_map(|to| step_rule(to).0.iter().map(move |from| (*from, to)))
            .collect();
        assert_eq!(
            reachable,
            [
                (Proposed, Sent),
                (Sent, Accepted),
                (Sent, Declined),
                (Accepted, Started),
                (Started, Completed),
                (Accepted, Ended),
                (Started, Ended),
                (Proposed, Withdrawn),
                (Sent, Withdrawn),
                (Accepted, Withdrawn),
            ]
        );
        for s in ReferralState::ALL {
            if s.is_final() {
                assert!(
                    ReferralState::ALL
                        .into_iter()
                        .all(|to| !step_rule(to).0.contains(&s)),
                    "{s:?} is final"
                );
            }
        }
        assert_eq!(step_rule(Accepted).1, Side::Provider);
        assert_eq!(step_rule(Withdrawn).1, Side::Referring);
    }

    #[test]
    fn steps_require_what_they_need() {
        let today: NaiveDate = "2026-12-06".parse().unwrap();
        assert_eq!(
            fields(check_transition(&step(ReferralState::Declined), today)),
            ["reason"]
        );
        assert_eq!(
            fields(check_transition(&step(ReferralState::Completed), today)),
            ["outcome"]
        );
        assert_eq!(
            fields(check_transition(&step(ReferralState::Ended), today)),
            ["reason", "end_reason"]
        );
        assert!(check_transition(&step(ReferralState::Accepted), today).is_empty());
        let mut early = step(ReferralState::Accepted);
        early.outcome = Some(EpisodeOutcome::GoalsMet);
        early.date = Some("2026-12-07".parse().unwrap());
        assert_eq!(
            fields(check_transition(&early, today)),
            ["outcome", "date", "date"]
        );
        let mut start = step(ReferralState::Started);
        start.date = Some("2026-12-01".parse().unwrap());
        start.planned_end_date = Some("2026-11-30".parse().unwrap());
        assert_eq!(
            fields(check_transition(&start, today)),
            ["planned_end_date"]
        );
        assert_eq!(
            check_reason("reason", Some(&"x".repeat(1001)), false)
                .unwrap_err()
                .field,
            "reason"
        );
        assert_eq!(ReferralState::parse("sent"), Ok(ReferralState::Sent));
        assert!(ReferralState::parse("lost").is_err());
    }
}
