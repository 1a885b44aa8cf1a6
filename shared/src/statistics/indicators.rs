//! The indicators of the action plan (issue #13), computed from the analytics lake's rows.
//!
//! Every count is a **flow in the release period that adds up** along every published
//! hierarchy — sub-periods to the period, municipalities to regions to Latvia, age bands and
//! sexes to `total`, instruments to `total`, breakdowns of an indicator to the indicator —
//! because disclosure control (`suppression.rs`) and its proof rely on exact sums. Where a
//! natural measure would not add up, it is defined so that it does and the definition says
//! how:
//!
//! | indicator | what is counted | broken down by |
//! |---|---|---|
//! | `children_screened` | children with a result in the period, once, at their first result in it (its sub-period, age, instrument ignored) | sub-period, territory, age band, sex |
//! | `screenings` → `screenings_risk_<level>` | results administered in the period, by overall risk level | sub-period, territory, age band, sex, instrument |
//! | `recommendations` → `recommendations_<kind>` | recommendations of those results, by kind | as `screenings` |
//! | `follow_ups_due` → `follow_ups_done_on_time`, `…_done_late`, `…_overdue` | dated rescreens and follow-up interviews a current result asks for (`scoring::follow_ups`: done by the next result of the instrument, or by its follow-up stage) that fell due in the period and before the facts' day (`Facts::as_of`): done on or before the due date, done later in the calendar month it fell due in, or not done by the end of that month (so a month's figure does not change when the same month is counted again in its quarter or year) | sub-period of the due date, territory, age band, sex, instrument of the result that asked |
//! | `referrals` → `referrals:<programme>` | referrals made in the period, by programme (the programme's breakdown by sub-period and territory only) | sub-period, territory, age band, sex |
//! | `support_started` → `support_started:<programme>` | support episodes started in the period | as `referrals` |
//! | `risk_identified` → `…_supported` (→ `…_0_30_days`, `…_31_90_days`, `…_over_90_days`), `…_waiting` | children whose risk was identified in the period (first `high` or `urgent` result in it), by whether support started on or after that day (or was under way), and how many days later; waiting: none yet | sub-period, territory, age band, sex |
//! | `sdq_programme_pairs` → `sdq_programme_improved`, `…_unchanged`, `…_worsened` (each by programme, `sdq_programme_improved:<programme>` …, by sub-period and territory only) | support episodes with an SDQ total difficulties score before and after, by `scoring::programme_outcome`'s rule (the latest within 12 months before the start, the first within 12 months after the end, of the same SDQ form; the first form by id that has both), counted in the period of the after screening; improved = a lower total | sub-period, territory, age band and sex (at the start) |
//! | `sdq15_internalising` → `…_high`, `…_other`; `sdq15_externalising` likewise | 15-year-olds (completed years) with an SDQ result in the period (their latest), high when an internalising (emotional, peer) or externalising (conduct, hyperactivity) subscale is in the `high` or `very_high` band of the SDQ four-band categorisation | sub-period, territory, sex |
//!
//! Decimal indicators are derived from counts and never published when one of their counts
//! is hidden ([`DECIMAL_INDICATORS`]): `share_high_or_urgent` (of `screenings`),
//! `follow_ups_overdue_share` (of `follow_ups_due`), `risk_supported_within_30_days_share`
//! and `…_90_days_share` (of `risk_identified`), `sdq15_internalising_high_share`,
//! `sdq15_externalising_high_share`, and the medians / 90th percentiles of the days from
//! risk to support (`risk_to_support_median_days`, `risk_to_support_p90_days`) and the
//! median change of the SDQ total around a programme (`sdq_programme_median_change`, after
//! − before: negative is better), each from at least `threshold` children.
//!
//! Sources: the action plan's indicators (`shared/DOMAIN.md`, "Indicators the state
//! monitors"); the age bands are the issue's (0–<1, 1–<3, 3–<7, 7–<11, 11–<15, 15–<18 years).
//! "High" internalising / externalising: the action plan gives no cut-off and the SDQ's
//! four-band table has none for the two broader scales (Goodman, Lamping & Ploubidis 2010
//! define the scales, not bands), so RAVIS counts a child high when either subscale of the
//! broader scale is high or very high.

use super::dictionary::Dictionary;
use super::period::Period;
use super::release::{CellKey, Codelist, TOTAL};
use super::territory::{LATVIA, Territories};
use crate::scoring::follow_ups::FollowUps;
use crate::scoring::programme_outcome::{OutcomeWindows, before_after};
use chrono::{Datelike, NaiveDate};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// Age bands in completed years: (code, lower inclusive, upper exclusive).
pub const AGE_BANDS: [(&str, u8, u8); 6] = [
    ("0-1", 0, 1),
    ("1-3", 1, 3),
    ("3-7", 3, 7),
    ("7-11", 7, 11),
    ("11-15", 11, 15),
    ("15-18", 15, 18),
];

/// The band of an age in completed years (18 and over: the last band, which RAVIS never
/// screens; negative ages do not occur in the lake).
pub fn age_band(years: u8) -> &'static str {
    AGE_BANDS
        .iter()
        .find(|(_, lo, hi)| (*lo..*hi).contains(&years))
        .map_or("15-18", |(code, _, _)| code)
}

/// Sex codes.
pub const SEXES: [&str; 3] = ["female", "male", "unknown"];

/// Overall risk levels, lowest first.
pub const RISK_LEVELS: [&str; 4] = ["low", "medium", "high", "urgent"];

