//! The analytics lake's rows (issue #13): one row per scored result, per support episode
//! and per referral, keyed by the child's **analytics pseudonym** — never a name, personal
//! code or RAVIS id — with coarse attributes (age band, sex, municipality), as Parquet.
//!
//! Each table is written per year to `lake/<table>/year=YYYY/part-0.parquet`
//! ([`partition_key`]), Hive-style, so Athena reads it with a `year` partition and the
//! embedded backend with the columnar reader here ([`read_results`], [`read_episodes`],
//! [`read_referrals`]), which returns one vector per column. The use case that builds the
//! rows from the records is `services::lake`; the schema and the retention of each table
//! are documented in `docs/REPORTS.md`, "Analytics lake".

use super::columnar::{
    self, ColumnarError, Decoded, Field, Kind, Strings, Values, date, int, optional_text, text,
};
use crate::domain::Sex;
use crate::domain::referral::{Referral, ReferralState};
use crate::domain::registry::SupportEpisode;
use crate::scoring::ScoreResult;
use crate::scoring::follow_ups::FollowUps;
use bytes::Bytes;
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use std::collections::BTreeMap;

/// The version of the territorial classifier the municipality codes belong to.
pub const ATVK_VERSION: &str = "ATVK-2021";

/// The age bands (completed years; lower bound inclusive, upper exclusive), youngest first.
pub const AGE_BANDS: [&str; 6] = ["0-1", "1-3", "3-7", "7-11", "11-15", "15-18"];

/// The age band of an age of 18 or more (a result or episode recorded after childhood).
pub const ADULT_BAND: &str = "18+";

/// The tables of the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// One row per scored result.
    Results,
    /// One row per support episode.
    Episodes,
    /// One row per referral.
    Referrals,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 3] = [Table::Results, Table::Episodes, Table::Referrals];

    /// The table's name (its prefix under `lake/` and its Glue table name).
    pub fn name(self) -> &'static str {
        match self {
            Table::Results => "results",
            Table::Episodes => "episodes",
            Table::Referrals => "referrals",
        }
    }

    /// How many calendar years of partitions are kept, the current year included: a year
    /// older than that is deleted from the lake (and expires in S3 by the bucket's
    /// lifecycle rule for the table's prefix, `infra/template.yaml`). Results and episodes
    /// are the indicators' time series (10 years); referrals are a process measure of the
    /// pathway (5 years).
    pub fn retention_years(self) -> i32 {
        match self {
            Table::Results | Table::Episodes => 10,
            Table::Referrals => 5,
        }
    }

    /// The oldest year kept in the year `current`.
    pub fn oldest_kept_year(self, current: i32) -> i32 {
        current - self.retention_years() + 1
    }

    /// The table's schema.
    pub fn fields(self) -> &'static [Field] {
        match self {
            Table::Results => RESULT_FIELDS,
            Table::Episodes => EPISODE_FIELDS,
            Table::Referrals => REFERRAL_FIELDS,
        }
    }

    /// The key prefix of the table's partitions, `lake/<table>/`.
    pub fn prefix(self) -> String {
        format!("lake/{}/", self.name())
    }
}

/// The object of one table's year: `lake/<table>/year=YYYY/part-0.parquet`.
pub fn partition_key(table: Table, year: i32) -> String {
    format!("{}year={year}/part-0.parquet", table.prefix())
}

/// The year of a key under a table's prefix (`lake/results/year=2026/…` → 2026).
pub fn partition_year(table: Table, key: &str) -> Option<i32> {
    let rest = key.strip_prefix(&table.prefix())?.strip_prefix("year=")?;
    rest.split('/').next()?.parse().ok()
}

/// Completed years of age on `on` of a child born on `birth` (0 before the first birthday;
/// never negative).
pub fn age_years(birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut years = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years.max(0)
}

