//! The instrument definition file format (version 1) and its validation.
//!
//! A definition is JSON (`shared/instruments/<id>.json`); `docs/SCORING.md` documents every
//! field. Parsing is strict (`deny_unknown_fields`) and [`InstrumentDefinition::validate`]
//! checks everything the engine relies on, so a broken file fails at start-up with an error
//! naming the file and the field, never at scoring time.

use super::{RecommendationKind, RiskLevel};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The definition file format this engine reads.
pub const FORMAT: u32 = 1;

/// A definition that cannot be loaded; names the file and, where it can, the field.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    /// The file is not valid JSON for the format (serde names the field, line and column).
    #[error("{file}: not a valid definition: {source}")]
    Parse {
        /// File name (or origin label) of the definition.
        file: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The file parsed but a field breaks a rule.
    #[error("{file}: {field}: {reason}")]
    Invalid {
        /// File name (or origin label) of the definition.
        file: String,
        /// Path of the offending field, e.g. `scores[2].sum.items[1]`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// Path of the file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl DefinitionError {
    pub(crate) fn invalid(file: &str, field: impl Into<String>, reason: impl Into<String>) -> Self {
        DefinitionError::Invalid {
            file: file.to_owned(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Sex of the child, for sex-specific norm tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
}

impl Sex {
    /// Both values, for coverage checks.
    pub const ALL: [Sex; 2] = [Sex::Female, Sex::Male];

    /// The lower-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
        }
    }
}

/// Who answers the instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Informant {
    /// A parent or carer (also a mother answering about herself, as in the EPDS).
    Parent,
    /// A teacher or pre-school educator.
    Teacher,
    /// A professional interviewing the parent (e.g. the M-CHAT-R/F Follow-Up).
    Professional,
}

/// Where a definition (or norm set) comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Bibliographic citation of the publication or official scoring instructions.
    pub citation: String,
    /// Where the scoring instructions are published.
    #[serde(default)]
    pub url: Option<String>,
    /// Anything a reader should know about how the source was turned into this file.
    #[serde(default)]
    pub notes: Option<String>,
}

/// Inclusive range of ages in completed months.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeRange {
    /// Youngest age, in completed months (negative: before birth).
    pub min_months: i32,
    /// Oldest age, in completed months.
    pub max_months: i32,
}

impl AgeRange {
    /// Whether `months` is inside the range.
    pub fn contains(&self, months: i32) -> bool {
        self.min_months <= months && months <= self.max_months
    }
}

/// When and how to correct age for prematurity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrematurityPolicy {
    /// Correct when born before this many completed weeks of gestation (37).
    pub born_before_weeks: u8,
    /// Term in weeks; weeks early = term − gestational age (40).
    pub term_weeks: u8,
    /// Correct only while the chronological age in months is below this (24).
    pub until_chronological_months: i32,
}

/// How answer codes of an item turn into item scores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coding {
    /// Item score for each answer code: answer `k` (0-based) scores `scores[k]`.
    pub scores: Vec<i64>,
    /// Short neutral names of the answer codes (no copyrighted wording), optional.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// One item (question) of the instrument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemDef {
    /// Item id: the key of its answer in a request (`"7"`, `"impact_home"`).
    pub id: String,
    /// Name of the coding in `codings`.
    pub coding: String,
    /// Short neutral variable name (as in the official scoring syntax), optional.
    #[serde(default)]
    pub name: Option<String>,
}

/// What a sum does when items are unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MissingRule {
    /// Any unanswered item makes the score null.
    #[default]
    RequireAll,
    /// With at least `min_answered` items answered, the score is sum × items / answered,
    /// rounded half up; otherwise null.
    Prorate {
        /// Fewest answered items that still give a score.
        min_answered: usize,
    },
    /// Unanswered items count 0 (follow-up stages that only ask about some items).
    CountAsZero,
}

/// A sum of item scores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SumDef {
    /// Item ids.
    pub items: Vec<String>,
    /// Missing-data rule.
    #[serde(default)]
    pub missing: MissingRule,
}

/// Makes a score 0 when an item has a given answer (SDQ: impact is 0 when no difficulties).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZeroWhen {
    /// Item id.
    pub item: String,
    /// Answer code that forces the score to 0.
    pub answer: i64,
}