/// Recommendation kinds.
pub const RECOMMENDATION_KINDS: [&str; 5] = [
    "rescreen",
    "follow_up_interview",
    "referral_in_depth_assessment",
    "referral_programme",
    "referral_urgent",
];

/// A child of the facts: the number of its analytics pseudonym in [`Facts::children`]
/// (the per-child steps index arrays by it instead of hashing pseudonyms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChildNo(pub u32);

impl ChildNo {
    fn index(self) -> usize {
        self.0 as usize
    }
}

/// One scored result (a row of the lake's `results` table). Its texts are shared (`Arc<str>`):
/// the facts of ten million rows hold each distinct value once, not once per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultFact {
    /// The child.
    pub child: ChildNo,
    /// Day of administration.
    pub administered_on: NaiveDate,
    /// Completed years at administration.
    pub age_years: u8,
    /// `female` / `male`.
    pub sex: Arc<str>,
    /// Municipality ATVK, if known.
    pub municipality: Option<Arc<str>>,
    /// Instrument id.
    pub instrument: Arc<str>,
    /// Overall risk level.
    pub risk_level: Arc<str>,
    /// Kinds of its recommendations (shared by the results with the same list).
    pub recommendation_kinds: Arc<[Arc<str>]>,
    /// Band per score (shared by the results with the same bands).
    pub bands: Arc<BTreeMap<String, String>>,
    /// The total difficulties score of an SDQ result (none for other instruments, or when
    /// too few answers).
    pub sdq_total: Option<i64>,
    /// The dated rescreen and follow-up interview it asks for, and when they were done.
    pub follow_ups: FollowUps,
}

/// One support episode, or one referral (rows of the lake's `episodes` / `referrals`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportFact {
    /// The child.
    pub child: ChildNo,
    /// Catalogue id of the programme.
    pub programme: Arc<str>,
    /// Start of the episode, or the day of the referral.
    pub on: NaiveDate,
    /// End of the episode, if it ended (none for referrals).
    pub ended_on: Option<NaiveDate>,
    /// Completed years on `on`.
    pub age_years: u8,
    /// `female` / `male`.
    pub sex: Arc<str>,
    /// Municipality ATVK, if known.
    pub municipality: Option<Arc<str>>,
}

/// What the indicators are computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Scored results.
    pub results: Vec<ResultFact>,
    /// Support episodes.
    pub episodes: Vec<SupportFact>,
    /// Referrals.
    pub referrals: Vec<SupportFact>,
    /// The day the facts describe (the lake's snapshot): follow-ups due on or after it are
    /// not due yet. None: every day of the period has passed.
    pub as_of: Option<NaiveDate>,
    /// The children's analytics pseudonyms, numbered ([`ChildNo`]) across every file read.
    pub children: Dictionary,
}

impl Facts {
    /// The number of a child's analytics pseudonym (numbered when first seen).
    pub fn child(&mut self, pseudonym: &str) -> ChildNo {
        ChildNo(self.children.number(pseudonym))
    }
}

/// The decimal indicators [`compute`] derives from counts (every other indicator is a
/// count under disclosure control). Published in each release's `codelists.json` as
/// `decimal_indicators`.
pub const DECIMAL_INDICATORS: [&str; 9] = [
    "share_high_or_urgent",
    "follow_ups_overdue_share",
    "risk_supported_within_30_days_share",
    "risk_supported_within_90_days_share",
    "risk_to_support_median_days",
    "risk_to_support_p90_days",
    "sdq_programme_median_change",
    "sdq15_internalising_high_share",
    "sdq15_externalising_high_share",
];

/// Whether an indicator is one of the [`DECIMAL_INDICATORS`].
pub fn is_decimal(indicator: &str) -> bool {
    DECIMAL_INDICATORS.contains(&indicator)
}

/// Which tables an indicator is published in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Breakdowns {
    age: bool,
    sex: bool,
    instrument: bool,
}

const ALL: Breakdowns = Breakdowns {
    age: true,
    sex: true,
    instrument: true,
};
const NO_INSTRUMENT: Breakdowns = Breakdowns {
    age: true,
    sex: true,
    instrument: false,
};
const SEX_ONLY: Breakdowns = Breakdowns {
    age: false,
    sex: true,
    instrument: false,
};
const TOTALS_ONLY: Breakdowns = Breakdowns {
    age: false,
    sex: false,
    instrument: false,
};

/// A decimal indicator: its key, value and the count cells it is derived from (hidden when
/// any of them is).
#[derive(Debug, Clone, PartialEq)]
pub struct DerivedCell {
    /// Where it is published.
    pub key: CellKey,
    /// The value.
    pub value: f64,
    /// The counts it is computed from.
    pub inputs: Vec<CellKey>,
}

/// The indicators of one release before disclosure control.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Indicators {
    /// Every count cell, zeros included, complete over every published table.
    pub counts: BTreeMap<CellKey, u64>,
    /// Decimal cells.
    pub derived: Vec<DerivedCell>,
    /// The hierarchies: `period`, `atvk`, `age_band`, `sex`, `instrument`, `indicator`.
    pub codelists: BTreeMap<String, Codelist>,
}

/// A fast hash of short keys (FxHash's word-at-a-time multiply): the keys are the lake's
/// own codes and pseudonyms, not an attacker's, so no flooding to defend against.
#[derive(Debug, Clone, Copy, Default)]
struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

