//! From checked answer codes to a result: scores, bands, risk rules, explanation.
//!
//! Everything is computed once into a reusable [`Scratch`]. From there the owned
//! [`ScoreResult`] is built ([`Outcome::to_result`]) or, on the `score_lines` fast path, the same
//! JSON is written straight from the scratch ([`Outcome::view`]) without building it. Both read
//! the same computed data, and a property test checks that their JSON is byte-identical.

use super::age::AgeAtAdministration;
use super::compiled::{CCond, CMethod, Compiled};
use super::definition::{Band, Due, MissingRule, select_table};
use super::{
    ChildFacts, ENGINE_VERSION, Explanation, NormsRef, Recommendation, RiskLevel, Score,
    ScoreResult,
};
use chrono::{Days, Months, NaiveDate};
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};
use std::fmt::Write as _;
use std::ops::Range;

/// How a score was obtained, for the explanation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Calc {
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

/// Which rule an explanation line belongs to.
#[derive(Debug, Clone, Copy)]
enum Rule {
    Age,
    AgeCorrected,
    Initial,
    Score(usize),
    Risk(usize),
    Default,
}

/// Working memory of one scoring, reused across lines by `score_lines`.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Checked answer code per item.
    pub(crate) codes: Vec<Option<u8>>,
    /// Item score per item.
    pub(crate) item_scores: Vec<Option<i64>>,
    /// Value per score.
    pub(crate) values: Vec<Option<i64>>,
    calcs: Vec<Calc>,
    /// Band per score, as an index into the table's band list.
    bands: Vec<Option<usize>>,
    /// All explanation texts, back to back.
    text: String,
    explanation: Vec<(Rule, Range<usize>)>,
    /// `(rule, flag)` positions, without duplicate names.
    flags: Vec<(usize, usize)>,
    /// `(rule, recommendation, due_on)`, without duplicates.
    recommendations: Vec<(usize, usize, Option<NaiveDate>)>,
}

/// What a follow-up needs from its initial screening.
#[derive(Debug)]
pub(crate) struct InitialOutcome {
    pub(crate) administered_on: NaiveDate,
    pub(crate) value: i64,
    pub(crate) at_risk: Vec<String>,
}

/// The conclusions of one scoring; the details sit in the [`Scratch`] it was computed into.
#[derive(Debug)]
pub(crate) struct Outcome<'e> {
    inst: &'e Compiled,
    administered_on: NaiveDate,
    age: AgeAtAdministration,
    table: usize,
    risk_level: RiskLevel,
}

