//! A release as a self-contained HTML report for people, in Latvian or English.
//!
//! One page, no script, nothing fetched: the charts are inline SVG (`svg.rs`), the look is one
//! `<style>` block whose SHA-256 the page's own Content-Security-Policy (`default-src 'none'`)
//! names, so the page works under a strict CSP and opened from a disk. It shows the period,
//! the ATVK version, the suppression threshold, the datasets, and three charts, each with its
//! data table beside it:
//!
//! 1. an indicator by territory: the municipalities of a region, or the regions;
//! 2. the same indicator over periods (a year release carries its quarters or months too),
//!    for that region or Latvia;
//! 3. programme targets against what was done.
//!
//! A suppressed cell (`conf_status` A or C) is a labelled gap, never a bar of zero.

use super::dcat::period_range;
use super::release::{ConfStatus, Release, Row, TOTAL, TerritoryLevel};
use super::svg::{self, Caption, Point};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write;

pub use super::svg::escape;

/// The language of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Latvian.
    Lv,
    /// English.
    En,
}

impl Lang {
    /// `lv` or `en`; anything else is `None`.
    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "lv" => Some(Lang::Lv),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Lang::Lv => "lv",
            Lang::En => "en",
        }
    }

    fn pick(self, lv: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Lv => lv,
            Lang::En => en,
        }
    }
}

/// What the territory and trend charts show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Focus {
    /// The indicator id (`children_screened`).
    pub indicator: String,
    /// The ATVK code of a region: chart its municipalities (by the release's `atvk`
    /// codelist) and its trend. `None`: chart the regions, and the trend of Latvia.
    pub region: Option<String>,
}

/// A programme's annual target and what was done (`None`: not known yet).
pub type Target = (String, u64, Option<u64>);

