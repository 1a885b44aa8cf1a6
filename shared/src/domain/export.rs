//! Exports: what leaves RAVIS for the national systems (issue #12). A change that must be
//! told to a receiver records an export job in the same atomic write as the change (the
//! outbox); the exports worker delivers it and moves it through these states:
//!
//! ```text
//! pending ──submit──▶ sent(remote job) ──poll──▶ accepted | rejected
//!    │  └─(receiver answered at once)────────────▶ accepted | rejected
//!    ├──(nothing to send: no personal code, no education-relevant measure)──▶ skipped
//!    └──(attempts exhausted)──▶ failed ──(operator retry)──▶ pending
//! ```
//!
//! The rules here are pure; `services/exports/` applies them. The education record
//! ([`ViisRecord`]) is the allow-list of what education staff may learn (DOMAIN.md, VIIS).

pub use crate::domain::ids::ExportId;
use crate::domain::{ChildId, ScreeningId};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The receiving system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportTarget {
    /// The e-health system (E-veselība), FHIR R4B.
    Health,
    /// The State Education Information System (VIIS), through the VISS integration platform.
    Education,
}

impl ExportTarget {
    /// Both targets.
    pub const ALL: [ExportTarget; 2] = [ExportTarget::Health, ExportTarget::Education];

    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportTarget::Health => "health",
            ExportTarget::Education => "education",
        }
    }

    /// The recipient as the child's audit trail names it ("sent to E-veselība").
    pub fn recipient(self) -> &'static str {
        match self {
            ExportTarget::Health => "E-veselība",
            ExportTarget::Education => "VIIS",
        }
    }

    /// Parses the JSON name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Where an export job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportState {
    /// Recorded, waiting for (another) attempt.
    Pending,
    /// Handed to the receiver, which is processing it (`remote_job` is polled).
    Sent,
    /// The receiver accepted every resource.
    Accepted,
    /// The receiver refused it (its OperationOutcome is kept); retrying will not help.
    Rejected,
    /// Every attempt failed (receiver down, throttling); an operator may retry.
    Failed,
    /// Nothing to send (the reason is kept), e.g. a child without a personal code.
    Skipped,
}

impl ExportState {
    /// Every state.
    pub const ALL: [ExportState; 6] = [
        ExportState::Pending,
        ExportState::Sent,
        ExportState::Accepted,
        ExportState::Rejected,
        ExportState::Failed,
        ExportState::Skipped,
    ];

    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportState::Pending => "pending",
            ExportState::Sent => "sent",
            ExportState::Accepted => "accepted",
            ExportState::Rejected => "rejected",
            ExportState::Failed => "failed",
            ExportState::Skipped => "skipped",
        }
    }

    /// Parses the JSON name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether the worker has nothing more to do (only an operator's retry moves it on).
    pub fn is_final(self) -> bool {
        !matches!(self, ExportState::Pending | ExportState::Sent)
    }

    /// Whether an operator may send it again: after a failure or a rejection (say, once
    /// the receiver's profile was fixed). Accepted and skipped jobs are done.
    pub fn is_retryable(self) -> bool {
        matches!(self, ExportState::Failed | ExportState::Rejected)
    }
}

/// Why a job was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportCause {
    /// A screening was scored for the first time.
    Result,
    /// A screening was scored again (new instrument or engine version): an update.
    Rescore,
    /// Another child was merged into this one: its results are sent again under this child.
    Merge,
    /// A merge was undone: each child's results are sent again under its own identity.
    Unmerge,
    /// The child's personal code changed (population register): results are sent again.
    PersonalCode,
}

impl ExportCause {
    /// Whether the receiver may already hold an earlier version (the bundle updates).
    pub fn is_update(self) -> bool {
        !matches!(self, ExportCause::Result)
    }
}

/// What a job sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExportScope {
    /// One stored result (the sort key of its record under the screening).
    Result {
        /// The screening.
        screening_id: ScreeningId,
        /// Sort key of the result record (`RESULT#<instrument version>#<engine version>`).
        result_sk: String,
    },
    /// The newest result of every screening of the child (after a merge, an un-merge or a
    /// new personal code).
    Child,
}