impl Compiled {
    /// Item scores and scores from the checked answer codes in `s.codes`.
    pub(crate) fn compute(&self, s: &mut Scratch) {
        s.item_scores.clear();
        s.item_scores.extend(
            s.codes
                .iter()
                .zip(&self.item_codes)
                .map(|(code, scores)| code.and_then(|c| scores.get(usize::from(c)).copied())),
        );
        s.values.clear();
        s.calcs.clear();
        for score in &self.scores {
            if let Some((item, answer)) = score.zero_when
                && s.codes.get(item).copied().flatten() == Some(answer)
            {
                s.values.push(Some(0));
                s.calcs.push(Calc::Zeroed { item, answer });
                continue;
            }
            let (value, calc) = match &score.method {
                CMethod::Sum { items, missing } => {
                    let n = items.len();
                    let (mut sum, mut answered) = (0i64, 0usize);
                    for &i in items {
                        if let Some(v) = s.item_scores.get(i).copied().flatten() {
                            sum += v;
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
                    let value = of.iter().try_fold(0i64, |acc, &p| {
                        s.values.get(p).copied().flatten().map(|v| acc + v)
                    });
                    (value, Calc::Composite)
                }
            };
            s.values.push(value);
            s.calcs.push(calc);
        }
    }

    /// Bands, risk rules, recommendations and the explanation, after [`Compiled::compute`].
    pub(crate) fn conclude<'e>(
        &'e self,
        administered_on: NaiveDate,
        child: &ChildFacts,
        age: AgeAtAdministration,
        initial: Option<&InitialOutcome>,
        s: &mut Scratch,
    ) -> Outcome<'e> {
        let def = &self.def;
        let effective = age.effective_months();
        s.text.clear();
        s.explanation.clear();
        s.flags.clear();
        s.recommendations.clear();
        s.bands.clear();

        let start = s.text.len();
        let _ = write!(
            s.text,
            "{} completed months (born {})",
            age.chronological_months, child.birth_date
        );
        s.explanation.push((Rule::Age, start..s.text.len()));
        if let (Some(corrected), Some(from), Some(weeks)) = (
            age.corrected_months,
            age.corrected_birth_date,
            age.weeks_early,
        ) {
            let start = s.text.len();
            let _ = write!(
                s.text,
                "born at {} weeks, {weeks} weeks early: corrected age {corrected} completed months \
                 (counted from {from}); used for the age range, norms and rules",
                child.gestational_age_weeks.unwrap_or_default()
            );
            s.explanation
                .push((Rule::AgeCorrected, start..s.text.len()));
        }
        if let (Some(init), Some(link)) = (initial, &def.follow_up_of) {
            let start = s.text.len();
            let _ = write!(
                s.text,
                "initial {} of {}: {} {}; items at risk: {}",
                link.instrument,
                init.administered_on,
                link.score,
                init.value,
                init.at_risk.join(", ")
            );
            s.explanation.push((Rule::Initial, start..s.text.len()));
        }

        // Ages outside the range only reach here for follow-ups (checked at the initial).
        let norm_age = effective.clamp(def.age_range.min_months, def.age_range.max_months);
        let table = select_table(&def.norms, norm_age, child.sex).unwrap_or(0);

        for pos in 0..self.scores.len() {
            let band = s.values[pos].and_then(|v| self.band_index(table, pos, v));
            s.bands.push(band);
            let start = s.text.len();
            self.describe(pos, s);
            if let Some(b) = band.and_then(|b| self.band_at(table, pos, b)) {
                let _ = write!(s.text, "; band {} ({}–{})", b.band, b.min, b.max);
            }
            s.explanation.push((Rule::Score(pos), start..s.text.len()));
        }

        let mut risk: Option<RiskLevel> = None;
        for (index, rule) in self.rules.iter().enumerate() {
            let holds = rule.when.iter().all(|c| match c {
                CCond::Band { score, bands } => s.bands[*score]
                    .and_then(|b| self.band_at(table, *score, b))
                    .is_some_and(|b| bands.contains(&b.band)),
                CCond::Value { score, min, max } => {
                    s.values[*score].is_some_and(|v| *min <= v && v <= *max)
                }
                CCond::Missing { score } => s.values[*score].is_none(),
                CCond::ItemScore { item, min, max } => {
                    s.item_scores[*item].is_some_and(|v| *min <= v && v <= *max)
                }
                CCond::Age { min, max } => *min <= effective && effective <= *max,
            });
            if !holds {
                continue;
            }
            let r = &def.risk_rules[rule.index];
            if let Some(level) = r.risk {
                risk = Some(risk.map_or(level, |cur| cur.max(level)));
            }
            for (f, flag) in r.flags.iter().enumerate() {
                let seen = s
                    .flags
                    .iter()
                    .any(|&(ri, fi)| def.risk_rules[self.rules[ri].index].flags[fi] == *flag);
                if !seen {
                    s.flags.push((index, f));
                }
            }
            for (k, rec) in r.recommend.iter().enumerate() {
                let due_on = rec
                    .due
                    .and_then(|due| due_date(due, administered_on, child, &age));
                let duplicate = s.recommendations.iter().any(|&(ri, ki, due)| {
                    let other = &def.risk_rules[self.rules[ri].index].recommend[ki];
                    other.kind == rec.kind && due == due_on && other.programme == rec.programme
                });
                if !duplicate {
                    s.recommendations.push((index, k, due_on));
                }
            }
            s.explanation.push((Rule::Risk(index), 0..0));
        }
        let risk_level = match risk {
            Some(level) => level,
            None => {
                let start = s.text.len();
                let _ = write!(s.text, "no risk rule set a level: {}", def.default_risk);
                s.explanation.push((Rule::Default, start..s.text.len()));
                def.default_risk
            }
        };
        Outcome {
            inst: self,
            administered_on,
            age,
            table,
            risk_level,
        }
    }

    fn band_index(&self, table: usize, pos: usize, value: i64) -> Option<usize> {
        let list = self.tables.get(table)?.get(pos)?.as_ref()?;
        list.iter().position(|b| b.min <= value && value <= b.max)
    }

    fn band_at(&self, table: usize, pos: usize, index: usize) -> Option<&Band> {
        self.tables.get(table)?.get(pos)?.as_ref()?.get(index)
    }

    /// The band of `value` for score `pos` in norm table `table`.
    #[cfg(test)]
    pub(crate) fn band(&self, table: usize, pos: usize, value: i64) -> Option<&Band> {
        self.band_at(table, pos, self.band_index(table, pos, value)?)
    }