/// A hash map with [`FxHasher`].
type Map<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Distinct strings, each numbered once in order of first appearance (a [`Dictionary`]
/// with a cache of recent lookups by address).
#[derive(Default)]
struct Interner {
    names: Dictionary,
    /// Recently asked names by where they were (address and length → number): the facts'
    /// texts and the indicator names stay put while the indicators are computed, so most
    /// lookups are one comparison. A hit is always checked against the name itself, so a
    /// text freed and another allocated at the same address is only a miss.
    recent: Vec<(usize, usize, u32)>,
}

/// Slots of [`Interner::recent`] (a power of two).
const RECENT: usize = 64;

/// Equal texts, comparing short ones in two 8-byte words.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if (8..=16).contains(&n) {
        let word = |s: &[u8], at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&s[at..at + 8]);
            u64::from_le_bytes(w)
        };
        return word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8);
    }
    a == b
}

impl Interner {
    /// The number of `name`, and whether it is new.
    #[inline]
    fn id(&mut self, name: &str) -> (u32, bool) {
        if self.recent.is_empty() {
            self.recent = vec![(0, 0, u32::MAX); RECENT];
        }
        let (address, len) = (name.as_ptr() as usize, name.len());
        let slot = ((address >> 3) ^ (address >> 11) ^ len) & (RECENT - 1);
        if let (a, l, id) = self.recent[slot]
            && a == address
            && l == len
            && self
                .names
                .value(id)
                .is_some_and(|n| same(n.as_bytes(), name.as_bytes()))
        {
            return (id, false);
        }
        let known = self.names.len();
        let id = self.names.number(name);
        self.recent[slot] = (address, len, id);
        (id, self.names.len() > known)
    }

    fn name(&self, id: u32) -> &str {
        self.names.value(id).unwrap_or("")
    }

    /// Every name, in order of its number.
    fn names(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.names.len() as u32).filter_map(|id| self.names.value(id))
    }
}

/// The index of an age's band in [`AGE_BANDS`].
fn band_index(years: u8) -> u8 {
    // As `age_band`: the band whose range holds the age, else the last one.
    AGE_BANDS
        .iter()
        .position(|(_, lo, hi)| (*lo..*hi).contains(&years))
        .map_or(AGE_BANDS.len() as u8 - 1, |i| i as u8)
}

/// The leaf a fact counts in, packed: indicator (bits 96–127), territory leaf (64–95),
/// instrument + 1 (32–63; 0: none), sex (16–31), sub-period index + 1 (8–15; 0: the period
/// itself), age band index (0–7). The strings behind the numbers are in the [`Tally`]'s
/// interners.
type Leaf = u128;

fn leaf_key(indicator: u32, leaf: u32, instrument: u32, sex: u32, part: u8, band: u8) -> Leaf {
    (u128::from(indicator) << 96)
        | (u128::from(leaf) << 64)
        | (u128::from(instrument) << 32)
        | (u128::from(sex & 0xFFFF) << 16)
        | (u128::from(part) << 8)
        | u128::from(band)
}

/// Indicator names made of a prefix and a value (`screenings_risk_` + `high`), each built
/// once rather than once per row.
#[derive(Default)]
struct Names {
    /// Per prefix: its values and the names made of them, by the value's number.
    by_prefix: Vec<(Box<str>, Interner, Vec<Box<str>>)>,
}

impl Names {
    fn join(&mut self, prefix: &str, value: &str) -> &str {
        let at = match self
            .by_prefix
            .iter()
            .position(|(p, _, _)| same(p.as_bytes(), prefix.as_bytes()))
        {
            Some(at) => at,
            None => {
                self.by_prefix
                    .push((prefix.into(), Interner::default(), Vec::new()));
                self.by_prefix.len() - 1
            }
        };
        let (_, values, names) = &mut self.by_prefix[at];
        let (id, new) = values.id(value);
        if new {
            names.push(format!("{prefix}{value}").into());
        }
        names.get(id as usize).map_or("", |n| n)
    }
}

struct Tally<'a> {
    period: Period,
    territories: &'a Territories,
    /// The period's sub-periods (a leaf's part index is one more than its place here).
    parts: Vec<Period>,
    /// Their first and last days.
    part_days: Vec<(NaiveDate, NaiveDate)>,
    indicators: Interner,
    leaves_seen: Interner,
    sexes: Interner,
    instruments: Interner,
    leaves: Map<Leaf, u64>,
    breakdowns: BTreeMap<String, Breakdowns>,
}