/// One score: exactly one of `sum` (of items) or `sum_of` (other scores, null if any is null).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreDef {
    /// Score id, the key in the result's `scores`.
    pub id: String,
    /// Sum of item scores.
    #[serde(default)]
    pub sum: Option<SumDef>,
    /// Sum of earlier scores.
    #[serde(default)]
    pub sum_of: Option<Vec<String>>,
    /// Forces the score to 0 on a given answer.
    #[serde(default)]
    pub zero_when: Option<ZeroWhen>,
    /// Polarity: whether a higher value means more difficulty (SDQ difficulty scales, EPDS,
    /// M-CHAT-R) or less (SDQ prosocial, ASQ-style areas). Required on every score (checked
    /// by validation, so a missing one is named); programme outcomes read it to tell
    /// `improved` from `worsened`.
    #[serde(default)]
    pub higher_is_worse: Option<bool>,
}

impl ScoreDef {
    /// The score's polarity; validation guarantees it is stated.
    pub fn higher_is_worse(&self) -> bool {
        self.higher_is_worse.unwrap_or(true)
    }
}

/// The score that sums up the instrument, for trends in the risk profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrimaryScore {
    /// Score id.
    pub score: String,
    /// Whether a higher value means more difficulty (true for all shipped instruments).
    pub higher_is_worse: bool,
}

/// One band of a norm table: values `min..=max` get the name `band`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// Band name, e.g. `slightly_raised`.
    pub band: String,
    /// Lowest value in the band.
    pub min: i64,
    /// Highest value in the band.
    pub max: i64,
}

/// Bands for some scores, for children of an age range and/or sex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormTable {
    /// Table id, e.g. `parent` or `24m`.
    pub id: String,
    /// Ages (effective age, completed months) the table is for; all ages if absent.
    #[serde(default)]
    pub age: Option<AgeRange>,
    /// Sex the table is for; both if absent.
    #[serde(default)]
    pub sex: Option<Sex>,
    /// Bands per score id, ascending and covering the score's whole range.
    pub bands: BTreeMap<String, Vec<Band>>,
}

/// A set of norm tables; the first table matching the child's age and sex is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Norms {
    /// Norm set id, e.g. `sdq-uk-four-band`.
    pub id: String,
    /// Norm set version.
    pub version: String,
    /// Where the norms come from.
    pub source: Source,
    /// Tables, tried in order.
    pub tables: Vec<NormTable>,
}

/// A national (or other) norm set replacing an instrument's shipped norms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormsOverride {
    /// Definition file format, 1.
    pub format: u32,
    /// Instrument id whose norms this replaces.
    pub instrument: String,
    /// The replacement norms.
    pub norms: Norms,
}

/// Whether a rule comes from the instrument's publication or is a RAVIS decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Stated in the cited publication or official scoring instructions.
    #[default]
    Published,
    /// RAVIS policy (e.g. which catalogue programme to suggest); change it here, in data.
    Policy,
    /// Part of a demonstration instrument; not for use with children.
    Demonstration,
}

/// A condition of a risk rule; all conditions of a rule must hold for it to fire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The score has a value in one of these bands.
    Band {
        /// Score id.
        score: String,
        /// Band names.
        #[serde(rename = "in")]
        bands: Vec<String>,
    },
    /// The score has a value within `min..=max` (either bound optional).
    Value {
        /// Score id.
        score: String,
        /// Lowest value.
        #[serde(default)]
        min: Option<i64>,
        /// Highest value.
        #[serde(default)]
        max: Option<i64>,
    },
    /// The score is null (too few answers).
    Missing {
        /// Score id.
        score: String,
    },
    /// The item is answered and its item score is within `min..=max`.
    ItemScore {
        /// Item id.
        item: String,
        /// Lowest item score.
        #[serde(default)]
        min: Option<i64>,
        /// Highest item score.
        #[serde(default)]
        max: Option<i64>,
    },
    /// The effective age in completed months is within `min..=max`.
    AgeMonths {
        /// Youngest age.
        #[serde(default)]
        min: Option<i32>,
        /// Oldest age.
        #[serde(default)]
        max: Option<i32>,
    },
}

/// When a recommendation is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Due {
    /// This many days after administration (0: the same day).
    AfterDays(u32),
    /// This many months after administration.
    AfterMonths(u32),
    /// When the child reaches this age in months (corrected birth date if correction applied).
    AtAgeMonths(u32),
}

