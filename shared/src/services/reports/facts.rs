//! The indicators' facts from the analytics lake's decoded columns (`statistics::lake`): one
//! [`ResultFact`] per result row of a child, one [`SupportFact`] per started episode and per
//! referral, each distinct text of a column shared by its rows and each child numbered once
//! across the files ([`Facts::child`]). The reports worker and the indicators benchmark
//! (`shared/benches/indicators.rs`) build them the same way.

use crate::scoring::follow_ups::{FollowUp, FollowUps};
use crate::statistics::columnar::Strings;
use crate::statistics::indicators::{ChildNo, Facts, ResultFact, SupportFact};
use crate::statistics::lake;
use chrono::{Datelike, NaiveDate};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The bands of a result's `bands` JSON (`{"scale": "band"}`; a scale without norms or
/// without a value has `null` and is left out). Unreadable JSON gives no bands.
fn bands_of_json(json: &str) -> BTreeMap<String, String> {
    serde_json::from_str::<BTreeMap<String, Option<String>>>(json)
        .map(|bands| {
            bands
                .into_iter()
                .filter_map(|(scale, band)| Some((scale, band?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The total difficulties score of an SDQ result's scores (JSON), if present.
fn sdq_total_of_json(json: &str) -> Option<i64> {
    serde_json::from_str::<BTreeMap<String, Option<i64>>>(json)
        .ok()
        .and_then(|scores| scores.get(SDQ_TOTAL).copied().flatten())
}

/// The SDQ's total difficulties score (the score compared before and after a programme).
const SDQ_TOTAL: &str = "total_difficulties";

/// Age in completed years as the indicators count it: children only (a row of 18 or more
/// — e.g. a parent's questionnaire recorded with the parent's age — is left out).
fn child_age(years: i32) -> Option<u8> {
    u8::try_from(years).ok().filter(|y| *y < 18)
}

/// Each distinct value of a text column once, shared by the facts of its rows.
fn shared(column: &Strings) -> Vec<Arc<str>> {
    (0..column.distinct())
        .map(|code| Arc::from(column.value(code as u32).unwrap_or_default()))
        .collect()
}

/// The number of each distinct pseudonym of a `child` column among the facts' children.
fn numbered(facts: &mut Facts, column: &Strings) -> Vec<ChildNo> {
    (0..column.distinct())
        .map(|code| facts.child(column.value(code as u32).unwrap_or_default()))
        .collect()
}

/// Row `i`'s child (a required column: a null, which the decoder refuses, would be the
/// child numbered 0).
fn child_at(numbers: &[ChildNo], column: &Strings, i: usize) -> ChildNo {
    let code = column.codes().get(i).copied().unwrap_or(Strings::NULL);
    numbers.get(code as usize).copied().unwrap_or(ChildNo(0))
}

/// Row `i`'s shared value of a column (none for a null).
fn shared_at(values: &[Arc<str>], column: &Strings, i: usize) -> Option<Arc<str>> {
    let code = *column.codes().get(i)?;
    values.get(code as usize).cloned()
}

/// The columns of the results table [`add_results`] reads (the reports decode no other).
pub const RESULT_COLUMNS_USED: [&str; 14] = [
    "child",
    "administered_on",
    "age_years",
    "sex",
    "municipality",
    "instrument",
    "risk_level",
    "scores",
    "bands",
    "recommendation_kinds",
    "rescreen_due_on",
    "rescreen_done_on",
    "interview_due_on",
    "interview_done_on",
];

/// Adds the indicators' facts of a results file's columns (children only: ages under 18;
/// the columns of [`RESULT_COLUMNS_USED`]). `older: Some(year)`: a file of an older year,
/// read for the SDQ before a programme and for follow-ups falling due in `year` or later, so
/// only such rows are kept.
pub fn add_results(facts: &mut Facts, c: &lake::ResultColumns, older: Option<i32>) {
    let children = numbered(facts, &c.child);
    ResultRows::new(&children, c, older).push_to(&mut facts.results);
}

/// What [`add_results`] needs of a results file, each distinct value prepared once.
struct ResultRows<'a> {
    c: &'a lake::ResultColumns,
    older: Option<i32>,
    empty: Arc<str>,
    unknown: Arc<str>,
    children: &'a [ChildNo],
    sexes: Vec<Arc<str>>,
    municipalities: Vec<Arc<str>>,
    instruments: Vec<Arc<str>>,
    risk_levels: Vec<Arc<str>>,
    /// Each distinct list of recommendation kinds, split once.
    kinds: Vec<Arc<[Arc<str>]>>,
    no_kinds: Arc<[Arc<str>]>,
    no_bands: Arc<BTreeMap<String, String>>,
}

impl<'a> ResultRows<'a> {
    fn new(children: &'a [ChildNo], c: &'a lake::ResultColumns, older: Option<i32>) -> Self {
        Self {
            c,
            older,
            empty: Arc::from(""),
            unknown: Arc::from("unknown"),
            children,
            sexes: shared(&c.sex),
            municipalities: shared(&c.municipality),
            instruments: shared(&c.instrument),
            risk_levels: shared(&c.risk_level),
            kinds: (0..c.recommendation_kinds.distinct())
                .map(|code| {
                    c.recommendation_kinds
                        .value(code as u32)
                        .unwrap_or_default()
                        .split(',')
                        .filter(|k| !k.is_empty())
                        .map(Arc::from)
                        .collect()
                })
                .collect(),
            no_kinds: Arc::from([]),
            no_bands: Arc::default(),
        }
    }

    /// Appends the facts of the rows, in order, to `out`.
    fn push_to(&self, out: &mut Vec<ResultFact>) {
        let c = self.c;
        // Bands are read only where an indicator needs them (the SDQ at 15), each distinct
        // value parsed once.
        let mut bands_of: HashMap<u32, Arc<BTreeMap<String, String>>> = HashMap::new();
        // The SDQ total of each distinct scores value, parsed once.
        let mut totals_of: HashMap<u32, Option<i64>> = HashMap::new();
        out.reserve(c.len());
        for i in 0..c.len() {
            let Some(age_years) = c.age_years.get(i).copied().and_then(child_age) else {
                continue;
            };
            let instrument = shared_at(&self.instruments, &c.instrument, i)
                .unwrap_or_else(|| self.empty.clone());
            let sdq = instrument.starts_with("sdq");
            let date = |column: &[Option<NaiveDate>]| column.get(i).copied().flatten();
            let due_from = |year: i32| {
                [&c.rescreen_due_on, &c.interview_due_on]
                    .iter()
                    .any(|due| date(due).is_some_and(|d| d.year() >= year))
            };
            if self.older.is_some_and(|year| !sdq && !due_from(year)) {
                continue;
            }
            let sdq_total = if sdq {
                let code = c.scores.codes().get(i).copied().unwrap_or(Strings::NULL);
                *totals_of
                    .entry(code)
                    .or_insert_with(|| c.scores.value(code).and_then(sdq_total_of_json))
            } else {
                None
            };
            let follow_up = |due: &[Option<NaiveDate>], done: &[Option<NaiveDate>]| {
                date(due).map(|due_on| FollowUp {
                    due_on,
                    done_on: date(done),
                })
            };
            let follow_ups = FollowUps {
                rescreen: follow_up(&c.rescreen_due_on, &c.rescreen_done_on),
                interview: follow_up(&c.interview_due_on, &c.interview_done_on),
            };
            let bands = if sdq && age_years == 15 {
                let code = c.bands.codes().get(i).copied().unwrap_or(Strings::NULL);
                bands_of
                    .entry(code)
                    .or_insert_with(|| {
                        Arc::new(c.bands.value(code).map(bands_of_json).unwrap_or_default())
                    })
                    .clone()
            } else {
                self.no_bands.clone()
            };
            let kinds_code = c.recommendation_kinds.codes().get(i).copied();
            out.push(ResultFact {
                child: child_at(self.children, &c.child, i),
                administered_on: c.administered_on[i],
                age_years,
                sex: shared_at(&self.sexes, &c.sex, i).unwrap_or_else(|| self.unknown.clone()),
                municipality: shared_at(&self.municipalities, &c.municipality, i),
                instrument,
                risk_level: shared_at(&self.risk_levels, &c.risk_level, i)
                    .unwrap_or_else(|| self.empty.clone()),
                recommendation_kinds: kinds_code
                    .and_then(|k| self.kinds.get(k as usize))
                    .cloned()
                    .unwrap_or_else(|| self.no_kinds.clone()),
                bands,
                sdq_total,
                follow_ups,
            });
        }
    }
}

/// Adds the facts of an episodes file's columns: started episodes of children.
pub fn add_episodes(facts: &mut Facts, c: &lake::EpisodeColumns) {
    let columns = [&c.child, &c.programme, &c.sex, &c.municipality];
    let days = (0..c.len()).map(|i| c.started_on[i].map(|on| (on, c.ended_on[i])));
    let episodes = support_facts(facts, columns, &c.age_years, days);
    facts.episodes.extend(episodes);
}

/// Adds the facts of a referrals file's columns: referrals of children.
pub fn add_referrals(facts: &mut Facts, c: &lake::ReferralColumns) {
    let columns = [&c.child, &c.programme, &c.sex, &c.municipality];
    let days = c.referred_on.iter().map(|on| Some((*on, None)));
    let referrals = support_facts(facts, columns, &c.age_years, days);
    facts.referrals.extend(referrals);
}

/// Support facts of the rows of a file's `[child, programme, sex, municipality]` columns
/// whose `days` (start or referral day, end) are known and whose age is a child's; each
/// distinct text shared by its rows.
fn support_facts(
    facts: &mut Facts,
    [child, programme, sex, municipality]: [&Strings; 4],
    age_years: &[i32],
    days: impl Iterator<Item = Option<(NaiveDate, Option<NaiveDate>)>>,
) -> Vec<SupportFact> {
    let empty: Arc<str> = Arc::from("");
    let unknown: Arc<str> = Arc::from("unknown");
    let children = numbered(facts, child);
    let [programmes, sexes, municipalities] = [programme, sex, municipality].map(shared);
    days.enumerate()
        .filter_map(|(i, days)| {
            let (on, ended_on) = days?;
            let age_years = age_years.get(i).copied().and_then(child_age)?;
            Some(SupportFact {
                child: child_at(&children, child, i),
                programme: shared_at(&programmes, programme, i).unwrap_or_else(|| empty.clone()),
                on,
                ended_on,
                age_years,
                sex: shared_at(&sexes, sex, i).unwrap_or_else(|| unknown.clone()),
                municipality: shared_at(&municipalities, municipality, i),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn bands_without_norms_are_left_out_not_the_whole_result() {
        let bands = super::bands_of_json(r#"{"emotional":"high","impact":null,"peer":"average"}"#);
        assert_eq!(bands.len(), 2);
        assert_eq!(bands["emotional"], "high");
        assert!(super::bands_of_json("not json").is_empty());
    }
}