/// One attempt to deliver, as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportAttempt {
    /// When.
    pub at: DateTime<Utc>,
    /// What came of it: `accepted`, `submitted`, `in_progress`, `retry`, `rejected`, `skipped`.
    pub outcome: String,
    /// The receiver's HTTP status, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// What went wrong or what was sent, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The most attempts an operator can see in a job (older ones are summarised by `attempts`).
pub const MAX_KEPT_ATTEMPTS: usize = 20;

/// An export job (the outbox record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportJob {
    /// Its id.
    pub id: ExportId,
    /// The receiving system.
    pub target: ExportTarget,
    /// Where it is.
    pub state: ExportState,
    /// Why it was recorded.
    pub cause: ExportCause,
    /// The child whose data it sends (the survivor's results are read at send time).
    pub child_id: ChildId,
    /// What it sends.
    pub scope: ExportScope,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Deliveries tried so far (polls of a remote job are not attempts).
    pub attempts: u32,
    /// When the worker should next look at it (a retry, or a poll of the remote job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last error, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The receiver's job (FHIR async: the `Content-Location` polled at `_job/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_job: Option<String>,
    /// The receiver's answer when it refused (a FHIR OperationOutcome), for the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver_outcome: Option<serde_json::Value>,
    /// Why nothing was sent (`skipped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_reason: Option<String>,
    /// When the data first reached the receiver (the disclosure in the child's audit trail
    /// is written in the same atomic write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclosed_at: Option<DateTime<Utc>>,
    /// The sequence number of the disclosure's entry in the child's audit chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclosure_seq: Option<u64>,
    /// What was delivered: the receiver's locations, the outbox object names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivered: Vec<String>,
    /// The most recent attempts, oldest first (at most [`MAX_KEPT_ATTEMPTS`]).
    #[serde(default)]
    pub history: Vec<ExportAttempt>,
}

impl ExportJob {
    /// A new pending job, due now.
    pub fn new(
        id: ExportId,
        target: ExportTarget,
        cause: ExportCause,
        child_id: ChildId,
        scope: ExportScope,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            target,
            state: ExportState::Pending,
            cause,
            child_id,
            scope,
            created_at: now,
            updated_at: now,
            attempts: 0,
            next_attempt_at: Some(now),
            last_error: None,
            remote_job: None,
            receiver_outcome: None,
            skipped_reason: None,
            disclosed_at: None,
            disclosure_seq: None,
            delivered: Vec::new(),
            history: Vec::new(),
        }
    }

    /// Adds an attempt to the history, keeping the newest [`MAX_KEPT_ATTEMPTS`].
    pub fn log(&mut self, attempt: ExportAttempt) {
        self.updated_at = attempt.at;
        self.history.push(attempt);
        let excess = self.history.len().saturating_sub(MAX_KEPT_ATTEMPTS);
        self.history.drain(..excess);
    }
}

/// The retry policy of deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before a job fails (and its message goes to the dead-letter queue).
    pub max_attempts: u32,
    /// The first pause.
    pub base: Duration,
    /// The longest pause.
    pub cap: Duration,
    /// The pause between polls of a remote job (the NVD FHIR API asks for about 10 s).
    pub poll_every: Duration,
    /// How long a claimed job is left to the worker that claimed it before the sweep hands
    /// it to another (a worker that crashed mid-send).
    pub lease: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base: Duration::from_secs(2),
            cap: Duration::from_secs(15 * 60),
            poll_every: Duration::from_secs(10),
            lease: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The pause before attempt `attempts + 1`: exponential (`base · 2^(attempts-1)`,
    /// capped) with "equal jitter" (half fixed, half random: `jitter` in 0..=1 picks where),
    /// and never shorter than the receiver's `Retry-After`.
    pub fn delay(&self, attempts: u32, jitter: f64, retry_after: Option<Duration>) -> Duration {
        let exp = attempts.saturating_sub(1).min(20);
        let full = self.base.saturating_mul(1u32 << exp).min(self.cap);
        let half = full / 2;
        let jittered = half + half.mul_f64(jitter.clamp(0.0, 1.0));
        retry_after.map_or(jittered, |after| jittered.max(after))
    }
}