/// The age band of completed years: one of [`AGE_BANDS`], or [`ADULT_BAND`] from 18.
pub fn age_band(years: i32) -> &'static str {
    match years {
        ..=0 => AGE_BANDS[0],
        1..=2 => AGE_BANDS[1],
        3..=6 => AGE_BANDS[2],
        7..=10 => AGE_BANDS[3],
        11..=14 => AGE_BANDS[4],
        15..=17 => AGE_BANDS[5],
        _ => ADULT_BAND,
    }
}

/// The lake's code of a sex: `male`, `female`, or `unknown` when not recorded.
pub fn sex_code(sex: Option<Sex>) -> &'static str {
    match sex {
        Some(Sex::Male) => "male",
        Some(Sex::Female) => "female",
        None => "unknown",
    }
}

/// The JSON name of a unit enum variant (`goals_met`), as the API spells it.
pub fn code_of<T: Serialize>(value: &T) -> Option<String> {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
}

/// Who a row is about, as the lake may say it: the analytics pseudonym and coarse
/// attributes of the child, fixed for all of its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The analytics pseudonym.
    pub child: String,
    /// Date of birth (only ages are written).
    pub birth_date: NaiveDate,
    /// `male`, `female` or `unknown` ([`sex_code`]).
    pub sex: &'static str,
    /// 7-character ATVK code of the municipality, if the address is known.
    pub municipality: Option<String>,
}

/// One scored result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRow {
    /// The child's analytics pseudonym.
    pub child: String,
    /// Date of administration.
    pub administered_on: NaiveDate,
    /// Its year (the partition).
    pub year: i32,
    /// Completed years of age at administration.
    pub age_years: i32,
    /// Age band ([`age_band`]).
    pub age_band: &'static str,
    /// `male`, `female` or `unknown`.
    pub sex: &'static str,
    /// Municipality ATVK code, if known.
    pub municipality: Option<String>,
    /// Instrument id.
    pub instrument: String,
    /// Instrument definition version.
    pub instrument_version: String,
    /// `low`, `medium`, `high` or `urgent`.
    pub risk_level: &'static str,
    /// `{"scale": value}` (null when too few answers).
    pub scores: String,
    /// `{"scale": "band"}` (null when the scale has no norms or no value).
    pub bands: String,
    /// Recommended kinds of action, sorted, comma-separated (empty when none).
    pub recommendation_kinds: String,
    /// The dated rescreen and follow-up interview it asks for, and when they were done
    /// (`scoring::follow_ups`).
    pub follow_ups: FollowUps,
}

impl ResultRow {
    /// The row of a result of `subject` with the follow-ups it asks for.
    pub fn new(subject: &Subject, result: &ScoreResult, follow_ups: FollowUps) -> Self {
        let age = age_years(subject.birth_date, result.administered_on);
        let scores: BTreeMap<&str, Option<i64>> = result
            .scores
            .iter()
            .map(|(k, s)| (k.as_str(), s.value))
            .collect();
        let bands: BTreeMap<&str, Option<&str>> = result
            .scores
            .iter()
            .map(|(k, s)| (k.as_str(), s.band.as_deref()))
            .collect();
        let mut kinds: Vec<&str> = result
            .recommendations
            .iter()
            .map(|r| r.kind.as_str())
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        Self {
            child: subject.child.clone(),
            administered_on: result.administered_on,
            year: result.administered_on.year(),
            age_years: age,
            age_band: age_band(age),
            sex: subject.sex,
            municipality: subject.municipality.clone(),
            instrument: result.instrument.clone(),
            instrument_version: result.instrument_version.clone(),
            risk_level: result.risk_level.as_str(),
            scores: serde_json::to_string(&scores).unwrap_or_default(),
            bands: serde_json::to_string(&bands).unwrap_or_default(),
            recommendation_kinds: kinds.join(","),
            follow_ups,
        }
    }
}