impl<'a> Tally<'a> {
    fn new(period: Period, territories: &'a Territories) -> Self {
        Self {
            period,
            territories,
            parts: period.parts(),
            part_days: period
                .parts()
                .iter()
                .map(|p| (p.start(), p.end()))
                .collect(),
            indicators: Interner::default(),
            leaves_seen: Interner::default(),
            sexes: Interner::default(),
            instruments: Interner::default(),
            leaves: Map::default(),
            breakdowns: BTreeMap::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        indicator: &str,
        breakdowns: Breakdowns,
        on: NaiveDate,
        municipality: Option<&str>,
        age_years: u8,
        sex: &str,
        instrument: Option<&str>,
    ) {
        self.add_each(
            &[indicator],
            breakdowns,
            on,
            municipality,
            age_years,
            sex,
            instrument,
        );
    }

    /// [`Tally::add`] of several indicators with the same breakdowns for one fact, its
    /// sub-period, territory, sex, instrument and age band looked up once.
    #[allow(clippy::too_many_arguments)]
    fn add_each(
        &mut self,
        indicators: &[&str],
        breakdowns: Breakdowns,
        on: NaiveDate,
        municipality: Option<&str>,
        age_years: u8,
        sex: &str,
        instrument: Option<&str>,
    ) {
        // `period.part_of(on)`, as an index (0: none) without building dates per call.
        let part = self
            .part_days
            .iter()
            .position(|(start, end)| *start <= on && on <= *end)
            .map_or(0, |i| i as u8 + 1);
        let (leaf, _) = self.leaves_seen.id(self.territories.leaf(municipality));
        let instrument = match instrument {
            Some(i) if breakdowns.instrument => self.instruments.id(i).0 + 1,
            _ => 0,
        };
        let (sex, _) = self.sexes.id(sex);
        let band = band_index(age_years);
        for name in indicators {
            let (indicator, new) = self.indicators.id(name);
            if new {
                self.breakdowns
                    .entry(self.indicators.name(indicator).to_string())
                    .or_insert(breakdowns);
            }
            *self
                .leaves
                .entry(leaf_key(indicator, leaf, instrument, sex, part, band))
                .or_default() += 1;
        }
    }
}

impl Tally<'_> {
    /// Adds another tally's leaves (its numbers translated into this one's).
    fn merge(&mut self, other: Tally<'_>) {
        for (name, b) in other.breakdowns {
            self.breakdowns.entry(name).or_insert(b);
        }
        let translate = |mine: &mut Interner, theirs: &Interner| -> Vec<u32> {
            theirs.names().map(|n| mine.id(n).0).collect()
        };
        let indicators = translate(&mut self.indicators, &other.indicators);
        let leaves = translate(&mut self.leaves_seen, &other.leaves_seen);
        let sexes = translate(&mut self.sexes, &other.sexes);
        let instruments = translate(&mut self.instruments, &other.instruments);
        for (key, n) in other.leaves {
            let (Some(&indicator), Some(&leaf), Some(&sex)) = (
                indicators.get((key >> 96) as usize),
                leaves.get(((key >> 64) as u32) as usize),
                sexes.get(((key >> 16) & 0xFFFF) as usize),
            ) else {
                continue;
            };
            let instrument = match (key >> 32) as u32 {
                0 => 0,
                i => match instruments.get(i as usize - 1) {
                    Some(&i) => i + 1,
                    None => continue,
                },
            };
            let (part, band) = (((key >> 8) & 0xFF) as u8, (key & 0xFF) as u8);
            *self
                .leaves
                .entry(leaf_key(indicator, leaf, instrument, sex, part, band))
                .or_default() += n;
        }
    }
}

