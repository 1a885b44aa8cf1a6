//! A synthetic release rendered the way a publication renders it, for the checks outside
//! Rust (`tests/reports/test_dcat.py`, run by `scripts/reports-venv.sh`):
//!
//! ```text
//! report-sample --out DIR
//! ```
//!
//! writes `DIR/metadata.jsonld` (DCAT-AP 3.0.1, `ravis::statistics::dcat::catalog`) and
//! `DIR/report.html` and `DIR/report.lv.html` (`ravis::statistics::html::report`, English and
//! Latvian). The release is made up: the year 2026 with its quarters, three regions of three
//! municipalities each, small counts flagged `A` and a sibling of each flagged `C`, as the
//! suppression would.

use ravis::statistics::dcat::{METADATA_FILE, Publication, catalog};
use ravis::statistics::html::{Focus, Lang, report};
use ravis::statistics::{
    CellKey, Codelist, ConfStatus, Dataset, Release, Row, TOTAL, TerritoryLevel, Value,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

const THRESHOLD: u64 = 3;

fn row(period: &str, atvk: &str, level: TerritoryLevel, indicator: &str, count: u64) -> Row {
    let hidden = (1..THRESHOLD).contains(&count);
    Row {
        key: CellKey {
            period: period.into(),
            atvk: atvk.into(),
            age_band: TOTAL.into(),
            sex: TOTAL.into(),
            instrument: TOTAL.into(),
            indicator: indicator.into(),
        },
        territory_level: level,
        value: (!hidden).then_some(Value::Count(count)),
        conf_status: if hidden { ConfStatus::A } else { ConfStatus::F },
    }
}

/// A municipality's count in a period: made up, with a few below the threshold (and one
/// municipality with a single child in the year, and true zeros in its other quarters).
fn count(region: u64, municipality: u64, quarter: u64) -> u64 {
    if (region, municipality) == (1, 2) {
        return u64::from(quarter == 1);
    }
    if (region + municipality + quarter).is_multiple_of(7) {
        1 + (region + quarter) % 2
    } else {
        5 + (region * 13 + municipality * 7 + quarter * 3) % 40
    }
}

fn release() -> Release {
    let mut parent = BTreeMap::new();
    let mut rows = Vec::new();
    let periods = ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"];
    let mut country = [0u64; 5];
    for region in 1..=3u64 {
        let region_code = format!("{region:02}00000");
        parent.insert(region_code.clone(), "LV".to_string());
        let mut region_total = [0u64; 5];
        for municipality in 1..=3u64 {
            let code = format!("{region:02}{municipality:02}000");
            parent.insert(code.clone(), region_code.clone());
            let mut year = 0;
            let mut first_hidden: Option<usize> = None;
            for (q, period) in periods.iter().enumerate() {
                let n = count(region, municipality, q as u64 + 1);
                year += n;
                region_total[q] += n;
                let r = row(
                    period,
                    &code,
                    TerritoryLevel::Municipality,
                    "children_screened",
                    n,
                );
                if r.conf_status == ConfStatus::A && first_hidden.is_none() {
                    first_hidden = Some(rows.len());
                }
                rows.push(r);
            }
            // A hidden quarter could be recovered from the year and the other quarters:
            // hide the year too (secondary suppression).
            let mut year_row = row(
                "2026",
                &code,
                TerritoryLevel::Municipality,
                "children_screened",
                year,
            );
            if first_hidden.is_some() && year_row.conf_status == ConfStatus::F {
                year_row.value = None;
                year_row.conf_status = ConfStatus::C;
            }
            rows.push(year_row);
            region_total[4] += year;
        }
        for (q, period) in periods.iter().chain(["2026"].iter()).enumerate() {
            rows.push(row(
                period,
                &region_code,
                TerritoryLevel::Region,
                "children_screened",
                region_total[q],
            ));
            country[q] += region_total[q];
        }
    }
    for (q, period) in periods.iter().chain(["2026"].iter()).enumerate() {
        rows.push(row(
            period,
            "LV",
            TerritoryLevel::Country,
            "children_screened",
            country[q],
        ));
    }
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    let mut codelists = BTreeMap::new();
    codelists.insert("atvk".to_string(), Codelist { parent });
    Release {
        period: "2026".into(),
        atvk_version: "2024-07-01".into(),
        threshold: THRESHOLD,
        generated_at: "2027-01-15T06:00:00Z".into(),
        datasets: vec![
            Dataset {
                id: "screening".into(),
                title_lv: "Bērnu attīstības skrīningi".into(),
                title_en: "Child development screenings".into(),
                description_lv: "Skrīningos novērtēto bērnu skaits pa teritorijām un ceturkšņiem."
                    .into(),
                description_en: "Children screened, by territory and quarter.".into(),
                rows,
            },
            Dataset {
                id: "referrals".into(),
                title_lv: "Nosūtījumi <pie speciālistiem>".into(),
                title_en: "Referrals <to specialists> & follow-up".into(),
                description_lv: "Nosūtījumu skaits.".into(),
                description_en: "Number of referrals.".into(),
                rows: Vec::new(),
            },
        ],
        codelists,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = match (args.next().as_deref(), args.next(), args.next()) {
        (Some("--out"), Some(dir), None) => PathBuf::from(dir),
        _ => return Err("usage: report-sample --out DIR".into()),
    };
    std::fs::create_dir_all(&out)?;
    let release = release();
    let publication = Publication {
        base_url: "https://data.example.lv/ravis/2026/".into(),
        publisher_name: "RAVIS (synthetic sample)".into(),
        contact_email: "opendata@example.lv".into(),
        catalog_title_lv: "RAVIS atvērtie dati".into(),
        catalog_title_en: "RAVIS open data".into(),
        catalog_description_lv: "Bērnu attīstības skrīninga statistika (sintētisks paraugs)."
            .into(),
        catalog_description_en: "Child development screening statistics (synthetic sample).".into(),
    };
    let metadata = catalog(&release, &publication, &BTreeMap::new())?;
    std::fs::write(
        out.join(METADATA_FILE),
        serde_json::to_vec_pretty(&metadata)?,
    )?;
    let focus = Focus {
        indicator: "children_screened".into(),
        region: Some("0100000".into()),
    };
    let targets = vec![
        ("Dzirdes skrīnings <0-1>".to_string(), 1200, Some(950)),
        ("Redzes skrīnings".to_string(), 800, None),
    ];
    std::fs::write(
        out.join("report.html"),
        report(&release, Lang::En, &focus, &targets),
    )?;
    let regions = Focus {
        region: None,
        ..focus
    };
    std::fs::write(
        out.join("report.lv.html"),
        report(&release, Lang::Lv, &regions, &targets),
    )?;
    println!(
        "report-sample: wrote {METADATA_FILE}, report.html, report.lv.html to {}",
        out.display()
    );
    Ok(())
}