/// One support episode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpisodeRow {
    /// The child's analytics pseudonym.
    pub child: String,
    /// Programme or service (catalogue id).
    pub programme: String,
    /// Date of the referral to it.
    pub referred_on: NaiveDate,
    /// First day of support, once started.
    pub started_on: Option<NaiveDate>,
    /// Last day of support, once ended.
    pub ended_on: Option<NaiveDate>,
    /// Year of the start (of the referral while not started): the partition.
    pub year: i32,
    /// Completed years of age at the start (at the referral while not started).
    pub age_years: i32,
    /// Age band of `age_years`.
    pub age_band: &'static str,
    /// `male`, `female` or `unknown`.
    pub sex: &'static str,
    /// Municipality ATVK code, if known.
    pub municipality: Option<String>,
    /// Outcome (`goals_met`, …), once ended.
    pub outcome: Option<String>,
    /// Why it ended (`completed`, …), once ended.
    pub end_reason: Option<String>,
}

impl EpisodeRow {
    /// The row of an episode of `subject`; its year and age are those of the start, or of
    /// the referral while it has not started.
    pub fn new(subject: &Subject, episode: &SupportEpisode) -> Self {
        let on = episode.start_date.unwrap_or(episode.referral_date);
        let age = age_years(subject.birth_date, on);
        Self {
            child: subject.child.clone(),
            programme: episode.programme.clone(),
            referred_on: episode.referral_date,
            started_on: episode.start_date,
            ended_on: episode.end_date,
            year: on.year(),
            age_years: age,
            age_band: age_band(age),
            sex: subject.sex,
            municipality: subject.municipality.clone(),
            outcome: episode.outcome.as_ref().and_then(code_of),
            end_reason: episode.end_reason.as_ref().and_then(code_of),
        }
    }
}

/// One referral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralRow {
    /// The child's analytics pseudonym.
    pub child: String,
    /// Programme or service (catalogue id).
    pub programme: String,
    /// The day it was created.
    pub referred_on: NaiveDate,
    /// Its current state (`proposed`, `sent`, …, `started`, `completed`, …).
    pub state: String,
    /// The day support started (the history's step into `started`), if it did.
    pub started_on: Option<NaiveDate>,
    /// Year of `referred_on`: the partition.
    pub year: i32,
    /// Completed years of age on `referred_on`.
    pub age_years: i32,
    /// Age band of `age_years`.
    pub age_band: &'static str,
    /// `male`, `female` or `unknown`.
    pub sex: &'static str,
    /// Municipality ATVK code, if known.
    pub municipality: Option<String>,
}

impl ReferralRow {
    /// The row of a referral of `subject`, dated by its creation.
    pub fn new(subject: &Subject, referral: &Referral) -> Self {
        let on = referral.created_at.date_naive();
        let age = age_years(subject.birth_date, on);
        Self {
            child: subject.child.clone(),
            programme: referral.programme.clone(),
            referred_on: on,
            state: referral.state.as_str().to_owned(),
            started_on: referral
                .history
                .iter()
                .find(|step| step.state == ReferralState::Started)
                .map(|step| step.at.date_naive()),
            year: on.year(),
            age_years: age,
            age_band: age_band(age),
            sex: subject.sex,
            municipality: subject.municipality.clone(),
        }
    }
}

const RESULT_FIELDS: &[Field] = &[
    Field::required("child", Kind::Utf8),
    Field::required("administered_on", Kind::Date),
    Field::required("year", Kind::Int32),
    Field::required("age_years", Kind::Int32),
    Field::required("age_band", Kind::Utf8),
    Field::required("sex", Kind::Utf8),
    Field::nullable("municipality", Kind::Utf8),
    Field::required("atvk_version", Kind::Utf8),
    Field::required("instrument", Kind::Utf8),
    Field::required("instrument_version", Kind::Utf8),
    Field::required("risk_level", Kind::Utf8),
    Field::required("scores", Kind::Utf8),
    Field::required("bands", Kind::Utf8),
    Field::required("recommendation_kinds", Kind::Utf8),
    Field::nullable("rescreen_due_on", Kind::Date),
    Field::nullable("rescreen_done_on", Kind::Date),
    Field::nullable("interview_due_on", Kind::Date),
    Field::nullable("interview_done_on", Kind::Date),
];