/// Computes every indicator of `period` from `facts`. An instrument or a programme appears
/// where something was counted for it (its zeros elsewhere in the tables included); one
/// nobody used is not published — its cells are unknowns the equations still hold for.
pub fn compute(
    facts: &Facts,
    period: Period,
    territories: &Territories,
    threshold: u64,
) -> Indicators {
    let mut tally = Tally::new(period, territories);
    let mut names = Names::default();
    let mut indicator_parent: BTreeMap<String, String> = BTreeMap::new();
    let mut child_of = |child: &str, parent: &str| {
        indicator_parent.insert(child.to_string(), parent.to_string());
    };
    for level in RISK_LEVELS {
        child_of(&format!("screenings_risk_{level}"), "screenings");
    }
    for kind in RECOMMENDATION_KINDS {
        child_of(&format!("recommendations_{kind}"), "recommendations");
    }
    child_of("risk_identified_supported", "risk_identified");
    child_of("risk_identified_waiting", "risk_identified");
    for band in ["0_30_days", "31_90_days", "over_90_days"] {
        child_of(
            &format!("risk_identified_supported_{band}"),
            "risk_identified_supported",
        );
    }
    for scale in ["internalising", "externalising"] {
        child_of(&format!("sdq15_{scale}_high"), &format!("sdq15_{scale}"));
        child_of(&format!("sdq15_{scale}_other"), &format!("sdq15_{scale}"));
    }

    // `period.contains`, its first and last days computed once.
    let (first_day, last_day) = (period.start(), period.end());
    let within = |on: NaiveDate| first_day <= on && on <= last_day;
    let in_period: Vec<&ResultFact> = facts
        .results
        .iter()
        .filter(|r| within(r.administered_on))
        .collect();
    // The results' own counts on a second thread, the per-child steps on this one; the
    // two tallies are merged (the same leaves, whichever thread counted them).
    let mut days_by_leaf: HashMap<(Period, String), Vec<i64>> = HashMap::new();
    let mut change_by_leaf: HashMap<(Period, String), Vec<i64>> = HashMap::new();
    let results_tally = std::thread::scope(|scope| {
        let counting = scope.spawn(|| {
            let mut own = Tally::new(period, territories);
            count_results(&mut own, facts, &in_period);
            own
        });
        // The children with an episode get a slot each (in order of their first episode),
        // for their episodes and SDQ totals. Then, in one pass over the results, each child's
        // first result, first high or urgent result and latest SDQ result at 15 in the period
        // (row and day), and the SDQ totals of the children with an episode.
        const NONE: u32 = u32::MAX;
        let children = facts
            .results
            .iter()
            .map(|r| r.child.index() + 1)
            .chain(facts.episodes.iter().map(|e| e.child.index() + 1))
            .max()
            .unwrap_or(0);
        let mut slot_of = vec![NONE; children];
        let mut with_episode = 0usize;
        for e in &facts.episodes {
            let slot = &mut slot_of[e.child.index()];
            if *slot == NONE {
                *slot = with_episode as u32;
                with_episode += 1;
            }
        }
        let mut episodes_of: Vec<Vec<&SupportFact>> = vec![Vec::new(); with_episode];
        for e in &facts.episodes {
            episodes_of[slot_of[e.child.index()] as usize].push(e);
        }
        let mut sdq_of: Vec<SdqScreenings<'_>> = vec![Vec::new(); with_episode];
        let unset = |on: NaiveDate| vec![(NONE, on); children];
        let (mut first, mut identified, mut latest_sdq) = (
            unset(NaiveDate::MAX),
            unset(NaiveDate::MAX),
            unset(NaiveDate::MIN),
        );
        for (i, r) in facts.results.iter().enumerate() {
            let c = r.child.index();
            if let Some(total) = r.sdq_total
                && let Some(list) = sdq_of.get_mut(slot_of[c] as usize)
            {
                list.push((&*r.instrument, r.administered_on, total));
            }
            let on = r.administered_on;
            if !within(on) {
                continue;
            }
            let i = i as u32;
            if on < first[c].1 {
                first[c] = (i, on);
            }
            if matches!(&*r.risk_level, "high" | "urgent") && on < identified[c].1 {
                identified[c] = (i, on);
            }
            if r.instrument.starts_with("sdq") && r.age_years == 15 && on > latest_sdq[c].1 {
                latest_sdq[c] = (i, on);
            }
        }
        // The results picked per child, with the child's number.
        let picked = |slots: Vec<(u32, NaiveDate)>| {
            slots
                .into_iter()
                .enumerate()
                .filter_map(|(c, (i, _))| Some((c, facts.results.get(i as usize)?)))
        };
        // Children screened: once, at their first result in the period.
        for (_, r) in picked(first) {
            tally.add(
                "children_screened",
                NO_INSTRUMENT,
                r.administered_on,
                r.municipality.as_deref(),
                r.age_years,
                &r.sex,
                None,
            );
        }
        // Referrals and support started, by programme.
        for (name, rows) in [
            ("referrals", &facts.referrals),
            ("support_started", &facts.episodes),
        ] {
            let prefix = format!("{name}:");
            for s in rows.iter().filter(|s| within(s.on)) {
                let m = s.municipality.as_deref();
                tally.add(name, NO_INSTRUMENT, s.on, m, s.age_years, &s.sex, None);
                let detail = names.join(&prefix, &s.programme);
                if !indicator_parent.contains_key(detail) {
                    indicator_parent.insert(detail.to_string(), name.to_string());
                }
                tally.add(detail, TOTALS_ONLY, s.on, m, s.age_years, &s.sex, None);
            }
        }
        // Time from identified risk to support.
        for (c, r) in picked(identified) {
            let on = r.administered_on;
            let days = episodes_of.get(slot_of[c] as usize).and_then(|eps| {
                eps.iter()
                    .filter_map(|e| {
                        if e.on >= on {
                            Some((e.on - on).num_days())
                        } else if e.ended_on.is_none_or(|end| end >= on) {
                            Some(0)
                        } else {
                            None
                        }
                    })
                    .min()
            });
            let m = r.municipality.as_deref();
            let add = |tally: &mut Tally<'_>, names: &[&str]| {
                tally.add_each(names, NO_INSTRUMENT, on, m, r.age_years, &r.sex, None);
            };
            match days {
                None => add(&mut tally, &["risk_identified", "risk_identified_waiting"]),
                Some(d) => {
                    let band = match d {
                        ..=30 => "0_30_days",
                        31..=90 => "31_90_days",
                        _ => "over_90_days",
                    };
                    add(
                        &mut tally,
                        &[
                            "risk_identified",
                            "risk_identified_supported",
                            &format!("risk_identified_supported_{band}"),
                        ],
                    );
                    let part = period.part_of(on).unwrap_or(period);
                    days_by_leaf
                        .entry((part, territories.leaf(m).to_string()))
                        .or_default()
                        .push(d);
                }
            }
        }
        // SDQ at 15: each child's latest SDQ result in the period.
        for (_, r) in picked(latest_sdq) {
            let high = |scales: [&str; 2]| {
                scales.iter().any(|s| {
                    matches!(
                        r.bands.get(*s).map(String::as_str),
                        Some("high" | "very_high")
                    )
                })
            };
            for (scale, subscales) in [
                ("internalising", ["emotional", "peer"]),
                ("externalising", ["conduct", "hyperactivity"]),
            ] {
                if subscales.iter().all(|s| !r.bands.contains_key(*s)) {
                    continue;
                }
                let m = r.municipality.as_deref();
                let kind = if high(subscales) { "high" } else { "other" };
                tally.add_each(
                    &[&format!("sdq15_{scale}"), &format!("sdq15_{scale}_{kind}")],
                    SEX_ONLY,
                    r.administered_on,
                    m,
                    r.age_years,
                    &r.sex,
                    None,
                );
            }
        }
        for kind in ["done_on_time", "done_late", "overdue"] {
            indicator_parent.insert(format!("follow_ups_{kind}"), "follow_ups_due".into());
        }
        // SDQ total difficulties before and after support, counted when the after screening
        // is in the period.
        for kind in ["improved", "unchanged", "worsened"] {
            indicator_parent.insert(
                format!("sdq_programme_{kind}"),
                "sdq_programme_pairs".into(),
            );
        }
        for list in &mut sdq_of {
            list.sort_unstable();
        }
        for e in &facts.episodes {
            let slot = slot_of[e.child.index()] as usize;
            let Some(pair) = sdq_of.get(slot).and_then(|list| sdq_pair(list, e)) else {
                continue;
            };
            let ((_, before), (after_on, after)) = pair;
            if !within(after_on) {
                continue;
            }
            let kind = match after.cmp(&before) {
                std::cmp::Ordering::Less => "sdq_programme_improved",
                std::cmp::Ordering::Equal => "sdq_programme_unchanged",
                std::cmp::Ordering::Greater => "sdq_programme_worsened",
            };
            let m = e.municipality.as_deref();
            for name in ["sdq_programme_pairs", kind] {
                tally.add(name, NO_INSTRUMENT, after_on, m, e.age_years, &e.sex, None);
            }
            let detail = format!("{kind}:{}", e.programme);
            indicator_parent
                .entry(detail.clone())
                .or_insert_with(|| kind.to_string());
            tally.add(&detail, TOTALS_ONLY, after_on, m, e.age_years, &e.sex, None);
            let part = period.part_of(after_on).unwrap_or(period);
            change_by_leaf
                .entry((part, territories.leaf(m).to_string()))
                .or_default()
                .push(after - before);
        }
        counting.join()
    });
    match results_tally {
        Ok(own) => tally.merge(own),
        // The thread panicked (it does not): count here instead.
        Err(_) => count_results(&mut tally, facts, &in_period),
    }
    // Every indicator is published, zeros included.
    for child in indicator_parent.keys().chain(indicator_parent.values()) {
        let b = tally.breakdowns.get(child).copied();
        let b = b.unwrap_or_else(|| breakdowns_of(child));
        tally.breakdowns.insert(child.clone(), b);
    }
    tally
        .breakdowns
        .entry("children_screened".into())
        .or_insert(NO_INSTRUMENT);

    let mut indicators = roll_up(&tally);
    indicators.codelists.insert(
        "indicator".into(),
        Codelist {
            parent: indicator_parent,
        },
    );
    indicators.derived = derive(
        &indicators.counts,
        period,
        territories,
        &[
            (
                "risk_identified_supported",
                &days_by_leaf,
                &["risk_to_support_median_days", "risk_to_support_p90_days"],
            ),
            (
                "sdq_programme_pairs",
                &change_by_leaf,
                &["sdq_programme_median_change"],
            ),
        ],
        &indicators.codelists,
        threshold,
    );
    indicators
}

