//! The scoring engine: validated definitions compiled for fast, allocation-light scoring.

use super::age::{AgeAtAdministration, age_at_administration};
use super::answers::{AnswerSet, AnswerValue};
use super::builtin::BUILTIN;
use super::compiled::{CFollowUp, Compiled};
use super::definition::{
    DefinitionError, FORMAT, InstrumentDefinition, NormsOverride, band_vocabulary, score_ranges,
    validate_norms,
};
use super::outcome::{InitialOutcome, Outcome, Scratch};
use super::{ChildFacts, InitialScreening, ScoreRequest, ScoreResult, ScoringError};
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Plausible gestational ages at birth, in completed weeks; outside is a data-entry error.
const GESTATION_WEEKS: std::ops::RangeInclusive<u8> = 22..=44;

/// The scoring engine: validated instrument definitions, ready to score.
///
/// `Send + Sync` and cheap to clone (definitions are shared behind an `Arc`; clones of a
/// [`Engine::builtin_on_first_use`] engine share the definitions it compiles).
#[derive(Debug, Clone)]
pub struct Engine {
    /// Set when the engine is built, except for [`Engine::builtin_on_first_use`], whose
    /// built-in definitions are compiled by the first call that needs them.
    instruments: Arc<OnceLock<BTreeMap<String, Compiled>>>,
}

/// A request checked against its definition (the codes are in the scratch).
struct Checked {
    age: AgeAtAdministration,
    initial: Option<InitialOutcome>,
}

impl Engine {
    /// The shipped definitions (`shared/instruments/*.json`, embedded at build time).
    pub fn builtin() -> Result<Engine, DefinitionError> {
        Engine::from_sources(BUILTIN.iter().copied())
    }

    /// The shipped definitions, compiled by the first call that needs them (a scoring, a
    /// validation, an instrument look-up) instead of now: what a Lambda function's
    /// composition root uses, so that its cold start does not parse and compile every
    /// instrument, and a function that never looks at one (most `children-api` requests)
    /// never does (docs/BENCHMARKS.md, "Cold start").
    ///
    /// The definitions are embedded in the binary, and a unit test loads exactly these
    /// (`builtin_on_first_use_is_the_builtin_engine`), so they cannot fail to load at run
    /// time; if they did, the first use would panic with [`Engine::builtin`]'s error.
    pub fn builtin_on_first_use() -> Engine {
        Engine {
            instruments: Arc::new(OnceLock::new()),
        }
    }

    /// The compiled definitions (compiling the built-in ones on first use, see
    /// [`Engine::builtin_on_first_use`]).
    fn instruments(&self) -> &BTreeMap<String, Compiled> {
        self.instruments.get_or_init(|| {
            match parse_sources(BUILTIN.iter().copied()).and_then(compile) {
                Ok(instruments) => instruments,
                Err(e) => panic!("the built-in instrument definitions do not load: {e}"),
            }
        })
    }