/// The style of the page; its hash goes into the CSP.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#1b1b1b}\
figure{margin:2rem 0}table{border-collapse:collapse;margin-top:.5rem}\
th,td{border:1px solid #999;padding:.2rem .6rem;text-align:left}td.num{text-align:right}\
svg text{font-size:12px;fill:#1b1b1b}.bar{fill:#2b6cb0}.bar.target,.legend.target{fill:#a0aec0}\
.bar.actual,.legend.actual{fill:#2b6cb0}.gap{fill:#9b2c2c;font-style:italic}\
.missing{fill:#555;font-style:italic}.axis{stroke:#333}.line{fill:none;stroke:#2b6cb0;stroke-width:2}\
.point{fill:#2b6cb0}.note{color:#444}";

/// The text a hidden cell is shown with.
fn hidden_text(lang: Lang, status: ConfStatus, threshold: u64) -> String {
    match (status, lang) {
        (ConfStatus::A, Lang::Lv) => format!("slēpts (mazāk nekā {threshold})"),
        (ConfStatus::A, Lang::En) => format!("hidden (fewer than {threshold})"),
        (_, Lang::Lv) => "slēpts (aizsargā mazu skaitu)".into(),
        (_, Lang::En) => "hidden (protects a small count)".into(),
    }
}

fn point(lang: Lang, row: Option<&Row>, threshold: u64) -> Point {
    match row {
        Some(Row {
            value: Some(v),
            conf_status: ConfStatus::F,
            ..
        }) => {
            let number = match v {
                super::release::Value::Count(n) => *n as f64,
                super::release::Value::Decimal(x) => *x,
            };
            if number.is_finite() {
                Point::Shown(number, v.to_string())
            } else {
                Point::Missing(lang.pick("nav datu", "no data").into())
            }
        }
        Some(row) => Point::Hidden(hidden_text(lang, hidden_status(row), threshold)),
        None => Point::Missing(lang.pick("nav datu", "no data").into()),
    }
}

/// A row without a value is hidden even if its flag says free; it is shown as primary only
/// when flagged so.
fn hidden_status(row: &Row) -> ConfStatus {
    match row.conf_status {
        ConfStatus::A => ConfStatus::A,
        _ => ConfStatus::C,
    }
}

fn is_total(row: &Row) -> bool {
    row.key.age_band == TOTAL && row.key.sex == TOTAL && row.key.instrument == TOTAL
}

/// The rows of `indicator` on the totals of age, sex and instrument, by (period, atvk).
fn totals<'a>(release: &'a Release, indicator: &str) -> BTreeMap<(&'a str, &'a str), &'a Row> {
    release
        .datasets
        .iter()
        .flat_map(|d| &d.rows)
        .filter(|r| r.key.indicator == indicator && is_total(r))
        .map(|r| ((r.key.period.as_str(), r.key.atvk.as_str()), r))
        .collect()
}

/// The territories of the first chart, in code order.
fn territories(release: &Release, focus: &Focus) -> Vec<String> {
    match &focus.region {
        Some(region) => release
            .codelists
            .get("atvk")
            .map(|c| c.children(region).into_iter().map(str::to_string).collect())
            .unwrap_or_default(),
        None => {
            let mut regions: Vec<String> = release
                .datasets
                .iter()
                .flat_map(|d| &d.rows)
                .filter(|r| r.territory_level == TerritoryLevel::Region)
                .map(|r| r.key.atvk.clone())
                .collect();
            regions.sort();
            regions.dedup();
            regions
        }
    }
}

/// The periods of the trend: of the kinds of period present (year, quarter, month), the one
/// with the most periods (the finer on a tie), in time order.
fn trend_periods<'a>(rows: &BTreeMap<(&'a str, &'a str), &'a Row>, atvk: &str) -> Vec<&'a str> {
    let mut by_kind: BTreeMap<usize, Vec<(chrono::NaiveDate, &'a str)>> = BTreeMap::new();
    for &(period, territory) in rows.keys() {
        if territory != atvk {
            continue;
        }
        if let Some((start, end)) = period_range(period) {
            let days = (end - start).num_days();
            let kind = if days > 300 {
                0
            } else if days > 40 {
                1
            } else {
                2
            };
            by_kind.entry(kind).or_default().push((start, period));
        }
    }
    let best = by_kind
        .into_iter()
        .max_by_key(|(kind, periods)| (periods.len(), *kind));
    let mut periods = best.map(|(_, p)| p).unwrap_or_default();
    periods.sort();
    periods.into_iter().map(|(_, p)| p).collect()
}

fn table(out: &mut String, caption: &str, head: &[&str], rows: &[Vec<(String, bool)>]) {
    let _ = write!(
        out,
        "<table><caption>{}</caption><thead><tr>",
        escape(caption)
    );
    for h in head {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for (i, (cell, numeric)) in row.iter().enumerate() {
            let tag = if i == 0 {
                "th scope=\"row\""
            } else if *numeric {
                "td class=\"num\""
            } else {
                "td"
            };
            let close = if i == 0 { "th" } else { "td" };
            let _ = write!(out, "<{tag}>{}</{close}>", escape(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

fn status_text(lang: Lang, point: &Point) -> String {
    match point {
        Point::Shown(..) => lang.pick("publicēts", "published").into(),
        Point::Hidden(_) => lang.pick("slēpts", "hidden").into(),
        Point::Missing(_) => lang.pick("nav datu", "no data").into(),
    }
}

/// The `Content-Security-Policy` of the page: nothing but its own style block.
pub fn content_security_policy() -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!("default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'")
}

/// The report of `release` in `lang`, charting `focus` and the programme `targets`.
pub fn report(release: &Release, lang: Lang, focus: &Focus, targets: &[Target]) -> String {
    let title = lang.pick(
        "Bērnu attīstības skrīninga statistika",
        "Child development screening statistics",
    );
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} — {}</title><style>{STYLE}</style></head><body><main><h1>{}</h1><dl>",
        lang.code(),
        escape(&content_security_policy()),
        escape(title),
        escape(&release.period),
        escape(title),
    );
    let facts = [
        (lang.pick("Periods", "Period"), release.period.clone()),
        (
            lang.pick("ATVK versija", "ATVK version"),
            release.atvk_version.clone(),
        ),
        (
            lang.pick("Sagatavots", "Generated"),
            release.generated_at.clone(),
        ),
    ];
    for (name, value) in facts {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", escape(name), escape(&value));
    }
    out.push_str("</dl>");
    let note = match lang {
        Lang::Lv => format!(
            "Skaiti no 1 līdz {} netiek publicēti (slieksnis {}); vēl citas šūnas ir slēptas, lai slēptos skaitus nevarētu atrēķināt no kopsummām. Slēpta šūna grafikā ir tukša vieta ar paskaidrojumu, nevis nulle.",
            release.threshold.saturating_sub(1),
            release.threshold
        ),
        Lang::En => format!(
            "Counts from 1 to {} are not published (threshold {}); further cells are hidden so that no hidden count can be recovered from the totals. A hidden cell is an empty place with its reason in the charts, never a zero.",
            release.threshold.saturating_sub(1),
            release.threshold
        ),
    };
    let _ = write!(out, "<p class=\"note\">{}</p>", escape(&note));
    let _ = write!(
        out,
        "<h2>{}</h2><ul>",
        escape(lang.pick("Datu kopas", "Datasets"))
    );
    for d in &release.datasets {
        let (name, text) = match lang {
            Lang::Lv => (&d.title_lv, &d.description_lv),
            Lang::En => (&d.title_en, &d.description_en),
        };
        let _ = write!(
            out,
            "<li><strong>{}</strong> ({}.csv): {}</li>",
            escape(name),
            escape(&d.id),
            escape(text)
        );
    }
    out.push_str("</ul>");
    let rows = totals(release, &focus.indicator);
    by_territory(&mut out, release, lang, focus, &rows);
    trend(&mut out, release, lang, focus, &rows);
    against_targets(&mut out, lang, targets);
    out.push_str("</main></body></html>\n");
    out
}

fn by_territory(
    out: &mut String,
    release: &Release,
    lang: Lang,
    focus: &Focus,
    rows: &BTreeMap<(&str, &str), &Row>,
) {
    let bars: Vec<(String, String, Point)> = territories(release, focus)
        .into_iter()
        .map(|code| {
            let row = rows.get(&(release.period.as_str(), code.as_str())).copied();
            let p = point(lang, row, release.threshold);
            (code.clone(), code, p)
        })
        .collect();
    let title = match (&focus.region, lang) {
        (Some(r), Lang::Lv) => format!(
            "{}: reģiona {r} pašvaldības, {}",
            focus.indicator, release.period
        ),
        (Some(r), Lang::En) => format!(
            "{}: municipalities of region {r}, {}",
            focus.indicator, release.period
        ),
        (None, Lang::Lv) => format!("{}: reģioni, {}", focus.indicator, release.period),
        (None, Lang::En) => format!("{}: regions, {}", focus.indicator, release.period),
    };
    let hidden = bars
        .iter()
        .filter(|(_, _, p)| matches!(p, Point::Hidden(_)))
        .count();
    let desc = match lang {
        Lang::Lv => format!(
            "Joslu diagramma: {} teritorijas, no tām {hidden} slēptas (tukša vieta, nevis nulle).",
            bars.len()
        ),
        Lang::En => format!(
            "Bar chart: {} territories, {hidden} of them hidden (an empty place, not zero).",
            bars.len()
        ),
    };
    figure(out, &title, || {
        svg::bars(
            &Caption {
                id: "by-territory",
                title: &title,
                desc: &desc,
            },
            &bars,
        )
    });
    let head = [
        lang.pick("Teritorija (ATVK)", "Territory (ATVK)"),
        lang.pick("Vērtība", "Value"),
        lang.pick("Statuss", "Status"),
    ];
    let table_rows: Vec<Vec<(String, bool)>> = bars
        .iter()
        .map(|(code, _, p)| {
            vec![
                (code.clone(), false),
                (p.text().to_string(), true),
                (status_text(lang, p), false),
            ]
        })
        .collect();
    table(out, &title, &head, &table_rows);
    out.push_str("</figure>");
}

fn figure(out: &mut String, heading: &str, chart: impl FnOnce() -> String) {
    let _ = write!(out, "<figure><h2>{}</h2>", escape(heading));
    out.push_str(&chart());
}

fn trend(
    out: &mut String,
    release: &Release,
    lang: Lang,
    focus: &Focus,
    rows: &BTreeMap<(&str, &str), &Row>,
) {
    let atvk = focus.region.as_deref().unwrap_or("LV");
    let points: Vec<(String, Point)> = trend_periods(rows, atvk)
        .into_iter()
        .map(|period| {
            let p = point(lang, rows.get(&(period, atvk)).copied(), release.threshold);
            (period.to_string(), p)
        })
        .collect();
    let title = match lang {
        Lang::Lv => format!("{}: dinamika, {atvk}", focus.indicator),
        Lang::En => format!("{}: over time, {atvk}", focus.indicator),
    };
    let hidden = points
        .iter()
        .filter(|(_, p)| !matches!(p, Point::Shown(..)))
        .count();
    let desc = match lang {
        Lang::Lv => format!(
            "Līnijas diagramma: {} periodi; līnija pārtraukta {hidden} slēptos vai trūkstošos periodos.",
            points.len()
        ),
        Lang::En => format!(
            "Line chart: {} periods; the line is broken at {hidden} hidden or missing periods.",
            points.len()
        ),
    };
    figure(out, &title, || {
        svg::line(
            &Caption {
                id: "trend",
                title: &title,
                desc: &desc,
            },
            &points,
        )
    });
    let head = [
        lang.pick("Periods", "Period"),
        lang.pick("Vērtība", "Value"),
        lang.pick("Statuss", "Status"),
    ];
    let table_rows: Vec<Vec<(String, bool)>> = points
        .iter()
        .map(|(period, p)| {
            vec![
                (period.clone(), false),
                (p.text().to_string(), true),
                (status_text(lang, p), false),
            ]
        })
        .collect();
    table(out, &title, &head, &table_rows);
    out.push_str("</figure>");
}

fn against_targets(out: &mut String, lang: Lang, targets: &[Target]) {
    let no_data = lang.pick("nav datu", "no data");
    let rows: Vec<(String, String, Point, Point)> = targets
        .iter()
        .enumerate()
        .map(|(i, (name, target, actual))| {
            let target = Point::Shown(*target as f64, target.to_string());
            let actual = match actual {
                Some(n) => Point::Shown(*n as f64, n.to_string()),
                None => Point::Missing(no_data.into()),
            };
            (format!("programme-{i}"), name.clone(), target, actual)
        })
        .collect();
    let title = lang
        .pick("Programmu mērķi un izpilde", "Programme targets and actual")
        .to_string();
    let names = (
        lang.pick("Gada mērķis", "Annual target"),
        lang.pick("Izpilde", "Actual"),
    );
    let desc = match lang {
        Lang::Lv => format!(
            "Joslu pāri: {} programmām gada mērķis un izpilde.",
            rows.len()
        ),
        Lang::En => format!(
            "Paired bars: the annual target and the actual of {} programmes.",
            rows.len()
        ),
    };
    figure(out, &title, || {
        svg::paired_bars(
            &Caption {
                id: "targets",
                title: &title,
                desc: &desc,
            },
            names,
            &rows,
        )
    });
    let head = [lang.pick("Programma", "Programme"), names.0, names.1];
    let table_rows: Vec<Vec<(String, bool)>> = rows
        .iter()
        .map(|(_, name, t, a)| {
            vec![
                (name.clone(), false),
                (t.text().to_string(), true),
                (a.text().to_string(), true),
            ]
        })
        .collect();
    table(out, &title, &head, &table_rows);
    out.push_str("</figure>");
}