/// The results' own counts: screenings by risk level, their recommendations, and the
/// follow-ups they asked for that fell due in the period (its own [`Tally`], so that it
/// can run beside the per-child steps).
fn count_results(tally: &mut Tally<'_>, facts: &Facts, in_period: &[&ResultFact]) {
    let (first_day, last_day) = (tally.period.start(), tally.period.end());
    let within = |on: NaiveDate| first_day <= on && on <= last_day;
    let mut names = Names::default();
    // Screenings, risk levels, recommendations.
    for r in in_period {
        let m = r.municipality.as_deref();
        let i = Some(&*r.instrument);
        let (on, age) = (r.administered_on, r.age_years);
        let risk = names.join("screenings_risk_", &r.risk_level);
        tally.add_each(&["screenings", risk], ALL, on, m, age, &r.sex, i);
        for kind in r.recommendation_kinds.iter() {
            let kind = names.join("recommendations_", kind);
            tally.add_each(&["recommendations", kind], ALL, on, m, age, &r.sex, i);
        }
    }
    // Follow-ups (rescreens, follow-up interviews) that fell due in the period.
    let not_yet_due = facts.as_of.unwrap_or(NaiveDate::MAX);
    for r in &facts.results {
        let asked = [r.follow_ups.rescreen, r.follow_ups.interview];
        for f in asked.into_iter().flatten() {
            if !within(f.due_on) || f.due_on >= not_yet_due {
                continue;
            }
            let month_end = Period::Month(f.due_on.year(), f.due_on.month()).end();
            let outcome = match f.done_on.filter(|d| *d <= month_end) {
                Some(done) if done <= f.due_on => "follow_ups_done_on_time",
                Some(_) => "follow_ups_done_late",
                None => "follow_ups_overdue",
            };
            let (m, i) = (r.municipality.as_deref(), Some(&*r.instrument));
            let names = ["follow_ups_due", outcome];
            tally.add_each(&names, ALL, f.due_on, m, r.age_years, &r.sex, i);
        }
    }
}

/// The tables of an indicator nothing was counted for (by its name).
fn breakdowns_of(indicator: &str) -> Breakdowns {
    if indicator.starts_with("screenings")
        || indicator.starts_with("recommendations")
        || indicator.starts_with("follow_ups")
    {
        ALL
    } else if indicator.starts_with("sdq15") {
        SEX_ONLY
    } else {
        NO_INSTRUMENT
    }
}

