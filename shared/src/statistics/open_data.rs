//! An open-data release: the indicators after disclosure control, one tidy CSV per dataset
//! (`docs/REPORTS.md`, "Open data").
//!
//! Columns: `period, atvk, territory_level, age_band, sex, instrument, indicator, value,
//! conf_status` (SDMX `CONF_STATUS`: `F` free, `A` primary, `C` secondary suppression; a
//! hidden value is empty). A decimal indicator is hidden (`C`) when any count it is computed
//! from is hidden.

use super::indicators::Indicators;
use super::release::{CellKey, ConfStatus, Dataset, Release, Row, Value};
use super::territory::Territories;
use std::collections::BTreeMap;

/// The CSV header of every dataset.
pub const CSV_HEADER: [&str; 9] = [
    "period",
    "atvk",
    "territory_level",
    "age_band",
    "sex",
    "instrument",
    "indicator",
    "value",
    "conf_status",
];

/// A dataset's id, Latvian and English titles and descriptions, and the prefixes of the
/// indicators it holds.
type DatasetSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

/// The datasets of a release.
const DATASETS: [DatasetSpec; 3] = [
    (
        "screening",
        "Bērnu attīstības skrīnings",
        "Screening of children's development",
        "Skrīningā pārbaudītie bērni, skrīningi pēc riska līmeņa, ieteikumi pēc veida un termiņā, ar nokavējumu vai vēl neveiktie atkārtotie skrīningi un papildu intervijas, pa teritorijām, vecuma grupām, dzimuma un instrumenta.",
        "Children screened, screenings by risk level, recommendations by kind, and rescreens and follow-up interviews done on time, done late or overdue, by territory, age band, sex and instrument.",
        &[
            "children_screened",
            "screenings",
            "share_high_or_urgent",
            "recommendations",
            "follow_ups",
        ],
    ),
    (
        "support",
        "Atbalsts bērniem ar attīstības risku",
        "Support for children at developmental risk",
        "Nosūtījumi un uzsāktais atbalsts pēc programmas, laiks no konstatēta riska līdz atbalsta sākumam, bērni, kas vēl gaida, un SDQ kopējo grūtību rādītāja izmaiņas starp skrīningiem pirms un pēc programmas.",
        "Referrals and support started by programme, time from an identified risk to the start of support, children still waiting, and the change in the SDQ total difficulties score between screenings before and after a programme.",
        &["referrals", "support_started", "risk_", "sdq_programme"],
    ),
    (
        "sdq15",
        "15 gadus vecu bērnu emocionālās un uzvedības grūtības (SDQ)",
        "Emotional and behavioural difficulties of 15-year-olds (SDQ)",
        "15 gadus vecu bērnu daļa ar augstu internalizētu un eksternalizētu grūtību līmeni pēc SDQ.",
        "Share of 15-year-olds with high internalising and externalising difficulties on the SDQ.",
        &["sdq15"],
    ),
];

/// Builds the release from the indicators and the status of every count cell (cells with no
/// status are published). `generated_at` is RFC 3339.
pub fn assemble(
    indicators: &Indicators,
    statuses: &BTreeMap<CellKey, ConfStatus>,
    territories: &Territories,
    period: &str,
    threshold: u64,
    generated_at: &str,
) -> Release {
    let status = |k: &CellKey| statuses.get(k).copied().unwrap_or(ConfStatus::F);
    let mut rows: Vec<Row> = Vec::with_capacity(indicators.counts.len() + indicators.derived.len());
    for (key, &n) in &indicators.counts {
        let s = status(key);
        rows.push(Row {
            key: key.clone(),
            territory_level: territories.level(&key.atvk),
            value: (s == ConfStatus::F).then_some(Value::Count(n)),
            conf_status: s,
        });
    }
    for d in &indicators.derived {
        let hidden = d.inputs.iter().any(|k| status(k) != ConfStatus::F);
        rows.push(Row {
            key: d.key.clone(),
            territory_level: territories.level(&d.key.atvk),
            value: (!hidden).then_some(Value::Decimal(d.value)),
            conf_status: if hidden { ConfStatus::C } else { ConfStatus::F },
        });
    }
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    let mut datasets: Vec<Dataset> = DATASETS
        .iter()
        .map(|(id, tlv, ten, dlv, den, _)| Dataset {
            id: id.to_string(),
            title_lv: tlv.to_string(),
            title_en: ten.to_string(),
            description_lv: dlv.to_string(),
            description_en: den.to_string(),
            rows: Vec::new(),
        })
        .collect();
    for row in rows {
        let at = DATASETS
            .iter()
            .position(|d| d.5.iter().any(|p| row.key.indicator.starts_with(p)));
        if let Some(i) = at {
            datasets[i].rows.push(row);
        }
    }
    Release {
        period: period.to_string(),
        atvk_version: territories.version.clone(),
        threshold,
        generated_at: generated_at.to_string(),
        datasets,
        codelists: indicators.codelists.clone(),
    }
}

/// One dataset as CSV (UTF-8, comma-separated, `\n` line ends, header first).
pub fn to_csv(dataset: &Dataset) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    out.write_record(CSV_HEADER)?;
    for row in &dataset.rows {
        let k = &row.key;
        let value = row.value.map(|v| v.to_string()).unwrap_or_default();
        let status = match row.conf_status {
            ConfStatus::F => "F",
            ConfStatus::A => "A",
            ConfStatus::C => "C",
        };
        out.write_record([
            k.period.as_str(),
            k.atvk.as_str(),
            row.territory_level.as_str(),
            k.age_band.as_str(),
            k.sex.as_str(),
            k.instrument.as_str(),
            k.indicator.as_str(),
            value.as_str(),
            status,
        ])?;
    }
    out.into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}