const EPISODE_FIELDS: &[Field] = &[
    Field::required("child", Kind::Utf8),
    Field::required("programme", Kind::Utf8),
    Field::required("referred_on", Kind::Date),
    Field::nullable("started_on", Kind::Date),
    Field::nullable("ended_on", Kind::Date),
    Field::required("year", Kind::Int32),
    Field::required("age_years", Kind::Int32),
    Field::required("age_band", Kind::Utf8),
    Field::required("sex", Kind::Utf8),
    Field::nullable("municipality", Kind::Utf8),
    Field::required("atvk_version", Kind::Utf8),
    Field::nullable("outcome", Kind::Utf8),
    Field::nullable("end_reason", Kind::Utf8),
];

const REFERRAL_FIELDS: &[Field] = &[
    Field::required("child", Kind::Utf8),
    Field::required("programme", Kind::Utf8),
    Field::required("referred_on", Kind::Date),
    Field::required("state", Kind::Utf8),
    Field::nullable("started_on", Kind::Date),
    Field::required("year", Kind::Int32),
    Field::required("age_years", Kind::Int32),
    Field::required("age_band", Kind::Utf8),
    Field::required("sex", Kind::Utf8),
    Field::nullable("municipality", Kind::Utf8),
    Field::required("atvk_version", Kind::Utf8),
];

fn atvk_version<R>(rows: &[R]) -> Values<'_> {
    Values::Utf8(vec![Some(ATVK_VERSION); rows.len()])
}

/// The results table as Parquet bytes.
pub fn write_results(rows: &[ResultRow]) -> Result<Vec<u8>, ColumnarError> {
    columnar::encode("results", RESULT_FIELDS, rows, |rows, i| match i {
        0 => text(rows, |r| &r.child),
        1 => date(rows, |r| Some(r.administered_on)),
        2 => int(rows, |r| r.year),
        3 => int(rows, |r| r.age_years),
        4 => text(rows, |r| r.age_band),
        5 => text(rows, |r| r.sex),
        6 => optional_text(rows, |r| r.municipality.as_deref()),
        7 => atvk_version(rows),
        8 => text(rows, |r| &r.instrument),
        9 => text(rows, |r| &r.instrument_version),
        10 => text(rows, |r| r.risk_level),
        11 => text(rows, |r| &r.scores),
        12 => text(rows, |r| &r.bands),
        13 => text(rows, |r| &r.recommendation_kinds),
        14 => date(rows, |r| r.follow_ups.rescreen.map(|f| f.due_on)),
        15 => date(rows, |r| r.follow_ups.rescreen.and_then(|f| f.done_on)),
        16 => date(rows, |r| r.follow_ups.interview.map(|f| f.due_on)),
        _ => date(rows, |r| r.follow_ups.interview.and_then(|f| f.done_on)),
    })
}

/// The episodes table as Parquet bytes.
pub fn write_episodes(rows: &[EpisodeRow]) -> Result<Vec<u8>, ColumnarError> {
    columnar::encode("episodes", EPISODE_FIELDS, rows, |rows, i| match i {
        0 => text(rows, |r| &r.child),
        1 => text(rows, |r| &r.programme),
        2 => date(rows, |r| Some(r.referred_on)),
        3 => date(rows, |r| r.started_on),
        4 => date(rows, |r| r.ended_on),
        5 => int(rows, |r| r.year),
        6 => int(rows, |r| r.age_years),
        7 => text(rows, |r| r.age_band),
        8 => text(rows, |r| r.sex),
        9 => optional_text(rows, |r| r.municipality.as_deref()),
        10 => atvk_version(rows),
        11 => optional_text(rows, |r| r.outcome.as_deref()),
        _ => optional_text(rows, |r| r.end_reason.as_deref()),
    })
}