/// A recommendation a rule makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendDef {
    /// Kind of action.
    pub kind: RecommendationKind,
    /// When it is due; no date if absent.
    #[serde(default)]
    pub due: Option<Due>,
    /// Catalogue programme id; required for `referral_programme`, forbidden otherwise.
    #[serde(default)]
    pub programme: Option<String>,
}

/// A risk rule: when all conditions hold, raise the risk, flags and recommendations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskRule {
    /// Rule id, quoted in explanations and recommendations.
    pub id: String,
    /// Published or RAVIS policy.
    #[serde(default)]
    pub basis: Basis,
    /// Conditions, all of which must hold.
    pub when: Vec<Condition>,
    /// Risk level raised to (the result takes the highest of all firing rules).
    #[serde(default)]
    pub risk: Option<RiskLevel>,
    /// Flags raised.
    #[serde(default)]
    pub flags: Vec<String>,
    /// Recommendations made.
    #[serde(default)]
    pub recommend: Vec<RecommendDef>,
    /// Human explanation of the rule, quoted in results.
    pub explain: String,
}

/// Links a follow-up stage to the initial screening it continues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUpOf {
    /// Instrument id of the initial screening.
    pub instrument: String,
    /// Score of the initial screening that decides whether a follow-up applies.
    pub score: String,
    /// Lowest value of that score for which the follow-up applies.
    pub min_initial: i64,
}

/// A whole instrument definition (one file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentDefinition {
    /// Definition file format, 1.
    pub format: u32,
    /// Instrument id (part of the public interface).
    pub id: String,
    /// Definition version, recorded in every result.
    pub version: String,
    /// Human name.
    pub name: String,
    /// Who answers.
    pub informant: Informant,
    /// True for demonstration instruments that must not be used with children.
    #[serde(default)]
    pub demonstration: bool,
    /// Where the scoring rules come from.
    pub source: Source,
    /// Valid ages (effective age in completed months).
    pub age_range: AgeRange,
    /// Prematurity correction policy; none if absent.
    #[serde(default)]
    pub prematurity_correction: Option<PrematurityPolicy>,
    /// Answer codings by name.
    pub codings: BTreeMap<String, Coding>,
    /// Items in order.
    pub items: Vec<ItemDef>,
    /// Scores in evaluation order (`sum_of` may only use earlier scores).
    pub scores: Vec<ScoreDef>,
    /// The headline score for trends.
    #[serde(default)]
    pub primary_score: Option<PrimaryScore>,
    /// Shipped norms.
    pub norms: Norms,
    /// Risk rules in order.
    pub risk_rules: Vec<RiskRule>,
    /// Risk level when no rule sets one.
    pub default_risk: RiskLevel,
    /// Set for follow-up stages (e.g. M-CHAT-R/F).
    #[serde(default)]
    pub follow_up_of: Option<FollowUpOf>,
}

/// Lowest and highest value a score can take, for checking that bands cover it.
pub(crate) type ScoreRange = (i64, i64);

impl InstrumentDefinition {
    /// Parses and validates one definition; `file` names it in errors.
    pub fn from_json(file: &str, json: &str) -> Result<Self, DefinitionError> {
        let def: InstrumentDefinition =
            serde_json::from_str(json).map_err(|source| DefinitionError::Parse {
                file: file.to_owned(),
                source,
            })?;
        def.validate(file)?;
        Ok(def)
    }