/// Adds every leaf to its cells up the hierarchies, and fills the tables with zeros.
fn roll_up(tally: &Tally<'_>) -> Indicators {
    let period = tally.period;
    let t = tally.territories;
    let mut leaves: BTreeSet<&str> = tally.leaves_seen.names().collect();
    leaves.insert(LATVIA);
    let atvk = t.codelist(leaves.iter().copied());
    let mut territories: Vec<String> = atvk.parent.keys().cloned().collect();
    territories.push(LATVIA.to_string());
    // Instruments with something counted (an instrument nobody used adds only zeros, and
    // an absent cell is an unknown the equations still hold for).
    let instrument_codes: BTreeSet<String> =
        tally.instruments.names().map(|n| n.to_string()).collect();
    let periods: Vec<Period> = std::iter::once(period).chain(period.parts()).collect();

    let key =
        |indicator: &str, p: Period, a: &str, band: &str, sex: &str, instrument: &str| CellKey {
            period: p.to_string(),
            atvk: a.to_string(),
            age_band: band.to_string(),
            sex: sex.to_string(),
            instrument: instrument.to_string(),
            indicator: indicator.to_string(),
        };
    let mut counts: BTreeMap<CellKey, u64> = BTreeMap::new();
    // Zeros first: every table complete.
    for (indicator, b) in &tally.breakdowns {
        for a in &territories {
            for p in &periods {
                counts.insert(key(indicator, *p, a, TOTAL, TOTAL, TOTAL), 0);
            }
            if b.age {
                for (band, _, _) in AGE_BANDS {
                    counts.insert(key(indicator, period, a, band, TOTAL, TOTAL), 0);
                }
            }
            if b.sex {
                for sex in SEXES {
                    counts.insert(key(indicator, period, a, TOTAL, sex, TOTAL), 0);
                }
            }
            if b.instrument {
                for i in &instrument_codes {
                    counts.insert(key(indicator, period, a, TOTAL, TOTAL, i), 0);
                }
            }
        }
    }
    // Each territory leaf's chain up to Latvia, as indices into `territories`.
    let index: HashMap<&str, u32> = territories
        .iter()
        .enumerate()
        .map(|(i, a)| (a.as_str(), i as u32))
        .collect();
    let chains: Vec<Vec<u32>> = tally
        .leaves_seen
        .names()
        .map(|leaf| {
            let mut chain = Vec::new();
            let mut a: Option<&str> = Some(leaf);
            while let Some(code) = a {
                if let Some(i) = index.get(code) {
                    chain.push(*i);
                }
                a = t.parent(code);
            }
            chain
        })
        .collect();
    let breakdowns: Vec<Breakdowns> = tally
        .indicators
        .names()
        .map(|name| tally.breakdowns.get(name).copied().unwrap_or(NO_INSTRUMENT))
        .collect();
    // Cells by number first (indicator, territory, then one dimension code: 0 the total,
    // 1.. a sub-period, band, sex or instrument), as strings once each.
    const PART: u8 = 1;
    const BAND: u8 = 2;
    const SEX: u8 = 3;
    const INSTRUMENT: u8 = 4;
    let mut cells: Map<(u32, u32, u8, u32), u64> = Map::default();
    for (leaf, n) in &tally.leaves {
        let indicator = (leaf >> 96) as u32;
        let territory = (leaf >> 64) as u32;
        let instrument = (leaf >> 32) as u32;
        let sex = ((leaf >> 16) & 0xFFFF) as u32;
        let part = ((leaf >> 8) & 0xFF) as u32;
        let band = (leaf & 0xFF) as u32;
        let b = breakdowns
            .get(indicator as usize)
            .copied()
            .unwrap_or(NO_INSTRUMENT);
        for &code in chains.get(territory as usize).into_iter().flatten() {
            let mut add = |dimension: u8, value: u32| {
                *cells
                    .entry((indicator, code, dimension, value))
                    .or_default() += n;
            };
            add(0, 0);
            if part != 0 {
                add(PART, part);
            }
            if b.age {
                add(BAND, band);
            }
            if b.sex {
                add(SEX, sex);
            }
            if b.instrument && instrument != 0 {
                add(INSTRUMENT, instrument - 1);
            }
        }
    }
    for ((indicator, code, dimension, value), n) in cells {
        let name = tally.indicators.name(indicator);
        let a = territories.get(code as usize).map_or("", String::as_str);
        let k = match dimension {
            PART => match tally.parts.get(value as usize - 1) {
                Some(p) => key(name, *p, a, TOTAL, TOTAL, TOTAL),
                None => continue,
            },
            BAND => {
                let band = AGE_BANDS.get(value as usize).map_or(TOTAL, |b| b.0);
                key(name, period, a, band, TOTAL, TOTAL)
            }
            SEX => key(name, period, a, TOTAL, tally.sexes.name(value), TOTAL),
            INSTRUMENT => key(name, period, a, TOTAL, TOTAL, tally.instruments.name(value)),
            _ => key(name, period, a, TOTAL, TOTAL, TOTAL),
        };
        *counts.entry(k).or_default() += n;
    }
    let mut codelists = BTreeMap::new();
    codelists.insert(
        "period".to_string(),
        Codelist {
            parent: period
                .parts()
                .iter()
                .map(|p| (p.to_string(), period.to_string()))
                .collect(),
        },
    );
    codelists.insert("atvk".to_string(), atvk);
    let total_of = |codes: Vec<String>| Codelist {
        parent: codes.into_iter().map(|c| (c, TOTAL.to_string())).collect(),
    };
    codelists.insert(
        "age_band".into(),
        total_of(AGE_BANDS.iter().map(|b| b.0.to_string()).collect()),
    );
    codelists.insert(
        "sex".into(),
        total_of(SEXES.iter().map(|s| s.to_string()).collect()),
    );
    codelists.insert(
        "instrument".into(),
        total_of(instrument_codes.into_iter().collect()),
    );
    Indicators {
        counts,
        derived: Vec::new(),
        codelists,
    }
}