/// The referrals table as Parquet bytes.
pub fn write_referrals(rows: &[ReferralRow]) -> Result<Vec<u8>, ColumnarError> {
    columnar::encode("referrals", REFERRAL_FIELDS, rows, |rows, i| match i {
        0 => text(rows, |r| &r.child),
        1 => text(rows, |r| &r.programme),
        2 => date(rows, |r| Some(r.referred_on)),
        3 => text(rows, |r| &r.state),
        4 => date(rows, |r| r.started_on),
        5 => int(rows, |r| r.year),
        6 => int(rows, |r| r.age_years),
        7 => text(rows, |r| r.age_band),
        8 => text(rows, |r| r.sex),
        9 => optional_text(rows, |r| r.municipality.as_deref()),
        _ => atvk_version(rows),
    })
}

/// The results table, column by column (the fields of [`ResultRow`], plus `atvk_version`).
#[derive(Debug, Clone, PartialEq)]
pub struct ResultColumns {
    pub child: Strings,
    pub administered_on: Vec<NaiveDate>,
    pub year: Vec<i32>,
    pub age_years: Vec<i32>,
    pub age_band: Strings,
    pub sex: Strings,
    pub municipality: Strings,
    pub atvk_version: Strings,
    pub instrument: Strings,
    pub instrument_version: Strings,
    pub risk_level: Strings,
    pub scores: Strings,
    pub bands: Strings,
    pub recommendation_kinds: Strings,
    pub rescreen_due_on: Vec<Option<NaiveDate>>,
    pub rescreen_done_on: Vec<Option<NaiveDate>>,
    pub interview_due_on: Vec<Option<NaiveDate>>,
    pub interview_done_on: Vec<Option<NaiveDate>>,
}

/// The episodes table, column by column (the fields of [`EpisodeRow`], plus `atvk_version`).
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeColumns {
    pub child: Strings,
    pub programme: Strings,
    pub referred_on: Vec<NaiveDate>,
    pub started_on: Vec<Option<NaiveDate>>,
    pub ended_on: Vec<Option<NaiveDate>>,
    pub year: Vec<i32>,
    pub age_years: Vec<i32>,
    pub age_band: Strings,
    pub sex: Strings,
    pub municipality: Strings,
    pub atvk_version: Strings,
    pub outcome: Strings,
    pub end_reason: Strings,
}

/// The referrals table, column by column (the fields of [`ReferralRow`], plus
/// `atvk_version`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReferralColumns {
    pub child: Strings,
    pub programme: Strings,
    pub referred_on: Vec<NaiveDate>,
    pub state: Strings,
    pub started_on: Vec<Option<NaiveDate>>,
    pub year: Vec<i32>,
    pub age_years: Vec<i32>,
    pub age_band: Strings,
    pub sex: Strings,
    pub municipality: Strings,
    pub atvk_version: Strings,
}

impl ResultColumns {
    /// Number of rows (of the columns read: [`read_results_columns`] may leave some empty).
    pub fn len(&self) -> usize {
        self.year
            .len()
            .max(self.administered_on.len())
            .max(self.child.len())
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl EpisodeColumns {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.year.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.year.is_empty()
    }
}

impl ReferralColumns {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.year.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.year.is_empty()
    }
}

/// The decoded columns of a table, taken in schema order.
struct Take<'a> {
    columns: std::vec::IntoIter<Decoded>,
    fields: std::slice::Iter<'a, Field>,
}

impl<'a> Take<'a> {
    fn new(bytes: Bytes, fields: &'a [Field]) -> Result<Self, ColumnarError> {
        Self::some(bytes, fields, |_| true)
    }

