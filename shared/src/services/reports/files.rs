//! The files of a report and of an open-data release besides the tidy CSVs
//! (`statistics::open_data`): the HTML report, the targets table, the codelists and the
//! DCAT-AP metadata; a municipality's cut of a release; and an earlier release's published
//! counts read back (disclosure control treats them as known).

use crate::statistics::html::{self, Focus, Lang};
use crate::statistics::indicators;
use crate::statistics::release::{CellKey, Release, Value};
use crate::statistics::territory::Territories;

/// The HTML report of a release in a language, charting children screened.
pub(super) fn render_html(release: &Release, lang: &str, targets: &[Target]) -> String {
    let lang = Lang::parse(lang).unwrap_or(Lang::En);
    let focus = Focus {
        indicator: "children_screened".into(),
        region: None,
    };
    let targets: Vec<html::Target> = targets
        .iter()
        .map(|t| (t.label.clone(), t.target, t.actual))
        .collect();
    html::report(release, lang, &focus, &targets)
}

/// A target and what was reached (none when hidden by disclosure control).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Indicator id.
    pub what: String,
    /// Name.
    pub label: String,
    /// The target for the period (annual targets scaled to a quarter or a month).
    pub target: u64,
    /// Reached.
    pub actual: Option<u64>,
}

pub(super) fn targets_csv(targets: &[Target]) -> Vec<u8> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let _ = out.write_record(["indicator", "name", "target", "actual"]);
    for t in targets {
        let actual = t.actual.map(|a| a.to_string()).unwrap_or_default();
        let _ = out.write_record([
            t.what.as_str(),
            t.label.as_str(),
            &t.target.to_string(),
            &actual,
        ]);
    }
    out.into_inner().unwrap_or_default()
}

/// A municipality's cut of a release: rows of the municipality, its region and Latvia.
pub fn scope(release: &Release, municipality: &str, territories: &Territories) -> Release {
    let mut keep = vec![municipality.to_string()];
    let mut code = municipality.to_string();
    while let Some(up) = territories.parent(&code) {
        keep.push(up.to_string());
        code = up.to_string();
    }
    let mut out = release.clone();
    for d in &mut out.datasets {
        d.rows.retain(|r| keep.contains(&r.key.atvk));
    }
    if let Some(atvk) = out.codelists.get_mut("atvk") {
        atvk.parent.retain(|c, _| keep.contains(c));
    }
    out
}

/// The codelists of a release as published: each dimension's code → parent, and the
/// indicators that are decimals (not counts under disclosure control).
pub fn codelists_json(release: &Release) -> Vec<u8> {
    let mut v = serde_json::Map::new();
    for (dim, list) in &release.codelists {
        v.insert(
            dim.clone(),
            serde_json::to_value(&list.parent).unwrap_or_default(),
        );
    }
    let mut decimals: Vec<&str> = release
        .datasets
        .iter()
        .flat_map(|d| &d.rows)
        .filter(|r| {
            matches!(r.value, Some(Value::Decimal(_)))
                || (r.value.is_none() && indicators::is_decimal(&r.key.indicator))
        })
        .map(|r| r.key.indicator.as_str())
        .collect();
    decimals.sort_unstable();
    decimals.dedup();
    v.insert("decimal_indicators".into(), serde_json::json!(decimals));
    v.insert("threshold".into(), serde_json::json!(release.threshold));
    v.insert(
        "atvk_version".into(),
        serde_json::json!(release.atvk_version),
    );
    serde_json::to_vec_pretty(&serde_json::Value::Object(v)).unwrap_or_default()
}

/// Why a release CSV's counts cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CountsError {
    /// Not a readable CSV.
    #[error(transparent)]
    Csv(#[from] csv::Error),
    /// A count shown (`F`) that is not a whole number, on this line of the file.
    #[error("line {0}: a free count is not a whole number")]
    FreeCount(usize),
}

/// The published counts of a release CSV: key and value (`None` when hidden).
pub fn published_counts(
    bytes: &[u8],
    decimals: &[String],
) -> Result<Vec<(CellKey, Option<u64>)>, CountsError> {
    let mut reader = csv::Reader::from_reader(bytes);
    let mut out = Vec::new();
    for row in reader.records() {
        let row = row?;
        let get = |i: usize| row.get(i).unwrap_or("").to_string();
        let key = CellKey {
            period: get(0),
            atvk: get(1),
            age_band: get(3),
            sex: get(4),
            instrument: get(5),
            indicator: get(6),
        };
        if decimals.contains(&key.indicator) || indicators::is_decimal(&key.indicator) {
            continue;
        }
        let value = match row.get(8) {
            Some("F") => Some(
                get(7)
                    .parse::<u64>()
                    .map_err(|_| CountsError::FreeCount(out.len() + 2))?,
            ),
            _ => None,
        };
        out.push((key, value));
    }
    Ok(out)
}