/// A distribution behind median / percentile indicators: the count indicator it is
/// hidden with, its values per (sub-period, territory leaf), the names of the medians
/// (`…_median_…`) and 90th percentiles (`…_p90_days`) published from it.
type Distribution<'a> = (
    &'a str,
    &'a HashMap<(Period, String), Vec<i64>>,
    &'a [&'a str],
);

/// The decimal indicators over the period × territory table.
fn derive(
    counts: &BTreeMap<CellKey, u64>,
    period: Period,
    territories: &Territories,
    distributions: &[Distribution<'_>],
    codelists: &BTreeMap<String, Codelist>,
    threshold: u64,
) -> Vec<DerivedCell> {
    let mut out = Vec::new();
    let ratio =
        |out: &mut Vec<DerivedCell>, base: &CellKey, name: &str, parts: &[&str], of: &str| {
            let of_key = base.with_code(5, of);
            let Some(&den) = counts.get(&of_key) else {
                return;
            };
            if den == 0 {
                return;
            }
            let mut inputs = vec![of_key];
            let mut num = 0;
            for part in parts {
                let k = base.with_code(5, part);
                num += counts.get(&k).copied().unwrap_or(0);
                inputs.push(k);
            }
            out.push(DerivedCell {
                key: base.with_code(5, name),
                value: num as f64 / den as f64,
                inputs,
            });
        };
    for key in counts.keys() {
        match key.indicator.as_str() {
            "screenings" => ratio(
                &mut out,
                key,
                "share_high_or_urgent",
                &["screenings_risk_high", "screenings_risk_urgent"],
                "screenings",
            ),
            "risk_identified" => {
                ratio(
                    &mut out,
                    key,
                    "risk_supported_within_30_days_share",
                    &["risk_identified_supported_0_30_days"],
                    "risk_identified",
                );
                ratio(
                    &mut out,
                    key,
                    "risk_supported_within_90_days_share",
                    &[
                        "risk_identified_supported_0_30_days",
                        "risk_identified_supported_31_90_days",
                    ],
                    "risk_identified",
                );
            }
            "sdq15_internalising" => ratio(
                &mut out,
                key,
                "sdq15_internalising_high_share",
                &["sdq15_internalising_high"],
                "sdq15_internalising",
            ),
            "follow_ups_due" => ratio(
                &mut out,
                key,
                "follow_ups_overdue_share",
                &["follow_ups_overdue"],
                "follow_ups_due",
            ),
            "sdq15_externalising" => ratio(
                &mut out,
                key,
                "sdq15_externalising_high_share",
                &["sdq15_externalising_high"],
                "sdq15_externalising",
            ),
            _ => {}
        }
    }
    // Distributions (days from risk to support, SDQ change), per period × territory
    // (totals only), from at least `threshold` children.
    let atvk = codelists.get("atvk");
    for (count, values_by_leaf, names) in distributions {
        let mut by_cell: BTreeMap<(Period, String), Vec<i64>> = BTreeMap::new();
        for ((part, leaf), values) in *values_by_leaf {
            let mut code = Some(leaf.as_str());
            while let Some(c) = code {
                by_cell
                    .entry((period, c.to_string()))
                    .or_default()
                    .extend(values);
                if *part != period {
                    by_cell
                        .entry((*part, c.to_string()))
                        .or_default()
                        .extend(values);
                }
                code = territories.parent(c).filter(|_| atvk.is_some());
            }
        }
        for ((p, a), mut values) in by_cell {
            if (values.len() as u64) < threshold.max(1) {
                continue;
            }
            values.sort_unstable();
            let base = CellKey {
                period: p.to_string(),
                atvk: a,
                age_band: TOTAL.into(),
                sex: TOTAL.into(),
                instrument: TOTAL.into(),
                indicator: (*count).into(),
            };
            for name in *names {
                let p = if name.ends_with("_p90_days") { 90 } else { 50 };
                out.push(DerivedCell {
                    key: base.with_code(5, name),
                    value: percentile(&values, p),
                    inputs: vec![base.clone()],
                });
            }
        }
    }
    out
}

/// The SDQ total difficulties before and after an episode (`scoring::programme_outcome`'s
/// windows and rule), from the first SDQ instrument (by id) that has both for it:
/// ((day, total) before, (day, total) after).
type SdqPair = ((NaiveDate, i64), (NaiveDate, i64));

/// One child's SDQ totals, (form (instrument id), day, total) sorted: by form, then oldest
/// first.
type SdqScreenings<'a> = Vec<(&'a str, NaiveDate, i64)>;

/// The before and after totals of an episode from the first form (by id) that has both.
fn sdq_pair(screenings: &[(&str, NaiveDate, i64)], e: &SupportFact) -> Option<SdqPair> {
    screenings.chunk_by(|a, b| a.0 == b.0).find_map(|form| {
        let days: Vec<NaiveDate> = form.iter().map(|(_, d, _)| *d).collect();
        let (before, after) = before_after(&days, e.on, e.ended_on, OutcomeWindows::POLICY)?;
        let (before, after) = (form.get(before)?, form.get(after?)?);
        Some(((before.1, before.2), (after.1, after.2)))
    })
}

/// The `p`th percentile of sorted values by the nearest-rank method (the smallest value
/// with at least p % of the values at or below it); the median of an even count is the
/// mean of the two middle values.
pub fn percentile(sorted: &[i64], p: u32) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let n = sorted.len();
    if p == 50 && n.is_multiple_of(2) {
        return (sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0;
    }
    let rank = (p as usize * n).div_ceil(100).max(1);
    sorted[rank - 1] as f64
}
