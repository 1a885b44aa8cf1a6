//! The scoring engine: validated definitions compiled for fast, allocation-light scoring.

use super::age::{AgeAtAdministration, age_at_administration};
use super::answers::{AnswerSet, AnswerValue, ItemLookup};
use super::builtin::BUILTIN;
use super::definition::{
    Band, Basis, Condition, DefinitionError, Due, FORMAT, InstrumentDefinition, MissingRule,
    NormsOverride, band_vocabulary, score_ranges, select_table, validate_norms,
};
use super::{
    ChildFacts, ENGINE_VERSION, Explanation, InitialScreening, NormsRef, Recommendation, RiskLevel,
    Score, ScoreRequest, ScoreResult, ScoringError,
};
use chrono::{Days, Months, NaiveDate};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

/// Plausible gestational ages at birth, in completed weeks; outside is a data-entry error.
const GESTATION_WEEKS: std::ops::RangeInclusive<u8> = 22..=44;

/// The scoring engine: validated instrument definitions, ready to score.
///
/// `Send + Sync` and cheap to clone (definitions are shared behind an `Arc`).
#[derive(Debug, Clone)]
pub struct Engine {
    instruments: Arc<BTreeMap<String, Compiled>>,
}

/// A definition compiled into positions, so scoring does no name lookups.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) def: InstrumentDefinition,
    pub(crate) file: String,
    pub(crate) lookup: ItemLookup,
    /// Item scores by answer code, per item position.
    item_codes: Vec<Vec<i64>>,
    scores: Vec<CScore>,
    /// Bands per table, per score position (`None`: the score has no norms).
    tables: Vec<Vec<Option<Vec<Band>>>>,
    rules: Vec<CRule>,
    follow_up: Option<CFollowUp>,
}

#[derive(Debug)]
struct CScore {
    id: String,
    method: CMethod,
    zero_when: Option<(usize, u8)>,
}

#[derive(Debug)]
enum CMethod {
    Sum {
        items: Vec<usize>,
        missing: MissingRule,
    },
    SumOf(Vec<usize>),
}

#[derive(Debug)]
enum CCond {
    Band { score: usize, bands: Vec<String> },
    Value { score: usize, min: i64, max: i64 },
    Missing { score: usize },
    ItemScore { item: usize, min: i64, max: i64 },
    Age { min: i32, max: i32 },
}

#[derive(Debug)]
struct CRule {
    index: usize,
    when: Vec<CCond>,
}

#[derive(Debug)]
struct CFollowUp {
    /// Initial instrument id.
    instrument: String,
    /// Position, in this instrument, of the initial instrument's item with the same id.
    initial_item: Vec<usize>,
    /// Position of the deciding score in the initial instrument.
    initial_score: usize,
    min_initial: i64,
}

/// How a score was obtained, for the explanation.
#[derive(Debug, Clone, Copy)]
enum Calc {
    Complete {
        sum: i64,
    },
    Prorated {
        sum: i64,
        answered: usize,
        n: usize,
    },
    TooFew {
        answered: usize,
        n: usize,
        needed: usize,
    },
    AnsweredOnly {
        sum: i64,
        answered: usize,
    },
    Zeroed {
        item: usize,
        answer: u8,
    },
    Composite,
}

/// A request checked against its definition.
struct Checked {
    age: AgeAtAdministration,
    codes: Vec<Option<u8>>,
    initial: Option<InitialOutcome>,
}

/// What a follow-up needs from its initial screening.
struct InitialOutcome {
    administered_on: NaiveDate,
    value: i64,
    at_risk: Vec<String>,
}

/// Scores computed from checked answers.
struct Computed {
    item_scores: Vec<Option<i64>>,
    values: Vec<Option<i64>>,
    calcs: Vec<Calc>,
}

impl Engine {
    /// The shipped definitions (`shared/instruments/*.json`, embedded at build time).
    pub fn builtin() -> Result<Engine, DefinitionError> {
        Engine::from_sources(BUILTIN.iter().copied())
    }

    /// Definitions from `(file name, JSON text)` pairs.
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Engine, DefinitionError> {
        let mut defs = Vec::new();
        for (file, json) in sources {
            defs.push((
                file.to_owned(),
                InstrumentDefinition::from_json(file, json)?,
            ));
        }
        Engine::from_definitions(defs)
    }