    /// Definitions from `(file name, JSON text)` pairs.
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Engine, DefinitionError> {
        Engine::from_definitions(parse_sources(sources)?)
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
        let Some(current) = self.instruments().get(&over.instrument) else {
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
            .instruments()
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
        Ok(Engine {
            instruments: Arc::new(OnceLock::from(compile(defs)?)),
        })
    }

    /// The definition of an instrument (with the norms in force).
    pub fn instrument(&self, id: &str) -> Option<&InstrumentDefinition> {
        self.instruments().get(id).map(|c| &c.def)
    }

    /// Ids of all instruments, sorted.
    pub fn instrument_ids(&self) -> impl Iterator<Item = &str> {
        self.instruments().keys().map(String::as_str)
    }

    pub(crate) fn compiled(&self, id: &str) -> Option<&Compiled> {
        self.instruments().get(id)
    }

    /// Checks a request against its definition; returns every problem, each naming its field.
    pub fn validate(&self, req: &ScoreRequest) -> Result<(), Vec<ScoringError>> {
        self.score(req).map(|_| ())
    }

    /// Validates and scores a request.
    pub fn score(&self, req: &ScoreRequest) -> Result<ScoreResult, Vec<ScoringError>> {
        let mut set = AnswerSet::default();
        let Some(inst) = self.instruments().get(&req.instrument) else {
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
                self.instruments()
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
        let mut scratch = Scratch::default();
        self.evaluate(inst, answers, administered_on, child, initial, &mut scratch)
            .map(|outcome| outcome.to_result(&scratch))
    }

    /// Validates and scores into `scratch`; the outcome reads its details from there.
    pub(crate) fn evaluate<'e>(
        &self,
        inst: &'e Compiled,
        answers: &AnswerSet,
        administered_on: NaiveDate,
        child: &ChildFacts,
        initial: Option<&InitialScreening>,
        scratch: &mut Scratch,
    ) -> Result<Outcome<'e>, Vec<ScoringError>> {
        let mut errors = Vec::new();
        let checked = self.check(
            inst,
            answers,
            administered_on,
            child,
            initial,
            "",
            &mut errors,
            &mut scratch.codes,
        );
        match checked {
            Some(checked) if errors.is_empty() => {
                inst.compute(scratch);
                Ok(inst.conclude(
                    administered_on,
                    child,
                    checked.age,
                    checked.initial.as_ref(),
                    scratch,
                ))
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
        codes: &mut Vec<Option<u8>>,
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

        codes.clear();
        for (pos, item) in def.items.iter().enumerate() {
            let allowed = inst.item_codes[pos].len() as i64;
            let max = allowed - 1;
            let code = match answers.slots.get(pos).copied().flatten() {
                None => Ok(None),
                Some(AnswerValue::Int(v)) if (0..allowed).contains(&v) => Ok(u8::try_from(v).ok()),
                Some(AnswerValue::Int(v)) => Err(format!(
                    "answer {v} is not a code of this item: allowed 0–{max}"
                )),
                Some(AnswerValue::HugeInt) => Err(format!(
                    "answer is not a code of this item: allowed 0–{max}"
                )),
                Some(AnswerValue::Other(kind)) => Err(format!(
                    "must be an integer answer code 0–{max}, got {kind}"
                )),
            };
            codes.push(code.unwrap_or_else(|reason| {
                errors.push(ScoringError::new(
                    format!("{prefix}answers.{}", item.id),
                    reason,
                ));
                None
            }));
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
        Some(Checked { age, initial })
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
        let initial = self.instruments().get(&link.instrument)?;
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
        let mut scratch = Scratch::default();
        self.check(
            initial,
            &set,
            init.administered_on,
            child,
            None,
            "initial.",
            errors,
            &mut scratch.codes,
        )?;
        if errors.len() > before {
            return None;
        }
        initial.compute(&mut scratch);
        let Some(value) = scratch.values[link.initial_score] else {
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
            let was_at_risk = scratch.item_scores[link.initial_item[pos]].is_some_and(|s| s > 0);
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

/// Parses `(file name, JSON text)` pairs as instrument definitions.
fn parse_sources<'a>(
    sources: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<(String, InstrumentDefinition)>, DefinitionError> {
    let mut defs = Vec::new();
    for (file, json) in sources {
        defs.push((
            file.to_owned(),
            InstrumentDefinition::from_json(file, json)?,
        ));
    }
    Ok(defs)
}

/// Compiles validated definitions, linking each follow-up to its initial instrument.
fn compile(
    defs: Vec<(String, InstrumentDefinition)>,
) -> Result<BTreeMap<String, Compiled>, DefinitionError> {
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
        let Some(initial_score) = initial.def.scores.iter().position(|s| s.id == link.score) else {
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
    Ok(instruments)
}

impl crate::domain::catalogue_entry::InstrumentAges for Engine {
    fn age_range_months(&self, id: &str) -> Option<crate::domain::catalogue_entry::AgeMonths> {
        self.instrument(id)
            .map(|d| crate::domain::catalogue_entry::AgeMonths {
                min: d.age_range.min_months,
                max: d.age_range.max_months,
            })
    }
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
    fn engine_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Engine>();
    }

    #[test]
    fn builtin_on_first_use_is_the_builtin_engine() {
        let eager = Engine::builtin().expect("shipped definitions load");
        let lazy = Engine::builtin_on_first_use();
        let copy = lazy.clone();
        assert!(
            lazy.instruments.get().is_none(),
            "nothing is compiled before the first use"
        );
        let ids: Vec<&str> = lazy.instrument_ids().collect();
        assert_eq!(ids, eager.instrument_ids().collect::<Vec<_>>());
        for id in ids {
            assert_eq!(
                serde_json::to_value(lazy.instrument(id)).ok(),
                serde_json::to_value(eager.instrument(id)).ok(),
                "{id}"
            );
        }
        assert!(
            copy.instruments.get().is_some(),
            "clones share what the first use compiled"
        );
    }
}