    /// Checks every rule the engine relies on; `file` names the definition in errors.
    pub fn validate(&self, file: &str) -> Result<(), DefinitionError> {
        let bad =
            |field: String, reason: String| Err(DefinitionError::invalid(file, field, reason));
        if self.format != FORMAT {
            return bad(
                "format".into(),
                format!("must be {FORMAT}, found {}", self.format),
            );
        }
        check_id(file, "id", &self.id)?;
        for (field, value) in [
            ("version", &self.version),
            ("name", &self.name),
            ("source.citation", &self.source.citation),
        ] {
            if value.trim().is_empty() {
                return bad(field.into(), "must not be empty".into());
            }
        }
        if self.age_range.min_months > self.age_range.max_months {
            return bad("age_range".into(), "min_months is above max_months".into());
        }
        if let Some(p) = &self.prematurity_correction
            && (p.born_before_weeks == 0
                || p.born_before_weeks > p.term_weeks
                || p.until_chronological_months <= 0)
        {
            return bad(
                "prematurity_correction".into(),
                "needs 0 < born_before_weeks <= term_weeks and until_chronological_months > 0"
                    .into(),
            );
        }
        for (name, coding) in &self.codings {
            let field = format!("codings.{name}");
            if coding.scores.is_empty() || coding.scores.len() > usize::from(u8::MAX) {
                return bad(
                    format!("{field}.scores"),
                    "needs 1 to 255 answer codes".into(),
                );
            }
            if coding.scores.iter().any(|s| s.abs() > 1_000_000) {
                return bad(
                    format!("{field}.scores"),
                    "item scores must be within ±1000000".into(),
                );
            }
            if !coding.labels.is_empty() && coding.labels.len() != coding.scores.len() {
                return bad(
                    format!("{field}.labels"),
                    "must have one label per answer code (or none)".into(),
                );
            }
        }
        let mut item_ids = BTreeSet::new();
        for (i, item) in self.items.iter().enumerate() {
            let field = format!("items[{i}]");
            check_key(file, &format!("{field}.id"), &item.id)?;
            if !item_ids.insert(item.id.as_str()) {
                return bad(
                    format!("{field}.id"),
                    format!("duplicate item id '{}'", item.id),
                );
            }
            if !self.codings.contains_key(&item.coding) {
                return bad(
                    format!("{field}.coding"),
                    format!("unknown coding '{}'", item.coding),
                );
            }
        }
        if self.items.is_empty() {
            return bad("items".into(), "must not be empty".into());
        }
        let ranges = self.validate_scores(file)?;
        for (i, score) in self.scores.iter().enumerate() {
            if score.higher_is_worse.is_none() {
                return bad(
                    format!("scores[{i}].higher_is_worse"),
                    "every score states its polarity (true: a higher value is worse)".into(),
                );
            }
        }
        if let Some(primary) = &self.primary_score {
            let Some(def) = self.scores.iter().find(|s| s.id == primary.score) else {
                return bad(
                    "primary_score.score".into(),
                    format!("unknown score '{}'", primary.score),
                );
            };
            if def.higher_is_worse != Some(primary.higher_is_worse) {
                return bad(
                    "primary_score.higher_is_worse".into(),
                    format!("disagrees with score '{}'", primary.score),
                );
            }
        }
        validate_norms(file, "norms", &self.norms, self, &ranges, None)?;
        self.validate_rules(file, &ranges)?;
        if let Some(f) = &self.follow_up_of {
            check_id(file, "follow_up_of.instrument", &f.instrument)?;
            if f.instrument == self.id {
                return bad(
                    "follow_up_of.instrument".into(),
                    "cannot follow up itself".into(),
                );
            }
            // The initial instrument is checked when all definitions are known (Engine).
            let asks_all = self.scores.iter().any(|s| {
                s.sum
                    .as_ref()
                    .is_some_and(|sum| sum.missing != MissingRule::CountAsZero)
            });
            if asks_all {
                return bad(
                    "scores".into(),
                    "a follow-up stage asks only about the items at risk: its sums must use \
                     missing = count_as_zero"
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// The coding of an item.
    pub(crate) fn coding_of(&self, item: &ItemDef) -> &Coding {
        // Validation guarantees the coding exists; fall back to an empty coding defensively.
        static EMPTY: Coding = Coding {
            scores: Vec::new(),
            labels: Vec::new(),
        };
        self.codings.get(&item.coding).unwrap_or(&EMPTY)
    }

    fn validate_scores(&self, file: &str) -> Result<BTreeMap<&str, ScoreRange>, DefinitionError> {
        let bad =
            |field: String, reason: String| Err(DefinitionError::invalid(file, field, reason));
        let items: BTreeMap<&str, &ItemDef> =
            self.items.iter().map(|i| (i.id.as_str(), i)).collect();
        let mut ranges: BTreeMap<&str, ScoreRange> = BTreeMap::new();
        if self.scores.is_empty() {
            return bad("scores".into(), "must not be empty".into());
        }
        for (i, score) in self.scores.iter().enumerate() {
            let field = format!("scores[{i}]");
            check_key(file, &format!("{field}.id"), &score.id)?;
            if ranges.contains_key(score.id.as_str()) {
                return bad(
                    format!("{field}.id"),
                    format!("duplicate score id '{}'", score.id),
                );
            }
            let mut range = match (&score.sum, &score.sum_of) {
                (Some(sum), None) => {
                    if sum.items.is_empty() {
                        return bad(format!("{field}.sum.items"), "must not be empty".into());
                    }
                    let mut seen = BTreeSet::new();
                    let (mut lo, mut hi) = (0i64, 0i64);
                    let (mut item_lo, mut item_hi) = (i64::MAX, i64::MIN);
                    for (j, id) in sum.items.iter().enumerate() {
                        let Some(item) = items.get(id.as_str()) else {
                            return bad(
                                format!("{field}.sum.items[{j}]"),
                                format!("unknown item '{id}'"),
                            );
                        };
                        if !seen.insert(id.as_str()) {
                            return bad(
                                format!("{field}.sum.items[{j}]"),
                                format!("item '{id}' listed twice"),
                            );
                        }
                        let coding = self.coding_of(item);
                        let (min, max) = min_max(&coding.scores);
                        lo += min;
                        hi += max;
                        item_lo = item_lo.min(min);
                        item_hi = item_hi.max(max);
                    }
                    match sum.missing {
                        MissingRule::RequireAll => {}
                        MissingRule::Prorate { min_answered } => {
                            if min_answered == 0 || min_answered > sum.items.len() {
                                return bad(
                                    format!("{field}.sum.missing.prorate.min_answered"),
                                    format!("must be 1 to {}", sum.items.len()),
                                );
                            }
                            // A prorated mean × n stays within n × the extreme item scores.
                            let n = sum.items.len() as i64;
                            lo = lo.min(n * item_lo);
                            hi = hi.max(n * item_hi);
                        }
                        MissingRule::CountAsZero => {
                            lo = lo.min(0);
                            hi = hi.max(0);
                        }
                    }
                    (lo, hi)
                }
                (None, Some(of)) => {
                    if of.is_empty() {
                        return bad(format!("{field}.sum_of"), "must not be empty".into());
                    }
                    let (mut lo, mut hi) = (0i64, 0i64);
                    for (j, id) in of.iter().enumerate() {
                        let Some((a, b)) = ranges.get(id.as_str()) else {
                            return bad(
                                format!("{field}.sum_of[{j}]"),
                                format!("unknown or later score '{id}' (only earlier scores)"),
                            );
                        };
                        lo += a;
                        hi += b;
                    }
                    (lo, hi)
                }
                _ => {
                    return bad(field, "needs exactly one of 'sum' or 'sum_of'".into());
                }
            };
            if let Some(zero) = &score.zero_when {
                let Some(item) = items.get(zero.item.as_str()) else {
                    return bad(
                        format!("{field}.zero_when.item"),
                        format!("unknown item '{}'", zero.item),
                    );
                };
                let codes = self.coding_of(item).scores.len() as i64;
                if zero.answer < 0 || zero.answer >= codes {
                    return bad(
                        format!("{field}.zero_when.answer"),
                        format!("must be an answer code 0–{}", codes - 1),
                    );
                }
                range = (range.0.min(0), range.1.max(0));
            }
            ranges.insert(score.id.as_str(), range);
        }
        Ok(ranges)
    }

    fn validate_rules(
        &self,
        file: &str,
        ranges: &BTreeMap<&str, ScoreRange>,
    ) -> Result<(), DefinitionError> {
        let bad =
            |field: String, reason: String| Err(DefinitionError::invalid(file, field, reason));
        let vocabulary = band_vocabulary(&self.norms);
        let mut rule_ids = BTreeSet::new();
        for (i, rule) in self.risk_rules.iter().enumerate() {
            let field = format!("risk_rules[{i}]");
            check_key(file, &format!("{field}.id"), &rule.id)?;
            if !rule_ids.insert(rule.id.as_str()) {
                return bad(
                    format!("{field}.id"),
                    format!("duplicate rule id '{}'", rule.id),
                );
            }
            if rule.explain.trim().is_empty() {
                return bad(format!("{field}.explain"), "must not be empty".into());
            }
            if rule.when.is_empty() {
                return bad(
                    format!("{field}.when"),
                    "needs at least one condition".into(),
                );
            }
            if self.demonstration != (rule.basis == Basis::Demonstration) {
                return bad(
                    format!("{field}.basis"),
                    "demonstration instruments use basis 'demonstration', and only they do".into(),
                );
            }
            for (j, cond) in rule.when.iter().enumerate() {
                let cfield = format!("{field}.when[{j}]");
                match cond {
                    Condition::Band { score, bands } => {
                        let Some(names) = vocabulary.get(score.as_str()) else {
                            return bad(cfield, format!("score '{score}' has no bands"));
                        };
                        if bands.is_empty() {
                            return bad(cfield, "needs at least one band".into());
                        }
                        if let Some(b) = bands.iter().find(|b| !names.contains(b.as_str())) {
                            return bad(cfield, format!("score '{score}' has no band '{b}'"));
                        }
                    }
                    Condition::Value { score, min, max } => {
                        if !ranges.contains_key(score.as_str()) {
                            return bad(cfield, format!("unknown score '{score}'"));
                        }
                        check_bounds(file, &cfield, *min, *max)?;
                    }
                    Condition::Missing { score } => {
                        if !ranges.contains_key(score.as_str()) {
                            return bad(cfield, format!("unknown score '{score}'"));
                        }
                    }
                    Condition::ItemScore { item, min, max } => {
                        if !self.items.iter().any(|it| &it.id == item) {
                            return bad(cfield, format!("unknown item '{item}'"));
                        }
                        check_bounds(file, &cfield, *min, *max)?;
                    }
                    Condition::AgeMonths { min, max } => {
                        check_bounds(file, &cfield, min.map(i64::from), max.map(i64::from))?;
                    }
                }
            }
            for (j, flag) in rule.flags.iter().enumerate() {
                check_key(file, &format!("{field}.flags[{j}]"), flag)?;
            }
            for (j, rec) in rule.recommend.iter().enumerate() {
                let rfield = format!("{field}.recommend[{j}]");
                match (&rec.kind, &rec.programme) {
                    (RecommendationKind::ReferralProgramme, Some(p)) => {
                        check_id(file, &format!("{rfield}.programme"), p)?
                    }
                    (RecommendationKind::ReferralProgramme, None) => {
                        return bad(rfield, "referral_programme needs a 'programme'".into());
                    }
                    (_, Some(_)) => {
                        return bad(
                            format!("{rfield}.programme"),
                            "only referral_programme names a programme".into(),
                        );
                    }
                    (_, None) => {}
                }
            }
        }
        Ok(())
    }
}

/// Checks a norm set against a definition: every banded score exists, bands are ascending,
/// contiguous and cover the score's whole range, and every age and sex finds a table.
/// With `vocabulary` (for overrides) band names must come from it and the banded scores
/// must be exactly those of the shipped norms, so the risk rules keep their meaning.
pub(crate) fn validate_norms(
    file: &str,
    field: &str,
    norms: &Norms,
    def: &InstrumentDefinition,
    ranges: &BTreeMap<&str, ScoreRange>,
    vocabulary: Option<&BTreeMap<String, BTreeSet<String>>>,
) -> Result<(), DefinitionError> {
    let bad = |f: String, reason: String| Err(DefinitionError::invalid(file, f, reason));
    check_id(file, &format!("{field}.id"), &norms.id)?;
    if norms.version.trim().is_empty() {
        return bad(format!("{field}.version"), "must not be empty".into());
    }
    if norms.source.citation.trim().is_empty() {
        return bad(
            format!("{field}.source.citation"),
            "must not be empty".into(),
        );
    }
    if norms.tables.is_empty() {
        return bad(format!("{field}.tables"), "must not be empty".into());
    }
    let first_scores: BTreeSet<&String> = norms.tables[0].bands.keys().collect();
    let mut table_ids = BTreeSet::new();
    for (t, table) in norms.tables.iter().enumerate() {
        let tfield = format!("{field}.tables[{t}]");
        check_key(file, &format!("{tfield}.id"), &table.id)?;
        if !table_ids.insert(table.id.as_str()) {
            return bad(
                format!("{tfield}.id"),
                format!("duplicate table id '{}'", table.id),
            );
        }
        if let Some(age) = &table.age
            && age.min_months > age.max_months
        {
            return bad(
                format!("{tfield}.age"),
                "min_months is above max_months".into(),
            );
        }
        let scores: BTreeSet<&String> = table.bands.keys().collect();
        if scores != first_scores {
            return bad(
                format!("{tfield}.bands"),
                "every table must band the same scores".into(),
            );
        }
        for (score, bands) in &table.bands {
            let bfield = format!("{tfield}.bands.{score}");
            let Some(&(lo, hi)) = ranges.get(score.as_str()) else {
                return bad(bfield, format!("unknown score '{score}'"));
            };
            let mut next = lo;
            for (k, band) in bands.iter().enumerate() {
                check_key(file, &format!("{bfield}[{k}].band"), &band.band)?;
                if band.min != next {
                    return bad(
                        format!("{bfield}[{k}].min"),
                        format!(
                            "bands must be ascending and contiguous from {lo}: expected {next}, found {}",
                            band.min
                        ),
                    );
                }
                if band.max < band.min {
                    return bad(format!("{bfield}[{k}].max"), "is below min".into());
                }
                if let Some(vocab) = vocabulary
                    && !vocab.get(score).is_some_and(|v| v.contains(&band.band))
                {
                    return bad(
                        format!("{bfield}[{k}].band"),
                        format!(
                            "'{}' is not a band name the risk rules know for '{score}'",
                            band.band
                        ),
                    );
                }
                next = band.max + 1;
            }
            if next != hi + 1 {
                return bad(
                    bfield,
                    format!("bands must cover {lo}–{hi}; they end at {}", next - 1),
                );
            }
        }
    }
    if let Some(vocab) = vocabulary {
        let shipped: BTreeSet<&String> = vocab.keys().collect();
        if first_scores != shipped {
            return bad(
                format!("{field}.tables[0].bands"),
                format!(
                    "must band exactly the scores the shipped norms band: {}",
                    shipped
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    // Every valid age and sex must find a table, else a valid request could not be banded.
    for months in def.age_range.min_months..=def.age_range.max_months {
        for sex in Sex::ALL {
            if select_table(norms, months, sex).is_none() {
                return bad(
                    format!("{field}.tables"),
                    format!("no table for age {months} months, sex {}", sex.as_str()),
                );
            }
        }
    }
    Ok(())
}

/// The first table of `norms` for an effective age and sex.
pub(crate) fn select_table(norms: &Norms, months: i32, sex: Sex) -> Option<usize> {
    norms
        .tables
        .iter()
        .position(|t| t.age.is_none_or(|a| a.contains(months)) && t.sex.is_none_or(|s| s == sex))
}

/// Band names used per score across a norm set's tables.
pub(crate) fn band_vocabulary(norms: &Norms) -> BTreeMap<String, BTreeSet<String>> {
    let mut vocab: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for table in &norms.tables {
        for (score, bands) in &table.bands {
            vocab
                .entry(score.clone())
                .or_default()
                .extend(bands.iter().map(|b| b.band.clone()));
        }
    }
    vocab
}

/// Score ranges of a validated definition (for checking override norms).
pub(crate) fn score_ranges<'d>(
    def: &'d InstrumentDefinition,
    file: &str,
) -> Result<BTreeMap<&'d str, ScoreRange>, DefinitionError> {
    def.validate_scores(file)
}

fn min_max(values: &[i64]) -> (i64, i64) {
    let min = values.iter().copied().min().unwrap_or(0);
    let max = values.iter().copied().max().unwrap_or(0);
    (min, max)
}

fn check_bounds(
    file: &str,
    field: &str,
    min: Option<i64>,
    max: Option<i64>,
) -> Result<(), DefinitionError> {
    match (min, max) {
        (None, None) => Err(DefinitionError::invalid(
            file,
            field,
            "needs 'min' or 'max'",
        )),
        (Some(a), Some(b)) if a > b => {
            Err(DefinitionError::invalid(file, field, "min is above max"))
        }
        _ => Ok(()),
    }
}

/// Ids of instruments, norm sets and programmes: lower-case letters, digits and `-`.
fn check_id(file: &str, field: &str, id: &str) -> Result<(), DefinitionError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(DefinitionError::invalid(
            file,
            field,
            format!("'{id}' must be 1–64 lower-case letters, digits and inner '-'"),
        ))
    }
}

/// Keys of items, scores, bands, flags, tables and rules: lower-case letters, digits, `_`, `-`, `.`.
fn check_key(file: &str, field: &str, key: &str) -> Result<(), DefinitionError> {
    let ok = !key.is_empty()
        && key.len() <= 64
        && key.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(DefinitionError::invalid(
            file,
            field,
            format!("'{key}' must be 1–64 characters of a–z, 0–9, '_', '-', '.'"),
        ))
    }
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Basis::Published => "published",
            Basis::Policy => "RAVIS policy",
            Basis::Demonstration => "demonstration",
        })
    }
}