    /// Appends how score `pos` was computed to `s.text`.
    fn describe(&self, pos: usize, s: &mut Scratch) {
        let value = s.values[pos];
        let score = &self.scores[pos];
        let out = &mut s.text;
        let _ = match s.calcs[pos] {
            Calc::Complete { sum } => match &score.method {
                CMethod::Sum { items, .. } => {
                    let n = items.len();
                    write!(out, "{n} of {n} items: sum {sum}")
                }
                CMethod::SumOf(_) => write!(out, "{sum}"),
            },
            Calc::Prorated { sum, answered, n } => write!(
                out,
                "{answered} of {n} items: {sum} × {n} / {answered} = {:.2} → {} (half up)",
                (sum * n as i64) as f64 / answered as f64,
                value.unwrap_or_default()
            ),
            Calc::TooFew {
                answered,
                n,
                needed,
            } => write!(out, "{answered} of {n} items, {needed} needed: no score"),
            Calc::AnsweredOnly { sum, answered } => {
                write!(out, "{answered} items asked, the others count 0: sum {sum}")
            }
            Calc::Zeroed { item, answer } => write!(
                out,
                "item {} = {answer}: 0",
                self.def.items.get(item).map_or("?", |i| i.id.as_str())
            ),
            Calc::Composite => {
                let CMethod::SumOf(of) = &score.method else {
                    return;
                };
                out.push_str(&score.formula);
                match value {
                    Some(v) => {
                        out.push_str(" = ");
                        for (k, &part) in of.iter().enumerate() {
                            if k > 0 {
                                out.push_str(" + ");
                            }
                            let _ = write!(out, "{}", s.values[part].unwrap_or_default());
                        }
                        write!(out, " = {v}")
                    }
                    None => write!(out, ": a part has no score"),
                }
            }
        };
    }
}

impl<'e> Outcome<'e> {
    fn explanation_rule(&self, rule: Rule) -> &str {
        match rule {
            Rule::Age => "age",
            Rule::AgeCorrected => "age.corrected",
            Rule::Initial => "initial",
            Rule::Score(pos) => &self.inst.scores[pos].rule,
            Rule::Risk(index) => &self.inst.def.risk_rules[self.inst.rules[index].index].id,
            Rule::Default => "default",
        }
    }

    fn explanation_text<'a>(&'a self, s: &'a Scratch, rule: Rule, range: &Range<usize>) -> &'a str {
        match rule {
            // Risk rule texts are fixed per rule, prepared when the definition was compiled.
            Rule::Risk(index) => &self.inst.rules[index].text,
            _ => &s.text[range.clone()],
        }
    }

    fn band_name<'a>(&'a self, s: &Scratch, pos: usize) -> Option<&'a str> {
        s.bands[pos]
            .and_then(|b| self.inst.band_at(self.table, pos, b))
            .map(|b| b.band.as_str())
    }

    fn rule_id(&self, index: usize) -> &'e str {
        &self.inst.def.risk_rules[self.inst.rules[index].index].id
    }

    /// The owned result.
    pub(crate) fn to_result(&self, s: &Scratch) -> ScoreResult {
        let def = &self.inst.def;
        let inst = self.inst;
        ScoreResult {
            instrument: def.id.clone(),
            instrument_version: def.version.clone(),
            engine_version: ENGINE_VERSION.to_owned(),
            norms: NormsRef {
                id: def.norms.id.clone(),
                version: def.norms.version.clone(),
                table: def.norms.tables[self.table].id.clone(),
            },
            administered_on: self.administered_on,
            age_months: self.age.chronological_months,
            corrected_age_months: self.age.corrected_months,
            scores: inst
                .scores
                .iter()
                .enumerate()
                .map(|(pos, score)| {
                    (
                        score.id.clone(),
                        Score {
                            value: s.values[pos],
                            band: self.band_name(s, pos).map(str::to_owned),
                        },
                    )
                })
                .collect(),
            risk_level: self.risk_level,
            flags: s
                .flags
                .iter()
                .map(|&(ri, fi)| def.risk_rules[inst.rules[ri].index].flags[fi].clone())
                .collect(),
            recommendations: s
                .recommendations
                .iter()
                .map(|&(ri, ki, due_on)| {
                    let rec = &def.risk_rules[inst.rules[ri].index].recommend[ki];
                    Recommendation {
                        kind: rec.kind,
                        due_on,
                        programme: rec.programme.clone(),
                        rule: self.rule_id(ri).to_owned(),
                    }
                })
                .collect(),
            explanation: s
                .explanation
                .iter()
                .map(|(rule, range)| Explanation {
                    rule: self.explanation_rule(*rule).to_owned(),
                    text: self.explanation_text(s, *rule, range).to_owned(),
                })
                .collect(),
        }
    }

    /// A serialisable view giving exactly the JSON of [`Outcome::to_result`].
    pub(crate) fn view<'a>(&'a self, s: &'a Scratch) -> ResultView<'a, 'e> {
        ResultView { o: self, s }
    }
}