    /// Every `*.json` file in `dir`, as instrument definitions.
    pub fn from_dir(dir: &Path) -> Result<Engine, DefinitionError> {
        let io_err = |source| DefinitionError::Io {
            file: dir.display().to_string(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_err)? {
            let path = entry.map_err(io_err)?.path();
            if path.extension().is_some_and(|e| e == "json") {
                paths.push(path);
            }
        }
        paths.sort();
        let mut defs = Vec::new();
        for path in paths {
            let file = path.display().to_string();
            let json = std::fs::read_to_string(&path).map_err(|source| DefinitionError::Io {
                file: file.clone(),
                source,
            })?;
            defs.push((file.clone(), InstrumentDefinition::from_json(&file, &json)?));
        }
        Engine::from_definitions(defs)
    }

    /// Replaces one instrument's norms with a norm set (JSON of [`NormsOverride`]), e.g. national
    /// norms; `file` names it in errors. The new norms must band the same scores with band names
    /// the risk rules know, and cover every age and sex.
    pub fn with_norms_override(self, file: &str, json: &str) -> Result<Engine, DefinitionError> {
        let over: NormsOverride =
            serde_json::from_str(json).map_err(|source| DefinitionError::Parse {
                file: file.to_owned(),
                source,
            })?;
        if over.format != FORMAT {
            return Err(DefinitionError::invalid(
                file,
                "format",
                format!("must be {FORMAT}, found {}", over.format),
            ));
        }
        let Some(current) = self.instruments.get(&over.instrument) else {
            return Err(DefinitionError::invalid(
                file,
                "instrument",
                format!("unknown instrument '{}'", over.instrument),
            ));
        };
        let def = &current.def;
        let ranges = score_ranges(def, file)?;
        let vocabulary = band_vocabulary(&def.norms);
        validate_norms(file, "norms", &over.norms, def, &ranges, Some(&vocabulary))?;
        let mut defs: Vec<(String, InstrumentDefinition)> = self
            .instruments
            .values()
            .map(|c| (c.file.clone(), c.def.clone()))
            .collect();
        for (_, d) in &mut defs {
            if d.id == over.instrument {
                d.norms = over.norms.clone();
            }
        }
        Engine::from_definitions(defs)
    }

    /// Reads a norms override file (see [`Engine::with_norms_override`]).
    pub fn with_norms_file(self, path: &Path) -> Result<Engine, DefinitionError> {
        let file = path.display().to_string();
        let json = std::fs::read_to_string(path).map_err(|source| DefinitionError::Io {
            file: file.clone(),
            source,
        })?;
        self.with_norms_override(&file, &json)
    }

    fn from_definitions(
        defs: Vec<(String, InstrumentDefinition)>,
    ) -> Result<Engine, DefinitionError> {
        let mut instruments = BTreeMap::new();
        for (file, def) in defs {
            if instruments.contains_key(&def.id) {
                return Err(DefinitionError::invalid(
                    &file,
                    "id",
                    format!("instrument '{}' is defined twice", def.id),
                ));
            }
            let compiled = Compiled::new(file, def);
            instruments.insert(compiled.def.id.clone(), compiled);
        }
        // Follow-up links need both definitions.
        let ids: Vec<String> = instruments.keys().cloned().collect();
        for id in ids {
            let link = match instruments
                .get(&id)
                .and_then(|c| c.def.follow_up_of.clone())
            {
                Some(link) => link,
                None => continue,
            };
            let (file, item_ids) = {
                let c = &instruments[&id];
                (
                    c.file.clone(),
                    c.def.items.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
                )
            };
            let Some(initial) = instruments.get(&link.instrument) else {
                return Err(DefinitionError::invalid(
                    &file,
                    "follow_up_of.instrument",
                    format!("unknown instrument '{}'", link.instrument),
                ));
            };
            if initial.def.follow_up_of.is_some() {
                return Err(DefinitionError::invalid(
                    &file,
                    "follow_up_of.instrument",
                    "the initial instrument must not itself be a follow-up",
                ));
            }
            let Some(initial_score) = initial.def.scores.iter().position(|s| s.id == link.score)
            else {
                return Err(DefinitionError::invalid(
                    &file,
                    "follow_up_of.score",
                    format!("'{}' has no score '{}'", link.instrument, link.score),
                ));
            };
            let mut initial_item = Vec::with_capacity(item_ids.len());
            for (i, item) in item_ids.iter().enumerate() {
                let Some(pos) = initial.lookup.get(item) else {
                    return Err(DefinitionError::invalid(
                        &file,
                        format!("items[{i}].id"),
                        format!("'{}' has no item '{item}' to follow up", link.instrument),
                    ));
                };
                initial_item.push(pos);
            }
            if let Some(c) = instruments.get_mut(&id) {
                c.follow_up = Some(CFollowUp {
                    instrument: link.instrument.clone(),
                    initial_item,
                    initial_score,
                    min_initial: link.min_initial,
                });
            }
        }
        Ok(Engine {
            instruments: Arc::new(instruments),
        })
    }

    /// The definition of an instrument (with the norms in force).
    pub fn instrument(&self, id: &str) -> Option<&InstrumentDefinition> {
        self.instruments.get(id).map(|c| &c.def)
    }

    /// Ids of all instruments, sorted.
    pub fn instrument_ids(&self) -> impl Iterator<Item = &str> {
        self.instruments.keys().map(String::as_str)
    }

    pub(crate) fn compiled(&self, id: &str) -> Option<&Compiled> {
        self.instruments.get(id)
    }

    /// Checks a request against its definition; returns every problem, each naming its field.
    pub fn validate(&self, req: &ScoreRequest) -> Result<(), Vec<ScoringError>> {
        self.score(req).map(|_| ())
    }

    /// Validates and scores a request.
    pub fn score(&self, req: &ScoreRequest) -> Result<ScoreResult, Vec<ScoringError>> {
        let mut set = AnswerSet::default();
        let Some(inst) = self.instruments.get(&req.instrument) else {
            return Err(self.unknown_instrument(&req.instrument, Some(&req.child)));
        };
        set.fill_from_map(&inst.lookup, inst.def.items.len(), &req.answers);
        self.score_set(
            inst,
            &set,
            req.administered_on,
            &req.child,
            req.initial.as_ref(),
        )
    }

    /// Errors for a request naming an instrument the engine does not have.
    pub(crate) fn unknown_instrument(
        &self,
        id: &str,
        child: Option<&ChildFacts>,
    ) -> Vec<ScoringError> {
        let mut errors = vec![ScoringError::new(
            "instrument",
            format!(
                "unknown instrument '{}'; known: {}",
                truncate(id),
                self.instruments
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )];
        if let Some(child) = child {
            check_child(child, &mut errors);
        }
        errors
    }

    /// Validates and scores answers already resolved against `inst`.
    pub(crate) fn score_set(
        &self,
        inst: &Compiled,
        answers: &AnswerSet,
        administered_on: NaiveDate,
        child: &ChildFacts,
        initial: Option<&InitialScreening>,
    ) -> Result<ScoreResult, Vec<ScoringError>> {
        let mut errors = Vec::new();
        let checked = self.check(
            inst,
            answers,
            administered_on,
            child,
            initial,
            "",
            &mut errors,
        );
        match checked {
            Some(checked) if errors.is_empty() => {
                let computed = inst.compute(&checked.codes);
                Ok(inst.conclude(administered_on, child, &checked, &computed))
            }
            _ => Err(errors),
        }
    }

    /// Validation: pushes every problem to `errors`, prefixing fields with `prefix`.
    #[allow(clippy::too_many_arguments)]
    fn check(
        &self,
        inst: &Compiled,
        answers: &AnswerSet,
        administered_on: NaiveDate,
        child: &ChildFacts,
        initial: Option<&InitialScreening>,
        prefix: &str,
        errors: &mut Vec<ScoringError>,
    ) -> Option<Checked> {
        let def = &inst.def;
        if prefix.is_empty() {
            check_child(child, errors);
        }
        // An implausible gestational age is reported by `check_child`; do not correct with it.
        let gestation = child
            .gestational_age_weeks
            .filter(|w| GESTATION_WEEKS.contains(w));
        let age = age_at_administration(
            child.birth_date,
            administered_on,
            gestation,
            def.prematurity_correction.as_ref(),
        );
        if age.chronological_months < 0 && def.age_range.min_months >= 0 {
            errors.push(ScoringError::new(
                format!("{prefix}administered_on"),
                format!(
                    "{administered_on} is before the child's birth date {}",
                    child.birth_date
                ),
            ));
        } else if inst.follow_up.is_none() && !def.age_range.contains(age.effective_months()) {
            // A follow-up stage's age window is checked at its initial screening.
            let which = if age.corrected_months.is_some() {
                "corrected for prematurity"
            } else {
                "chronological"
            };
            errors.push(ScoringError::new(
                format!("{prefix}administered_on"),
                format!(
                    "the child is {} completed months old ({which}) on {administered_on}; \
                     {} is for ages {}–{} months",
                    age.effective_months(),
                    def.id,
                    def.age_range.min_months,
                    def.age_range.max_months
                ),
            ));
        }

        let mut codes = Vec::with_capacity(def.items.len());
        for (pos, item) in def.items.iter().enumerate() {
            let allowed = inst.item_codes[pos].len() as i64;
            let code = match answers.slots.get(pos).copied().flatten() {
                None => None,
                Some(AnswerValue::Int(v)) if (0..allowed).contains(&v) => u8::try_from(v).ok(),
                Some(AnswerValue::Int(v)) => {
                    errors.push(ScoringError::new(
                        format!("{prefix}answers.{}", item.id),
                        format!(
                            "answer {v} is not a code of this item: allowed 0–{}",
                            allowed - 1
                        ),
                    ));
                    None
                }
                Some(AnswerValue::HugeInt) => {
                    errors.push(ScoringError::new(
                        format!("{prefix}answers.{}", item.id),
                        format!(
                            "answer is not a code of this item: allowed 0–{}",
                            allowed - 1
                        ),
                    ));
                    None
                }
                Some(AnswerValue::Other(kind)) => {
                    errors.push(ScoringError::new(
                        format!("{prefix}answers.{}", item.id),
                        format!(
                            "must be an integer answer code 0–{}, got {kind}",
                            allowed - 1
                        ),
                    ));
                    None
                }
            };
            codes.push(code);
        }
        for key in &answers.unknown {
            errors.push(ScoringError::new(
                format!("{prefix}answers.{}", truncate(key)),
                format!("unknown item: {} has no item '{}'", def.id, truncate(key)),
            ));
        }

        let initial = match (&inst.follow_up, initial) {
            (None, None) => None,
            (None, Some(_)) => {
                errors.push(ScoringError::new(
                    format!("{prefix}initial"),
                    format!(
                        "{} is not a follow-up stage; it takes no initial screening",
                        def.id
                    ),
                ));
                None
            }
            (Some(link), None) => {
                errors.push(ScoringError::new(
                    format!("{prefix}initial"),
                    format!(
                        "required: {} is the follow-up of {}; give the initial screening",
                        def.id, link.instrument
                    ),
                ));
                None
            }
            (Some(link), Some(init)) => {
                self.check_initial(inst, link, init, administered_on, child, answers, errors)
            }
        };
        Some(Checked {
            age,
            codes,
            initial,
        })
    }

    /// Scores the initial screening of a follow-up and checks the follow-up's answers against
    /// the items that were at risk in it.
    #[allow(clippy::too_many_arguments)]
    fn check_initial(
        &self,
        inst: &Compiled,
        link: &CFollowUp,
        init: &InitialScreening,
        administered_on: NaiveDate,
        child: &ChildFacts,
        answers: &AnswerSet,
        errors: &mut Vec<ScoringError>,
    ) -> Option<InitialOutcome> {
        if init.instrument != link.instrument {
            errors.push(ScoringError::new(
                "initial.instrument",
                format!(
                    "must be {} (the screening {} follows up), got '{}'",
                    link.instrument,
                    inst.def.id,
                    truncate(&init.instrument)
                ),
            ));
            return None;
        }
        let initial = self.instruments.get(&link.instrument)?;
        if init.administered_on > administered_on {
            errors.push(ScoringError::new(
                "initial.administered_on",
                format!(
                    "{} is after the follow-up's date {administered_on}",
                    init.administered_on
                ),
            ));
        }
        let mut set = AnswerSet::default();
        set.fill_from_map(&initial.lookup, initial.def.items.len(), &init.answers);
        let before = errors.len();
        let checked = self.check(
            initial,
            &set,
            init.administered_on,
            child,
            None,
            "initial.",
            errors,
        )?;
        if errors.len() > before {
            return None;
        }
        let computed = initial.compute(&checked.codes);
        let Some(value) = computed.values[link.initial_score] else {
            errors.push(ScoringError::new(
                "initial.answers",
                format!(
                    "the initial {} has no {} (too few answers)",
                    link.instrument, initial.def.scores[link.initial_score].id
                ),
            ));
            return None;
        };
        if value < link.min_initial {
            errors.push(ScoringError::new(
                "initial",
                format!(
                    "the initial {} {} is {value}; the follow-up applies from {}",
                    link.instrument, initial.def.scores[link.initial_score].id, link.min_initial
                ),
            ));
            return None;
        }
        let mut at_risk = Vec::new();
        for (pos, item) in inst.def.items.iter().enumerate() {
            let was_at_risk = computed.item_scores[link.initial_item[pos]].is_some_and(|s| s > 0);
            // "Given" even if invalid: an invalid answer is already reported as such.
            let given = answers.slots.get(pos).is_some_and(Option::is_some);
            match (was_at_risk, given) {
                (true, true) => at_risk.push(item.id.clone()),
                (true, false) => errors.push(ScoringError::new(
                    format!("answers.{}", item.id),
                    "missing: this item was at risk in the initial screening and needs a \
                     Follow-Up outcome",
                )),
                (false, true) => errors.push(ScoringError::new(
                    format!("answers.{}", item.id),
                    "this item was not at risk in the initial screening; the Follow-Up does not \
                     ask about it",
                )),
                (false, false) => {}
            }
        }
        Some(InitialOutcome {
            administered_on: init.administered_on,
            value,
            at_risk,
        })
    }
}

fn check_child(child: &ChildFacts, errors: &mut Vec<ScoringError>) {
    if let Some(weeks) = child.gestational_age_weeks
        && !GESTATION_WEEKS.contains(&weeks)
    {
        errors.push(ScoringError::new(
            "child.gestational_age_weeks",
            format!(
                "{weeks} is not a plausible gestational age at birth ({}–{} weeks)",
                GESTATION_WEEKS.start(),
                GESTATION_WEEKS.end()
            ),
        ));
    }
}

/// Keeps user-supplied text in error messages short.
fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

impl Compiled {
    fn new(file: String, def: InstrumentDefinition) -> Compiled {
        let lookup = ItemLookup::new(def.items.iter().map(|i| i.id.as_str()));
        let item_codes: Vec<Vec<i64>> = def
            .items
            .iter()
            .map(|i| def.coding_of(i).scores.clone())
            .collect();
        let item_pos = |id: &str| lookup.get(id).unwrap_or(usize::MAX);
        let score_pos = |id: &str| {
            def.scores
                .iter()
                .position(|s| s.id == id)
                .unwrap_or(usize::MAX)
        };
        // Definitions are validated before compiling, so every name resolves.
        let scores = def
            .scores
            .iter()
            .map(|s| CScore {
                id: s.id.clone(),
                method: match (&s.sum, &s.sum_of) {
                    (Some(sum), _) => CMethod::Sum {
                        items: sum.items.iter().map(|i| item_pos(i)).collect(),
                        missing: sum.missing,
                    },
                    (None, Some(of)) => CMethod::SumOf(of.iter().map(|i| score_pos(i)).collect()),
                    (None, None) => CMethod::SumOf(Vec::new()),
                },
                zero_when: s
                    .zero_when
                    .as_ref()
                    .map(|z| (item_pos(&z.item), u8::try_from(z.answer).unwrap_or(u8::MAX))),
            })
            .collect();
        let tables = def
            .norms
            .tables
            .iter()
            .map(|t| {
                def.scores
                    .iter()
                    .map(|s| t.bands.get(&s.id).cloned())
                    .collect()
            })
            .collect();
        let rules = def
            .risk_rules
            .iter()
            .enumerate()
            .map(|(index, r)| CRule {
                index,
                when: r
                    .when
                    .iter()
                    .map(|c| match c {
                        Condition::Band { score, bands } => CCond::Band {
                            score: score_pos(score),
                            bands: bands.clone(),
                        },
                        Condition::Value { score, min, max } => CCond::Value {
                            score: score_pos(score),
                            min: min.unwrap_or(i64::MIN),
                            max: max.unwrap_or(i64::MAX),
                        },
                        Condition::Missing { score } => CCond::Missing {
                            score: score_pos(score),
                        },
                        Condition::ItemScore { item, min, max } => CCond::ItemScore {
                            item: item_pos(item),
                            min: min.unwrap_or(i64::MIN),
                            max: max.unwrap_or(i64::MAX),
                        },
                        Condition::AgeMonths { min, max } => CCond::Age {
                            min: min.unwrap_or(i32::MIN),
                            max: max.unwrap_or(i32::MAX),
                        },
                    })
                    .collect(),
            })
            .collect();
        Compiled {
            def,
            file,
            lookup,
            item_codes,
            scores,
            tables,
            rules,
            follow_up: None,
        }
    }

    /// Item scores and scores from checked answer codes.
    fn compute(&self, codes: &[Option<u8>]) -> Computed {
        let item_scores: Vec<Option<i64>> = codes
            .iter()
            .zip(&self.item_codes)
            .map(|(code, scores)| code.and_then(|c| scores.get(usize::from(c)).copied()))
            .collect();
        let mut values: Vec<Option<i64>> = Vec::with_capacity(self.scores.len());
        let mut calcs = Vec::with_capacity(self.scores.len());
        for score in &self.scores {
            if let Some((item, answer)) = score.zero_when
                && codes.get(item).copied().flatten() == Some(answer)
            {
                values.push(Some(0));
                calcs.push(Calc::Zeroed { item, answer });
                continue;
            }
            let (value, calc) = match &score.method {
                CMethod::Sum { items, missing } => {
                    let n = items.len();
                    let (mut sum, mut answered) = (0i64, 0usize);
                    for &i in items {
                        if let Some(s) = item_scores.get(i).copied().flatten() {
                            sum += s;
                            answered += 1;
                        }
                    }
                    match *missing {
                        _ if answered == n => (Some(sum), Calc::Complete { sum }),
                        MissingRule::RequireAll => (
                            None,
                            Calc::TooFew {
                                answered,
                                n,
                                needed: n,
                            },
                        ),
                        MissingRule::Prorate { min_answered } if answered >= min_answered => (
                            Some(round_half_up(sum * n as i64, answered as i64)),
                            Calc::Prorated { sum, answered, n },
                        ),
                        MissingRule::Prorate { min_answered } => (
                            None,
                            Calc::TooFew {
                                answered,
                                n,
                                needed: min_answered,
                            },
                        ),
                        MissingRule::CountAsZero => {
                            (Some(sum), Calc::AnsweredOnly { sum, answered })
                        }
                    }
                }
                CMethod::SumOf(of) => {
                    let value = of.iter().try_fold(0i64, |acc, &s| {
                        values.get(s).copied().flatten().map(|v| acc + v)
                    });
                    (value, Calc::Composite)
                }
            };
            values.push(value);
            calcs.push(calc);
        }
        Computed {
            item_scores,
            values,
            calcs,
        }
    }

    /// Bands, risk rules, recommendations and the explanation.
    fn conclude(
        &self,
        administered_on: NaiveDate,
        child: &ChildFacts,
        checked: &Checked,
        computed: &Computed,
    ) -> ScoreResult {
        let def = &self.def;
        let age = &checked.age;
        let effective = age.effective_months();
        let mut explanation = Vec::with_capacity(self.scores.len() + 6);
        explanation.push(Explanation {
            rule: "age".to_owned(),
            text: format!(
                "{} completed months on {administered_on} (born {})",
                age.chronological_months, child.birth_date
            ),
        });
        if let (Some(corrected), Some(from), Some(weeks)) = (
            age.corrected_months,
            age.corrected_birth_date,
            age.weeks_early,
        ) {
            explanation.push(Explanation {
                rule: "age.corrected".to_owned(),
                text: format!(
                    "born at {} weeks, {weeks} weeks early: corrected age {corrected} completed \
                     months (counted from {from}); used for the age range, norms and rules",
                    child.gestational_age_weeks.unwrap_or_default()
                ),
            });
        }
        if let Some(init) = &checked.initial
            && let Some(link) = &self.follow_up
        {
            explanation.push(Explanation {
                rule: "initial".to_owned(),
                text: format!(
                    "initial {} of {}: {} {}; items at risk: {}",
                    link.instrument,
                    init.administered_on,
                    def.follow_up_of
                        .as_ref()
                        .map_or("score", |f| f.score.as_str()),
                    init.value,
                    init.at_risk.join(", ")
                ),
            });
        }

        // Ages outside the range only reach here for follow-ups (checked at the initial).
        let norm_age = effective.clamp(def.age_range.min_months, def.age_range.max_months);
        let table = select_table(&def.norms, norm_age, child.sex).unwrap_or(0);
        let table_def = &def.norms.tables[table];
        explanation.push(Explanation {
            rule: "norms".to_owned(),
            text: format!(
                "norm set {} version {}, table {}",
                def.norms.id, def.norms.version, table_def.id
            ),
        });

        let mut scores = BTreeMap::new();
        let mut bands: Vec<Option<&str>> = Vec::with_capacity(self.scores.len());
        for (pos, score) in self.scores.iter().enumerate() {
            let value = computed.values[pos];
            let band = value.and_then(|v| self.band(table, pos, v));
            bands.push(band.map(|b| b.band.as_str()));
            let mut text = String::with_capacity(80);
            self.describe(&mut text, pos, computed);
            if let Some(b) = band {
                let _ = write!(text, " → {} ({}–{})", b.band, b.min, b.max);
            }
            explanation.push(Explanation {
                rule: format!("score.{}", score.id),
                text,
            });
            scores.insert(
                score.id.clone(),
                Score {
                    value,
                    band: band.map(|b| b.band.clone()),
                },
            );
        }

        let mut risk: Option<RiskLevel> = None;
        let mut flags: Vec<String> = Vec::new();
        let mut recommendations: Vec<Recommendation> = Vec::new();
        for rule in &self.rules {
            let holds = rule.when.iter().all(|c| match c {
                CCond::Band {
                    score,
                    bands: names,
                } => bands
                    .get(*score)
                    .copied()
                    .flatten()
                    .is_some_and(|b| names.iter().any(|n| n == b)),
                CCond::Value { score, min, max } => computed
                    .values
                    .get(*score)
                    .copied()
                    .flatten()
                    .is_some_and(|v| *min <= v && v <= *max),
                CCond::Missing { score } => {
                    computed.values.get(*score).is_some_and(Option::is_none)
                }
                CCond::ItemScore { item, min, max } => computed
                    .item_scores
                    .get(*item)
                    .copied()
                    .flatten()
                    .is_some_and(|v| *min <= v && v <= *max),
                CCond::Age { min, max } => *min <= effective && effective <= *max,
            });
            if !holds {
                continue;
            }
            let r = &def.risk_rules[rule.index];
            let mut text = String::with_capacity(r.explain.len() + 60);
            text.push_str(&r.explain);
            if r.basis != Basis::Published {
                let _ = write!(text, " [{}]", r.basis);
            }
            if let Some(level) = r.risk {
                risk = Some(risk.map_or(level, |cur| cur.max(level)));
                let _ = write!(text, "; risk {level}");
            }
            for flag in &r.flags {
                if !flags.contains(flag) {
                    flags.push(flag.clone());
                }
                let _ = write!(text, "; flag {flag}");
            }
            for rec in &r.recommend {
                let due_on = rec
                    .due
                    .and_then(|due| due_date(due, administered_on, child, age));
                let _ = write!(text, "; recommends {}", rec.kind.as_str());
                if let Some(p) = &rec.programme {
                    let _ = write!(text, " {p}");
                }
                if let Some(d) = due_on {
                    let _ = write!(text, " due {d}");
                }
                let duplicate = recommendations.iter().any(|x| {
                    x.kind == rec.kind && x.due_on == due_on && x.programme == rec.programme
                });
                if !duplicate {
                    recommendations.push(Recommendation {
                        kind: rec.kind,
                        due_on,
                        programme: rec.programme.clone(),
                        rule: r.id.clone(),
                    });
                }
            }
            explanation.push(Explanation {
                rule: r.id.clone(),
                text,
            });
        }
        let risk_level = match risk {
            Some(level) => level,
            None => {
                explanation.push(Explanation {
                    rule: "default".to_owned(),
                    text: format!("no risk rule set a level: {}", def.default_risk),
                });
                def.default_risk
            }
        };

        ScoreResult {
            instrument: def.id.clone(),
            instrument_version: def.version.clone(),
            engine_version: ENGINE_VERSION.to_owned(),
            norms: NormsRef {
                id: def.norms.id.clone(),
                version: def.norms.version.clone(),
                table: table_def.id.clone(),
            },
            administered_on,
            age_months: age.chronological_months,
            corrected_age_months: age.corrected_months,
            scores,
            risk_level,
            flags,
            recommendations,
            explanation,
        }
    }

    /// The band of `value` for score `pos` in norm table `table`.
    fn band(&self, table: usize, pos: usize, value: i64) -> Option<&Band> {
        let list = self.tables.get(table)?.get(pos)?.as_ref()?;
        list.iter().find(|b| b.min <= value && value <= b.max)
    }

    /// Appends how score `pos` was computed to `out`.
    fn describe(&self, out: &mut String, pos: usize, computed: &Computed) {
        let value = computed.values[pos];
        let _ = match computed.calcs[pos] {
            Calc::Complete { sum } => match &self.scores[pos].method {
                CMethod::Sum { items, .. } => {
                    write!(
                        out,
                        "all {} items answered: sum of item scores {sum}",
                        items.len()
                    )
                }
                CMethod::SumOf(_) => write!(out, "{sum}"),
            },
            Calc::Prorated { sum, answered, n } => write!(
                out,
                "{answered} of {n} items answered: {sum} × {n} / {answered} = {:.2}, rounded half up to {}",
                (sum * n as i64) as f64 / answered as f64,
                value.unwrap_or_default()
            ),
            Calc::TooFew {
                answered,
                n,
                needed,
            } => write!(
                out,
                "{answered} of {n} items answered; {needed} needed: no score"
            ),
            Calc::AnsweredOnly { sum, answered } => write!(
                out,
                "sum of the {answered} items asked (the others count 0): {sum}"
            ),
            Calc::Zeroed { item, answer } => write!(
                out,
                "item {} answered {answer}: score is 0",
                self.def.items.get(item).map_or("?", |i| i.id.as_str())
            ),
            Calc::Composite => {
                let CMethod::SumOf(of) = &self.scores[pos].method else {
                    return;
                };
                let names: Vec<&str> = of.iter().map(|&s| self.scores[s].id.as_str()).collect();
                match value {
                    Some(v) => {
                        let parts: Vec<String> = of
                            .iter()
                            .map(|&s| computed.values[s].unwrap_or_default().to_string())
                            .collect();
                        write!(out, "{} = {} = {v}", names.join(" + "), parts.join(" + "))
                    }
                    None => write!(
                        out,
                        "{}: no score because a part has none",
                        names.join(" + ")
                    ),
                }
            }
        };
    }
}

/// The date a recommendation is due.
fn due_date(
    due: Due,
    administered_on: NaiveDate,
    child: &ChildFacts,
    age: &AgeAtAdministration,
) -> Option<NaiveDate> {
    match due {
        Due::AfterDays(days) => administered_on.checked_add_days(Days::new(u64::from(days))),
        Due::AfterMonths(months) => administered_on.checked_add_months(Months::new(months)),
        Due::AtAgeMonths(months) => age
            .corrected_birth_date
            .unwrap_or(child.birth_date)
            .checked_add_months(Months::new(months)),
    }
}

/// `num / den` rounded half up (towards +∞), i.e. ⌊num/den + ½⌋, in exact integer arithmetic.
pub(crate) fn round_half_up(num: i64, den: i64) -> i64 {
    debug_assert!(den > 0);
    (2 * num + den).div_euclid(2 * den)
}

#[cfg(test)]
impl Engine {
    /// The band the engine gives `value` of `score` in table `table` (tests of norm tables).
    pub(crate) fn band_in_table(
        &self,
        instrument: &str,
        table: &str,
        score: &str,
        value: i64,
    ) -> Option<&str> {
        let inst = self.compiled(instrument)?;
        let t = inst.def.norms.tables.iter().position(|t| t.id == table)?;
        let pos = inst.def.scores.iter().position(|s| s.id == score)?;
        inst.band(t, pos, value).map(|b| b.band.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_up_exactly() {
        assert_eq!(round_half_up(10, 4), 3); // 2.5 → 3
        assert_eq!(round_half_up(9, 4), 2); // 2.25 → 2
        assert_eq!(round_half_up(35, 3), 12); // 11.67 → 12
        assert_eq!(round_half_up(25, 3), 8); // 8.33 → 8
        assert_eq!(round_half_up(0, 3), 0);
        assert_eq!(round_half_up(-10, 4), -2); // -2.5 → -2 (towards +∞)
    }

    #[test]
    fn engine_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Engine>();
    }
}
