//! The HTML report of a release: escaping, hidden cells as labelled gaps, one bar per
//! territory, the trend over sub-periods, the page's CSP and accessibility.

use super::html::{Focus, Lang, content_security_policy, report};
use super::release::{
    CellKey, Codelist, ConfStatus, Dataset, Release, Row, TOTAL, TerritoryLevel, Value,
};
use std::collections::BTreeMap;

fn row(
    period: &str,
    atvk: &str,
    level: TerritoryLevel,
    value: Option<u64>,
    status: ConfStatus,
) -> Row {
    Row {
        key: CellKey {
            period: period.into(),
            atvk: atvk.into(),
            age_band: TOTAL.into(),
            sex: TOTAL.into(),
            instrument: TOTAL.into(),
            indicator: "children_screened".into(),
        },
        territory_level: level,
        value: value.map(Value::Count),
        conf_status: status,
    }
}

/// Regions R1 (municipalities M1, M2, M3) and R2 (M4); the year 2026 with its quarters.
fn release() -> Release {
    use ConfStatus::{A, C, F};
    use TerritoryLevel::{Country, Municipality, Region};
    let mut rows = vec![
        row("2026", "LV", Country, Some(120), F),
        row("2026", "R1", Region, Some(100), F),
        row("2026", "R2", Region, Some(20), F),
        row("2026", "M1", Municipality, Some(95), F),
        row("2026", "M2", Municipality, None, A),
        row("2026", "M3", Municipality, None, C),
        row("2026", "M4", Municipality, Some(20), F),
    ];
    for (q, lv, r1) in [
        ("2026-Q1", Some(30), Some(25)),
        ("2026-Q2", Some(40), None),
        ("2026-Q3", None, Some(35)),
        ("2026-Q4", Some(50), Some(40)),
    ] {
        let status = |v: Option<u64>| if v.is_some() { F } else { A };
        rows.push(row(q, "LV", Country, lv, status(lv)));
        rows.push(row(q, "R1", Region, r1, status(r1)));
    }
    let mut other = row("2026", "LV", Country, Some(7), F);
    other.key.sex = "female".into();
    rows.push(other);
    let mut parent = BTreeMap::new();
    for (code, up) in [
        ("M1", "R1"),
        ("M2", "R1"),
        ("M3", "R1"),
        ("M4", "R2"),
        ("R1", "LV"),
        ("R2", "LV"),
    ] {
        parent.insert(code.to_string(), up.to_string());
    }
    let mut codelists = BTreeMap::new();
    codelists.insert("atvk".to_string(), Codelist { parent });
    Release {
        period: "2026".into(),
        atvk_version: "2024-07".into(),
        threshold: 3,
        generated_at: "2027-01-15T06:00:00Z".into(),
        datasets: vec![Dataset {
            id: "screening".into(),
            title_lv: "Skrīningi".into(),
            title_en: "<script>alert(1)</script> Screenings".into(),
            description_lv: "Skrīningu skaits".into(),
            description_en: "Number of screenings & children".into(),
            rows,
        }],
        codelists,
    }
}

fn focus(region: Option<&str>) -> Focus {
    Focus {
        indicator: "children_screened".into(),
        region: region.map(str::to_string),
    }
}

fn targets() -> Vec<(String, u64, Option<u64>)> {
    vec![
        ("<script>x</script>".into(), 200, Some(120)),
        ("Dzirde".into(), 50, None),
    ]
}

/// The part of the page from the figure whose heading contains `heading` to its end.
fn figure<'a>(html: &'a str, heading: &str) -> &'a str {
    let start = html
        .find(&format!("<figure><h2>{heading}"))
        .unwrap_or_else(|| panic!("no figure {heading}"));
    let rest = &html[start..];
    &rest[..rest.find("</figure>").expect("figure end")]
}