/// Serialises an [`Outcome`] as its [`ScoreResult`] would be, without building it.
pub(crate) struct ResultView<'a, 'e> {
    o: &'a Outcome<'e>,
    s: &'a Scratch,
}

/// Field names and order of [`ScoreResult`] (checked against it by the property tests).
impl Serialize for ResultView<'_, '_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let (o, s) = (self.o, self.s);
        let def = &o.inst.def;
        let mut st = ser.serialize_struct("ScoreResult", 13)?;
        st.serialize_field("instrument", &def.id)?;
        st.serialize_field("instrument_version", &def.version)?;
        st.serialize_field("engine_version", ENGINE_VERSION)?;
        st.serialize_field(
            "norms",
            &NormsView {
                id: &def.norms.id,
                version: &def.norms.version,
                table: &def.norms.tables[o.table].id,
            },
        )?;
        st.serialize_field("administered_on", &o.administered_on)?;
        st.serialize_field("age_months", &o.age.chronological_months)?;
        st.serialize_field("corrected_age_months", &o.age.corrected_months)?;
        st.serialize_field("scores", &ScoresView { o, s })?;
        st.serialize_field("risk_level", &o.risk_level)?;
        st.serialize_field("flags", &FlagsView { o, s })?;
        st.serialize_field("recommendations", &RecommendationsView { o, s })?;
        st.serialize_field("explanation", &ExplanationView { o, s })?;
        st.end()
    }
}

#[derive(Serialize)]
#[serde(rename = "NormsRef")]
struct NormsView<'a> {
    id: &'a str,
    version: &'a str,
    table: &'a str,
}

#[derive(Serialize)]
#[serde(rename = "Score")]
struct ScoreView<'a> {
    value: Option<i64>,
    band: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename = "Recommendation")]
struct RecommendationView<'a> {
    kind: super::RecommendationKind,
    due_on: Option<NaiveDate>,
    programme: Option<&'a str>,
    rule: &'a str,
}

#[derive(Serialize)]
#[serde(rename = "Explanation")]
struct ExplanationLineView<'a> {
    rule: &'a str,
    text: &'a str,
}

struct ScoresView<'a, 'e> {
    o: &'a Outcome<'e>,
    s: &'a Scratch,
}

impl Serialize for ScoresView<'_, '_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let inst = self.o.inst;
        let mut map = ser.serialize_map(Some(inst.scores.len()))?;
        // In key order, as the result's BTreeMap serialises.
        for &pos in &inst.scores_by_id {
            map.serialize_entry(
                &inst.scores[pos].id,
                &ScoreView {
                    value: self.s.values[pos],
                    band: self.o.band_name(self.s, pos),
                },
            )?;
        }
        map.end()
    }
}

struct FlagsView<'a, 'e> {
    o: &'a Outcome<'e>,
    s: &'a Scratch,
}

impl Serialize for FlagsView<'_, '_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let inst = self.o.inst;
        let mut seq = ser.serialize_seq(Some(self.s.flags.len()))?;
        for &(ri, fi) in &self.s.flags {
            seq.serialize_element(&inst.def.risk_rules[inst.rules[ri].index].flags[fi])?;
        }
        seq.end()
    }
}

struct RecommendationsView<'a, 'e> {
    o: &'a Outcome<'e>,
    s: &'a Scratch,
}

impl Serialize for RecommendationsView<'_, '_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let inst = self.o.inst;
        let mut seq = ser.serialize_seq(Some(self.s.recommendations.len()))?;
        for &(ri, ki, due_on) in &self.s.recommendations {
            let rec = &inst.def.risk_rules[inst.rules[ri].index].recommend[ki];
            seq.serialize_element(&RecommendationView {
                kind: rec.kind,
                due_on,
                programme: rec.programme.as_deref(),
                rule: self.o.rule_id(ri),
            })?;
        }
        seq.end()
    }
}

struct ExplanationView<'a, 'e> {
    o: &'a Outcome<'e>,
    s: &'a Scratch,
}

impl Serialize for ExplanationView<'_, '_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut seq = ser.serialize_seq(Some(self.s.explanation.len()))?;
        for (rule, range) in &self.s.explanation {
            seq.serialize_element(&ExplanationLineView {
                rule: self.o.explanation_rule(*rule),
                text: self.o.explanation_text(self.s, *rule, range),
            })?;
        }
        seq.end()
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
}