    fn some(
        bytes: Bytes,
        fields: &'a [Field],
        wanted: impl Fn(&str) -> bool + Sync,
    ) -> Result<Self, ColumnarError> {
        Ok(Self {
            columns: columnar::decode_columns(bytes, fields, wanted)?.into_iter(),
            fields: fields.iter(),
        })
    }

    fn next(&mut self) -> Result<(Decoded, &'static str), ColumnarError> {
        match (self.columns.next(), self.fields.next()) {
            (Some(column), Some(field)) => Ok((column, field.name)),
            _ => Err(ColumnarError::Schema {
                column: "?",
                reason: "fewer columns than the schema".into(),
            }),
        }
    }

    fn strings(&mut self) -> Result<Strings, ColumnarError> {
        let (column, name) = self.next()?;
        column.strings(name)
    }

    fn dates(&mut self) -> Result<Vec<NaiveDate>, ColumnarError> {
        let (column, name) = self.next()?;
        column.dates(name)
    }

    fn optional_dates(&mut self) -> Result<Vec<Option<NaiveDate>>, ColumnarError> {
        let (column, name) = self.next()?;
        column.optional_dates(name)
    }

    fn ints(&mut self) -> Result<Vec<i32>, ColumnarError> {
        let (column, name) = self.next()?;
        column.ints(name)
    }
}

/// Reads a results file into its columns.
pub fn read_results(bytes: Bytes) -> Result<ResultColumns, ColumnarError> {
    read_results_columns(bytes, |_| true)
}

/// Reads the columns of a results file that `wanted` names (by column name); the others are
/// left empty. The reports read only what the indicators count.
pub fn read_results_columns(
    bytes: Bytes,
    wanted: impl Fn(&str) -> bool + Sync,
) -> Result<ResultColumns, ColumnarError> {
    let mut t = Take::some(bytes, RESULT_FIELDS, wanted)?;
    Ok(ResultColumns {
        child: t.strings()?,
        administered_on: t.dates()?,
        year: t.ints()?,
        age_years: t.ints()?,
        age_band: t.strings()?,
        sex: t.strings()?,
        municipality: t.strings()?,
        atvk_version: t.strings()?,
        instrument: t.strings()?,
        instrument_version: t.strings()?,
        risk_level: t.strings()?,
        scores: t.strings()?,
        bands: t.strings()?,
        recommendation_kinds: t.strings()?,
        rescreen_due_on: t.optional_dates()?,
        rescreen_done_on: t.optional_dates()?,
        interview_due_on: t.optional_dates()?,
        interview_done_on: t.optional_dates()?,
    })
}

/// Reads an episodes file into its columns.
pub fn read_episodes(bytes: Bytes) -> Result<EpisodeColumns, ColumnarError> {
    let mut t = Take::new(bytes, EPISODE_FIELDS)?;
    Ok(EpisodeColumns {
        child: t.strings()?,
        programme: t.strings()?,
        referred_on: t.dates()?,
        started_on: t.optional_dates()?,
        ended_on: t.optional_dates()?,
        year: t.ints()?,
        age_years: t.ints()?,
        age_band: t.strings()?,
        sex: t.strings()?,
        municipality: t.strings()?,
        atvk_version: t.strings()?,
        outcome: t.strings()?,
        end_reason: t.strings()?,
    })
}

/// Reads a referrals file into its columns.
pub fn read_referrals(bytes: Bytes) -> Result<ReferralColumns, ColumnarError> {
    let mut t = Take::new(bytes, REFERRAL_FIELDS)?;
    Ok(ReferralColumns {
        child: t.strings()?,
        programme: t.strings()?,
        referred_on: t.dates()?,
        state: t.strings()?,
        started_on: t.optional_dates()?,
        year: t.ints()?,
        age_years: t.ints()?,
        age_band: t.strings()?,
        sex: t.strings()?,
        municipality: t.strings()?,
        atvk_version: t.strings()?,
    })
}

#[cfg(test)]
mod tests;