#[test]
fn text_from_the_release_and_the_targets_is_escaped() {
    let html = report(&release(), Lang::En, &focus(None), &targets());
    assert!(!html.contains("<script"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Screenings"));
    assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
    assert!(html.contains("Number of screenings &amp; children"));
}

#[test]
fn municipalities_of_a_region_get_one_bar_each_and_hidden_ones_none() {
    let html = report(&release(), Lang::En, &focus(Some("R1")), &targets());
    let chart = figure(&html, "children_screened: municipalities of region R1");
    assert_eq!(chart.matches("<rect class=\"bar\"").count(), 1);
    assert_eq!(
        chart.matches("<rect class=\"bar\" data-key=\"M1\"").count(),
        1
    );
    for hidden in ["M2", "M3"] {
        assert!(!chart.contains(&format!("<rect class=\"bar\" data-key=\"{hidden}\"")));
        assert!(chart.contains(&format!("<text class=\"gap\" data-key=\"{hidden}\"")));
    }
    assert!(!chart.contains("M4"), "M4 is in region R2");
    assert!(chart.contains(
        "<th scope=\"row\">M2</th><td class=\"num\">hidden (fewer than 3)</td><td>hidden</td>"
    ));
    assert!(chart.contains(
        "<th scope=\"row\">M3</th><td class=\"num\">hidden (protects a small count)</td>"
    ));
    // A hidden municipality is never a zero, in the chart or in its table.
    assert!(!chart.contains(">0<"));
}

#[test]
fn without_a_region_the_regions_are_charted() {
    let html = report(&release(), Lang::En, &focus(None), &targets());
    let chart = figure(&html, "children_screened: regions, 2026");
    assert_eq!(chart.matches("<rect class=\"bar\"").count(), 2);
    for region in ["R1", "R2"] {
        assert_eq!(
            chart
                .matches(&format!("<rect class=\"bar\" data-key=\"{region}\""))
                .count(),
            1
        );
    }
    // R1 (100) spans the plot, R2 (20) a fifth of it.
    assert!(chart.contains("data-key=\"R1\" x=\"200.0\" y=\"15.0\" width=\"360.0\""));
    assert!(chart.contains("data-key=\"R2\" x=\"200.0\" y=\"39.0\" width=\"72.0\""));
}

#[test]
fn the_trend_runs_over_the_quarters_and_breaks_at_hidden_ones() {
    let html = report(&release(), Lang::En, &focus(None), &targets());
    let chart = figure(&html, "children_screened: over time, LV");
    let periods: Vec<&str> = chart
        .split("<th scope=\"row\">")
        .skip(1)
        .filter_map(|s| s.split('<').next())
        .collect();
    assert_eq!(periods, ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]);
    assert_eq!(chart.matches("<circle class=\"point\"").count(), 3);
    assert_eq!(chart.matches("<polyline").count(), 1);
    assert!(chart.contains("<text class=\"gap\" data-key=\"2026-Q3\""));
    let region = report(&release(), Lang::En, &focus(Some("R1")), &targets());
    let chart = figure(&region, "children_screened: over time, R1");
    assert!(chart.contains("<text class=\"gap\" data-key=\"2026-Q2\""));
    assert_eq!(
        chart.matches("<polyline").count(),
        1,
        "Q3–Q4 is the one run"
    );
}

#[test]
fn targets_without_an_actual_are_not_drawn() {
    let html = report(&release(), Lang::Lv, &focus(None), &targets());
    let chart = figure(&html, "Programmu mērķi un izpilde");
    assert_eq!(chart.matches("<rect class=\"bar target\"").count(), 2);
    assert_eq!(chart.matches("<rect class=\"bar actual\"").count(), 1);
    assert!(chart.contains(
        "<th scope=\"row\">Dzirde</th><td class=\"num\">50</td><td class=\"num\">nav datu</td>"
    ));
}

#[test]
fn the_page_is_accessible_has_no_script_and_names_its_style_in_its_csp() {
    for lang in [Lang::Lv, Lang::En] {
        let html = report(&release(), lang, &focus(Some("R1")), &targets());
        let svgs = html.matches("<svg ").count();
        assert_eq!(svgs, 3);
        assert_eq!(html.matches("role=\"img\"").count(), svgs);
        for id in ["by-territory", "trend", "targets"] {
            assert!(html.contains(&format!("aria-labelledby=\"{id}-title {id}-desc\"")));
            assert!(html.contains(&format!("<title id=\"{id}-title\">")));
            assert!(html.contains(&format!("<desc id=\"{id}-desc\">")));
        }
        assert_eq!(
            html.matches("<table>").count(),
            svgs,
            "a data table beside every chart"
        );
        let lower = html.to_lowercase();
        assert!(!lower.contains("<script") && !lower.contains("javascript:"));
        assert!(
            !lower.contains(" style=") && !lower.contains(" onload") && !lower.contains(" onclick")
        );
        assert!(
            !lower.contains("src=") && !lower.contains("href="),
            "nothing is fetched"
        );
        let csp = content_security_policy();
        assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"));
        assert!(html.contains(&format!("content=\"{}\"", csp.replace('\'', "&#39;"))));
    }
    let lv = report(&release(), Lang::Lv, &focus(None), &targets());
    assert!(lv.starts_with("<!DOCTYPE html><html lang=\"lv\">"));
    assert!(lv.contains("<dt>ATVK versija</dt><dd>2024-07</dd>"));
    assert!(lv.contains("Skaiti no 1 līdz 2 netiek publicēti (slieksnis 3)"));
    let en = report(&release(), Lang::En, &focus(None), &targets());
    assert!(en.contains("<dt>Period</dt><dd>2026</dd>"));
    assert!(en.contains("Counts from 1 to 2 are not published (threshold 3)"));
}

#[test]
fn the_csp_hash_is_the_hash_of_the_style_block() {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let html = report(&release(), Lang::En, &focus(None), &[]);
    let style = html
        .split("<style>")
        .nth(1)
        .and_then(|s| s.split("</style>").next())
        .expect("a style block");
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(style.as_bytes()));
    assert!(content_security_policy().contains(&format!("'sha256-{hash}'")));
    assert_eq!(Lang::parse("lv"), Some(Lang::Lv));
    assert_eq!(Lang::parse("de"), None);
}

#[test]
fn decimals_are_drawn_and_a_value_that_is_not_a_number_is_not() {
    let mut release = release();
    for row in &mut release.datasets[0].rows {
        match (row.key.period.as_str(), row.key.atvk.as_str()) {
            ("2026", "R1") => row.value = Some(Value::Decimal(0.25)),
            ("2026", "R2") => row.value = Some(Value::Decimal(f64::NAN)),
            _ => {}
        }
    }
    let html = report(&release, Lang::En, &focus(None), &[]);
    let chart = figure(&html, "children_screened: regions, 2026");
    assert_eq!(chart.matches("<rect class=\"bar\"").count(), 1);
    assert!(
        chart
            .contains("<rect class=\"bar\" data-key=\"R1\" x=\"200.0\" y=\"15.0\" width=\"360.0\"")
    );
    assert!(chart.contains("<th scope=\"row\">R1</th><td class=\"num\">0.25</td>"));
    assert!(chart.contains("<text class=\"missing\" data-key=\"R2\""));
    assert!(!chart.to_lowercase().contains("nan"));
}