/// A support measure as education staff see it: the catalogue id and name, nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViisMeasure {
    /// Catalogue id.
    pub id: String,
    /// Catalogue name.
    pub name: String,
}

/// The record VIIS receives. **This type is the allow-list** (issue #12, DOMAIN.md): the
/// child's personal code, that a support need exists, the recommended measures, the date,
/// valid until, and the issuing organisation and role — never an instrument, a score, a
/// band, a risk level, a flag, an explanation or a diagnosis. A field added here widens
/// what schools learn about a child's health; the test below pins the field list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViisRecord {
    /// The child's personal code.
    pub personal_code: String,
    /// Always true: a record exists only for a support need.
    pub support_need: bool,
    /// The recommended measures (education-relevant catalogue entries).
    pub measures: Vec<ViisMeasure>,
    /// The date of the screening that found the need.
    pub date: NaiveDate,
    /// Until when the need stands unless renewed.
    pub valid_until: NaiveDate,
    /// The issuing organisation's registration code.
    pub issuer_organisation: String,
    /// The issuing role (`health_specialist`, `education_specialist` …).
    pub issuer_role: String,
}

/// The fields of [`ViisRecord`], in order: the allow-list.
pub const VIIS_FIELDS: [&str; 7] = [
    "personal_code",
    "support_need",
    "measures",
    "date",
    "valid_until",
    "issuer_organisation",
    "issuer_role",
];

/// How long a support need stands in VIIS after the screening, unless renewed (one school
/// year, RAVIS policy; the review cadence renews it).
pub const VIIS_VALID_MONTHS: u32 = 12;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_viis_record_holds_only_the_allowed_fields() {
        let record = ViisRecord {
            personal_code: "010117-21234".into(),
            support_need: true,
            measures: vec![ViisMeasure {
                id: "kiva".into(),
                name: "KiVa".into(),
            }],
            date: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            valid_until: NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(),
            issuer_organisation: "40000000001".into(),
            issuer_role: "health_specialist".into(),
        };
        let value = serde_json::to_value(&record).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut allowed = VIIS_FIELDS.to_vec();
        allowed.sort_unstable();
        let mut got = keys.clone();
        got.sort_unstable();
        assert_eq!(got, allowed);
        let measure_keys: Vec<&str> = value["measures"][0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(measure_keys, ["id", "name"]);
        // Anything else is refused on the way back in, too.
        let mut extra = value.clone();
        extra["score"] = serde_json::json!(17);
        assert!(serde_json::from_value::<ViisRecord>(extra).is_err());
    }

    #[test]
    fn delays_grow_with_jitter_and_honour_retry_after() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, 0.0, None), Duration::from_secs(1));
        assert_eq!(p.delay(1, 1.0, None), Duration::from_secs(2));
        assert_eq!(p.delay(3, 0.0, None), Duration::from_secs(4));
        assert_eq!(p.delay(3, 1.0, None), Duration::from_secs(8));
        assert_eq!(p.delay(30, 1.0, None), Duration::from_secs(900));
        assert_eq!(
            p.delay(1, 0.0, Some(Duration::from_secs(120))),
            Duration::from_secs(120)
        );
        assert_eq!(
            p.delay(5, 1.0, Some(Duration::from_secs(1))),
            Duration::from_secs(32)
        );
    }

    #[test]
    fn only_failed_and_rejected_jobs_may_be_retried() {
        for s in ExportState::ALL {
            assert_eq!(
                s.is_retryable(),
                matches!(s, ExportState::Failed | ExportState::Rejected),
                "{s:?}"
            );
            assert_eq!(ExportState::parse(s.as_str()), Some(s));
        }
        assert!(!ExportState::Pending.is_final() && !ExportState::Sent.is_final());
    }
}
