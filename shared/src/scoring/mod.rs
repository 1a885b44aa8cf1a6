//! Screening instruments and the scoring engine (issue 3): published algorithms, as data.
//!
//! - `definition` — the data model of an instrument definition file and its validation;
//! - `builtin`    — the shipped definitions (`shared/instruments/*.json`), embedded in the binary;
//! - `age`        — age in completed months and prematurity-corrected age;
//! - `answers`    — answers resolved against a definition (shared by every input path);
//! - `engine`     — [`Engine`]: definitions compiled, requests validated;
//! - `outcome`    — scores, bands, risk rules and explanation, as a result or straight to JSON;
//! - `lines`      — [`score_lines`], the `ravis score` contract (JSON lines in, JSON lines out);
//! - `risk_profile` — the per-child view over stored results.
//!
//! Everything here is pure computation: the same code runs in the worker, the API and the CLI.

mod age;
mod answers;
pub(crate) mod builtin;
mod compiled;
pub mod definition;
mod engine;
pub mod follow_ups;
mod lines;
mod outcome;
pub mod programme_outcome;
pub mod risk_profile;
pub mod wording;

#[cfg(test)]
mod tests;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub use age::{AgeAtAdministration, age_at_administration, completed_months};
pub use definition::{DefinitionError, InstrumentDefinition, Sex};
pub use engine::Engine;
pub use lines::{LinesSummary, score_lines};
pub use programme_outcome::{EpisodeSpan, OutcomeWindows, ProgrammeOutcome, programme_outcomes};
pub use risk_profile::{RiskProfile, StoredResult, risk_profile};

/// Version of the scoring engine; part of every result. Bump it whenever the meaning of any
/// definition field or any computation changes, so old results stay attributable.
pub const ENGINE_VERSION: &str = "1.0.0";

/// One screening to score: exactly the `ravis score` input line (issue 3 item 7).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreRequest {
    /// Instrument id, e.g. `sdq-parent-4-17`.
    pub instrument: String,
    /// Answer codes keyed by item id; every value must be an integer code of that item.
    pub answers: BTreeMap<String, serde_json::Value>,
    /// Date the instrument was administered.
    pub administered_on: NaiveDate,
    /// Facts about the child that scoring needs.
    pub child: ChildFacts,
    /// The initial screening a follow-up stage (e.g. `mchat-rf`) belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<InitialScreening>,
}

/// Facts about the child that scoring needs (age, norms, prematurity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChildFacts {
    /// Date of birth (for a prenatal administration: the expected date of delivery).
    pub birth_date: NaiveDate,
    /// Sex, used to choose sex-specific norm tables where a norm set has them.
    pub sex: Sex,
    /// Completed weeks of gestation at birth, when known.
    #[serde(default)]
    pub gestational_age_weeks: Option<u8>,
}

/// The initial screening that a follow-up stage is linked to: the engine re-derives which
/// items were at risk from these answers, so the link cannot disagree with the initial result.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InitialScreening {
    /// Instrument id of the initial screening, e.g. `mchat-r`.
    pub instrument: String,
    /// Date the initial screening was administered.
    pub administered_on: NaiveDate,
    /// The initial screening's answers, coded as for that instrument.
    pub answers: BTreeMap<String, serde_json::Value>,
}

/// The outcome of scoring one screening: everything needed to explain it later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreResult {
    /// Instrument id.
    pub instrument: String,
    /// Version of the instrument definition that produced this result.
    pub instrument_version: String,
    /// [`ENGINE_VERSION`] of the engine that produced this result.
    pub engine_version: String,
    /// The norm set and table that gave the bands.
    pub norms: NormsRef,
    /// Date the instrument was administered.
    pub administered_on: NaiveDate,
    /// Chronological age in completed months at administration (negative before birth).
    pub age_months: i32,
    /// Prematurity-corrected age in completed months, when the definition's policy applied.
    pub corrected_age_months: Option<i32>,
    /// Every score of the instrument, keyed by score id.
    pub scores: BTreeMap<String, Score>,
    /// Overall risk level.
    pub risk_level: RiskLevel,
    /// Flags raised by risk rules (e.g. `self_harm`), in rule order, without duplicates.
    pub flags: Vec<String>,
    /// Recommended actions, in rule order, without duplicates.
    pub recommendations: Vec<Recommendation>,
    /// Which rule produced each conclusion, in evaluation order.
    pub explanation: Vec<Explanation>,
}

/// Identifies the norm set (and the table inside it) used for banding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormsRef {
    /// Norm set id, e.g. `sdq-uk-four-band`.
    pub id: String,
    /// Norm set version.
    pub version: String,
    /// Table id inside the set (chosen by age and sex).
    pub table: String,
}

/// One score: its integer value (null when the missing-data rule forbids a value) and band.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// The score, or null when too few answers were given.
    pub value: Option<i64>,
    /// The band from the norm table, or null when the score has no norms or no value.
    pub band: Option<String>,
}

/// Overall risk level of a result; ordered from `Low` to `Urgent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    /// No rule raised concern.
    Low,
    /// Needs a follow-up step (interview, rescreen, complete the form).
    Medium,
    /// Needs a referral.
    High,
    /// Needs action today.
    Urgent,
}

impl RiskLevel {
    /// The lower-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
            RiskLevel::Urgent => "urgent",
        }
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of action a recommendation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecommendationKind {
    /// Administer the same instrument again on `due_on`.
    Rescreen,
    /// Administer the follow-up stage (e.g. the M-CHAT-R/F interview).
    FollowUpInterview,
    /// Refer for in-depth (diagnostic) assessment.
    ReferralInDepthAssessment,
    /// Refer to an intervention programme from the catalogue (`programme`).
    ReferralProgramme,
    /// Act today (e.g. self-harm risk).
    ReferralUrgent,
}

impl RecommendationKind {
    /// The snake-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RecommendationKind::Rescreen => "rescreen",
            RecommendationKind::FollowUpInterview => "follow_up_interview",
            RecommendationKind::ReferralInDepthAssessment => "referral_in_depth_assessment",
            RecommendationKind::ReferralProgramme => "referral_programme",
            RecommendationKind::ReferralUrgent => "referral_urgent",
        }
    }
}

/// A recommended action and the rule that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendation {
    /// What to do.
    pub kind: RecommendationKind,
    /// When it is due, if the rule sets a date.
    pub due_on: Option<NaiveDate>,
    /// Catalogue id of the programme, for `referral_programme`.
    pub programme: Option<String>,
    /// Id of the risk rule that produced it.
    pub rule: String,
}

/// One step of the reasoning: which rule produced which conclusion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// Rule id: `age`, `age.corrected`, `score.<id>`, `default`, or a risk rule id.
    pub rule: String,
    /// What the rule concluded, with the numbers it used.
    pub text: String,
}

/// A problem with a request, naming the field (`answers.7`, `administered_on`, `instrument`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ScoringError {
    /// Dotted path of the offending field; empty for the input as a whole.
    pub field: String,
    /// Why it is wrong, in words a screener can act on.
    pub reason: String,
}

impl ScoringError {
    /// Builds an error for `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ScoringError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
