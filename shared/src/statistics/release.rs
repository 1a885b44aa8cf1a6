//! The tidy cell of a release and its dimensions.
//!
//! Every published figure is one [`Cell`]: its coordinates on the release's dimensions
//! ([`DIMENSIONS`], each with a hierarchy of codes, a [`Codelist`]), an indicator and a value.
//! Counts add up along every hierarchy (a municipality's count is the sum of nothing
//! published below it, a region's is the sum of its municipalities', `total` of an age band
//! is the sum of the bands), which is what disclosure control has to respect.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The dimensions of every release, in column order (after them come `indicator`, `value`,
/// `conf_status`).
pub const DIMENSIONS: [&str; 5] = ["period", "atvk", "age_band", "sex", "instrument"];

/// The code of "all values" in the `age_band`, `sex` and `instrument` dimensions.
pub const TOTAL: &str = "total";

/// SDMX `CONF_STATUS` of a published value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConfStatus {
    /// Free: the value is published.
    F,
    /// Primary suppression: a count of 1 up to the threshold (exclusive); value empty.
    A,
    /// Secondary (complementary) suppression: hidden so that no primary cell can be
    /// recovered; value empty.
    C,
}

/// Where a cell sits on the dimensions: one code per entry of [`DIMENSIONS`] plus the
/// indicator.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CellKey {
    /// `2026`, `2026-Q1` or `2026-01`.
    pub period: String,
    /// 7-character ATVK code of the territory, or `LV` for Latvia.
    pub atvk: String,
    /// `0-1`, `1-3`, `3-7`, `7-11`, `11-15`, `15-18` (lower bound inclusive, upper exclusive,
    /// in years), or `total`.
    pub age_band: String,
    /// `male`, `female`, `unknown` or `total`.
    pub sex: String,
    /// Instrument id or `total`.
    pub instrument: String,
    /// Indicator id (`children_screened`, `screenings_risk_high`, …).
    pub indicator: String,
}

impl CellKey {
    /// The code on dimension `i` of [`DIMENSIONS`] (`4` is the instrument; `5` the indicator).
    pub fn code(&self, i: usize) -> &str {
        match i {
            0 => &self.period,
            1 => &self.atvk,
            2 => &self.age_band,
            3 => &self.sex,
            4 => &self.instrument,
            _ => &self.indicator,
        }
    }

    /// The same key with the code on dimension `i` (as in [`CellKey::code`]) replaced.
    pub fn with_code(&self, i: usize, code: &str) -> CellKey {
        let mut key = self.clone();
        let slot = match i {
            0 => &mut key.period,
            1 => &mut key.atvk,
            2 => &mut key.age_band,
            3 => &mut key.sex,
            4 => &mut key.instrument,
            _ => &mut key.indicator,
        };
        *slot = code.to_string();
        key
    }
}

/// A hierarchy of codes on one dimension: each code's parent (roots have none). A parent's
/// count is the sum of its children's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Codelist {
    /// Code → its parent code.
    pub parent: BTreeMap<String, String>,
}

impl Codelist {
    /// The children of `code`, in code order.
    pub fn children(&self, code: &str) -> Vec<&str> {
        self.parent
            .iter()
            .filter(|(_, p)| p.as_str() == code)
            .map(|(c, _)| c.as_str())
            .collect()
    }
}

/// The level of a territory in a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerritoryLevel {
    /// A state city or municipality (novads).
    Municipality,
    /// A statistical region.
    Region,
    /// Latvia (`LV`).
    Country,
    /// Children whose municipality is not known (`unassigned`, a child of Latvia).
    Unassigned,
}

impl TerritoryLevel {
    /// The CSV name.
    pub fn as_str(self) -> &'static str {
        match self {
            TerritoryLevel::Municipality => "municipality",
            TerritoryLevel::Region => "region",
            TerritoryLevel::Country => "country",
            TerritoryLevel::Unassigned => "unassigned",
        }
    }
}

/// A published value: a count, or a decimal (a share, a median number of days, a mean
/// change of a score).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// A number of children, screenings, episodes, specialists.
    Count(u64),
    /// A share (0–1), a number of days, a change of a score.
    Decimal(f64),
}

impl std::fmt::Display for Value {
    /// Counts as integers; decimals with at most four decimal places, trailing zeros cut.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Count(n) => write!(f, "{n}"),
            Value::Decimal(x) => {
                let text = format!("{x:.4}");
                let text = text.trim_end_matches('0').trim_end_matches('.');
                f.write_str(if text == "-0" { "0" } else { text })
            }
        }
    }
}

/// One published row of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Coordinates and indicator.
    pub key: CellKey,
    /// The level of `key.atvk`.
    pub territory_level: TerritoryLevel,
    /// The value; `None` when suppressed.
    pub value: Option<Value>,
    /// Confidentiality status.
    pub conf_status: ConfStatus,
}

/// One dataset of a release (one CSV file): a theme's indicators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// File stem and identifier, e.g. `screening`.
    pub id: String,
    /// Title in Latvian.
    pub title_lv: String,
    /// Title in English.
    pub title_en: String,
    /// Description in Latvian.
    pub description_lv: String,
    /// Description in English.
    pub description_en: String,
    /// Rows, in key order.
    pub rows: Vec<Row>,
}

/// A release: every dataset of one period, with what it was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// The period released: `2026`, `2026-Q1` or `2026-01`.
    pub period: String,
    /// Version of the ATVK classifier the territories are coded in.
    pub atvk_version: String,
    /// The suppression threshold used (counts from 1 up to it, exclusive, are hidden).
    pub threshold: u64,
    /// When it was made (RFC 3339).
    pub generated_at: String,
    /// The datasets.
    pub datasets: Vec<Dataset>,
    /// The hierarchies of the dimensions (dimension name → codelist), published with it.
    pub codelists: BTreeMap<String, Codelist>,
}
