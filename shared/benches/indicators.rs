//! The full indicator table from the analytics lake at national scale (issue #13), timed
//! against DuckDB by `scripts/indicators-bench.sh` (records in `docs/BENCHMARKS.md`).
//!
//! Two steps, each its own process so that the second one's peak memory is the report's
//! alone:
//!
//! - `cargo bench -p ravis-shared --features lake --bench indicators -- write DIR [ROWS]`
//!   writes a synthetic lake of ROWS result rows (default 10,000,000) with its episodes and
//!   referrals under `DIR/lake/<table>/year=2026/part-0.parquet`, as the lake writer does,
//!   and the region classifier `DIR/regions.csv` (43 municipalities in 6 regions).
//! - `… --bench indicators -- run DIR` reads and decodes the three files (`lake::read_*`),
//!   (results: only the columns the reports read, `facts::RESULT_COLUMNS_USED`), builds
//!   the facts as the reports worker does (`facts::add_*`), computes the indicators
//!   of the year 2026 (`indicators::compute`), and prints the times and the peak resident
//!   memory (`VmHWM`) as one JSON line. Untimed, it then writes every non-zero count cell and
//!   the days-to-support and median SDQ change cells to `DIR/rust-cells.csv` for the
//!   comparison with DuckDB.
//!   With `run DIR suppress` it then times disclosure control of that table
//!   (`statistics::suppress`, threshold 10, no earlier release), as the worker protects it.
//!
//! The mix: a third as many children as results, each with three results in the year on
//! different days, its municipality (30 % in the largest, 2 % unknown), sex and age fixed;
//! instruments by age (SDQ from 4 years, with subscale bands), 70 % low / 18 % medium / 9 %
//! high / 3 % urgent, recommendations by level, a few adult rows (left out); SDQ results
//! carry a total difficulties score; a rescreen asked for falls due 150–179 days later, a
//! follow-up interview 20–49 days later, each done on time (half), late (a fifth) or not
//! yet; a referral for 80 % of the high or urgent results and an episode for 60 % of them,
//! started from 30 days before to 200 days after (10 % not started, a third of the started
//! ones ended).

use bytes::Bytes;
use chrono::{Datelike, NaiveDate};
use ravis::services::reports::facts::{
    RESULT_COLUMNS_USED, add_episodes, add_referrals, add_results,
};
use ravis::statistics::columnar::{self, date, int, optional_text, text};
use ravis::statistics::indicators::{Facts, compute};
use ravis::statistics::lake::{self, Table, age_band};
use ravis::statistics::period::Period;
use ravis::statistics::release::TOTAL;
use ravis::statistics::territory::Territories;
use ravis::statistics::{AXES, ConfStatus, Hierarchies, suppress};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

type Error = Box<dyn std::error::Error>;

const YEAR: i32 = 2026;
const MUNICIPALITIES: usize = 43;
const REGIONS: [&str; 6] = ["LV003", "LV005", "LV006", "LV007", "LV008", "LV009"];
const PROGRAMMES: [&str; 12] = [
    "parent-training",
    "family-therapy",
    "speech-therapy",
    "early-intervention",
    "psychologist",
    "social-skills",
    "school-support",
    "crisis-team",
    "home-visiting",
    "psychiatrist",
    "occupational-therapy",
    "youth-centre",
];
const SDQ_SCALES: [&str; 5] = ["emotional", "conduct", "hyperactivity", "peer", "prosocial"];
const SDQ_BANDS: [&str; 4] = ["typical", "slightly_raised", "high", "very_high"];

fn mix(mut x: u64) -> u64 {
    // splitmix64: a fixed, well-spread sequence (the data are the same on every run).
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn municipality_code(i: usize) -> String {
    format!("{:04}000", 10 + i * 17)
}

fn day(n: u64) -> NaiveDate {
    let start = NaiveDate::from_ymd_opt(YEAR, 1, 1).unwrap_or_default();
    start + chrono::Days::new(n)
}

/// One result row, its text borrowed from pools (the generator's memory stays bounded).
struct Row<'a> {
    child: &'a str,
    on: NaiveDate,
    age: i32,
    sex: &'static str,
    municipality: Option<&'a str>,
    instrument: &'static str,
    risk: &'static str,
    scores: &'a str,
    bands: &'a str,
    kinds: &'static str,
    rescreen: Option<(NaiveDate, Option<NaiveDate>)>,
    interview: Option<(NaiveDate, Option<NaiveDate>)>,
}

struct Support<'a> {
    child: &'a str,
    programme: &'static str,
    referred_on: NaiveDate,
    started_on: Option<NaiveDate>,
    ended_on: Option<NaiveDate>,
    age: i32,
    sex: &'static str,
    municipality: Option<&'a str>,
}

struct Pools {
    children: String,
    municipalities: Vec<String>,
    sdq_scores: Vec<String>,
    sdq_bands: Vec<String>,
    other_scores: Vec<String>,
}

impl Pools {
    fn new(children: usize) -> Self {
        let mut text = String::with_capacity(children * 64);
        for c in 0..children as u64 {
            let _ = write!(
                text,
                "{:016x}{:016x}{:016x}{:016x}",
                mix(c),
                mix(c ^ 1 << 40),
                mix(c ^ 2 << 40),
                mix(c ^ 3 << 40)
            );
        }
        let mut sdq_scores = Vec::new();
        let mut sdq_bands = Vec::new();
        for i in 0..4096u64 {
            let h = mix(i ^ 0xABCD);
            let mut scores = String::from("{");
            let mut bands = String::from("{");
            for (j, scale) in SDQ_SCALES.iter().enumerate() {
                let value = (h >> (j * 8)) % 11;
                // Mostly typical: a band from the value, raised more rarely.
                let band = match (h >> (j * 8 + 4)) % 20 {
                    0..=14 => SDQ_BANDS[0],
                    15..=16 => SDQ_BANDS[1],
                    17..=18 => SDQ_BANDS[2],
                    _ => SDQ_BANDS[3],
                };
                let sep = if j == 0 { "" } else { "," };
                let _ = write!(scores, "{sep}\"{scale}\":{value}");
                let _ = write!(bands, "{sep}\"{scale}\":\"{band}\"");
            }
            // The total difficulties score: the four difficulty subscales' sum.
            let total: u64 = (0..4).map(|j| (h >> (j * 8)) % 11).sum();
            let _ = write!(scores, ",\"total_difficulties\":{total}}}");
            bands.push_str(",\"total_difficulties\":\"typical\"}");
            sdq_scores.push(scores);
            sdq_bands.push(bands);
        }
        Self {
            children: text,
            municipalities: (0..MUNICIPALITIES).map(municipality_code).collect(),
            sdq_scores,
            sdq_bands,
            other_scores: (0..60).map(|v| format!("{{\"total\":{v}}}")).collect(),
        }
    }

    fn child(&self, c: usize) -> &str {
        &self.children[c * 64..(c + 1) * 64]
    }

    fn municipality(&self, c: usize) -> Option<&str> {
        let h = mix(c as u64 ^ 0x5EED) % 100;
        match h {
            0..=1 => None,
            2..=31 => Some(&self.municipalities[0]),
            _ => Some(&self.municipalities[1 + (h as usize * 7 + c) % (MUNICIPALITIES - 1)]),
        }
    }
}

fn results<'a>(pools: &'a Pools, n: usize) -> Vec<Row<'a>> {
    (0..n)
        .map(|i| {
            let c = i / 3;
            let k = (i % 3) as u64;
            let hc = mix(c as u64);
            let hi = mix(i as u64 ^ 0xF00D);
            let sex = match hc % 200 {
                0 => "unknown",
                x if x % 2 == 0 => "female",
                _ => "male",
            };
            // Three days of the year, all different (a child's results never share a day).
            let first = hc % 121;
            let on = day(first + k * 121);
            let age = if hi.is_multiple_of(400) {
                35 // a parent's own questionnaire: not a child, left out
            } else {
                (hc % 18) as i32
            };
            let instrument = match age {
                0..=1 => "asq3",
                2..=3 => "mchat-r",
                4..=10 if k == 1 => "asq-se2",
                4..=10 => "sdq-parent-4-17",
                11..=17 if k == 2 => "sdq-self-11-17",
                11..=17 => "sdq-parent-4-17",
                _ => "epds",
            };
            let risk = match hi % 100 {
                0..=69 => "low",
                70..=87 => "medium",
                88..=96 => "high",
                _ => "urgent",
            };
            let kinds = match risk {
                "low" if hi.is_multiple_of(10) => "rescreen",
                "low" => "",
                "medium" => "follow_up_interview,rescreen",
                "high" => "referral_in_depth_assessment,referral_programme",
                _ => "referral_urgent",
            };
            let sdq = instrument.starts_with("sdq");
            let pick = (hi >> 20) as usize;
            // Follow-ups a result asks for: due some weeks later, done on time (half),
            // late (a fifth: some within the month it fell due in, some after) or not yet.
            let follow_up = |after: u64, salt: u64| {
                let h = mix(i as u64 ^ salt);
                let due = on + chrono::Days::new(after + h % 30);
                let done = match (h >> 8) % 10 {
                    0..=4 => Some(due - chrono::Days::new((h >> 12) % 20)),
                    5..=6 => Some(due + chrono::Days::new(1 + (h >> 12) % 45)),
                    _ => None,
                };
                (due, done)
            };
            let rescreen = kinds.contains("rescreen").then(|| follow_up(150, 0x5EC0));
            let interview = kinds
                .contains("follow_up_interview")
                .then(|| follow_up(20, 0x1E4));
            Row {
                child: pools.child(c),
                on,
                age,
                sex,
                municipality: pools.municipality(c),
                instrument,
                risk,
                scores: if sdq {
                    &pools.sdq_scores[pick % pools.sdq_scores.len()]
                } else {
                    &pools.other_scores[pick % pools.other_scores.len()]
                },
                bands: if sdq {
                    &pools.sdq_bands[pick % pools.sdq_bands.len()]
                } else {
                    "{\"total\":\"typical\"}"
                },
                kinds,
                rescreen,
                interview,
            }
        })
        .collect()
}

/// Referrals and episodes of the high and urgent results.
fn support<'a>(rows: &[Row<'a>]) -> (Vec<Support<'a>>, Vec<Support<'a>>) {
    let last = day(364);
    let mut referrals = Vec::new();
    let mut episodes = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if !matches!(r.risk, "high" | "urgent") {
            continue;
        }
        let h = mix(i as u64 ^ 0xBEEF);
        let programme = PROGRAMMES[(h >> 8) as usize % PROGRAMMES.len()];
        if h % 10 < 8 {
            let on = (r.on + chrono::Days::new((h >> 16) % 8)).min(last);
            referrals.push(Support {
                child: r.child,
                programme,
                referred_on: on,
                started_on: None,
                ended_on: None,
                age: r.age,
                sex: r.sex,
                municipality: r.municipality,
            });
        }
        if (h >> 4) % 10 < 6 {
            let offset = ((h >> 24) % 231) as i64 - 30;
            let start = (r.on + chrono::TimeDelta::days(offset)).clamp(day(0), last);
            let started = !(h >> 32).is_multiple_of(10);
            let ended = started && (h >> 36).is_multiple_of(3);
            episodes.push(Support {
                child: r.child,
                programme,
                referred_on: start,
                started_on: started.then_some(start),
                ended_on: ended.then(|| (start + chrono::Days::new(20 + (h >> 40) % 60)).min(last)),
                age: r.age,
                sex: r.sex,
                municipality: r.municipality,
            });
        }
    }
    (referrals, episodes)
}

fn partition(dir: &Path, table: Table) -> PathBuf {
    dir.join(lake::partition_key(table, YEAR))
}

fn save(dir: &Path, table: Table, bytes: &[u8]) -> Result<(), Error> {
    let path = partition(dir, table);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, bytes)?;
    Ok(())
}

fn write(dir: &Path, n: usize) -> Result<(), Error> {
    let started = Instant::now();
    let pools = Pools::new(n.div_ceil(3));
    let rows = results(&pools, n);
    let (referrals, episodes) = support(&rows);
    let bytes = columnar::encode(
        "results",
        Table::Results.fields(),
        &rows,
        |rows, i| match i {
            0 => text(rows, |r| r.child),
            1 => date(rows, |r| Some(r.on)),
            2 => int(rows, |r| r.on.year()),
            3 => int(rows, |r| r.age),
            4 => text(rows, |r| age_band(r.age)),
            5 => text(rows, |r| r.sex),
            6 => optional_text(rows, |r| r.municipality),
            7 => text(rows, |_| lake::ATVK_VERSION),
            8 => text(rows, |r| r.instrument),
            9 => text(rows, |_| "1.0.0"),
            10 => text(rows, |r| r.risk),
            11 => text(rows, |r| r.scores),
            12 => text(rows, |r| r.bands),
            13 => text(rows, |r| r.kinds),
            14 => date(rows, |r| r.rescreen.map(|(due, _)| due)),
            15 => date(rows, |r| r.rescreen.and_then(|(_, done)| done)),
            16 => date(rows, |r| r.interview.map(|(due, _)| due)),
            _ => date(rows, |r| r.interview.and_then(|(_, done)| done)),
        },
    )?;
    save(dir, Table::Results, &bytes)?;
    drop(bytes);
    let bytes = columnar::encode(
        "episodes",
        Table::Episodes.fields(),
        &episodes,
        |rows, i| match i {
            0 => text(rows, |r| r.child),
            1 => text(rows, |r| r.programme),
            2 => date(rows, |r| Some(r.referred_on)),
            3 => date(rows, |r| r.started_on),
            4 => date(rows, |r| r.ended_on),
            5 => int(rows, |r| r.started_on.unwrap_or(r.referred_on).year()),
            6 => int(rows, |r| r.age),
            7 => text(rows, |r| age_band(r.age)),
            8 => text(rows, |r| r.sex),
            9 => optional_text(rows, |r| r.municipality),
            10 => text(rows, |_| lake::ATVK_VERSION),
            11 => optional_text(rows, |r| r.ended_on.map(|_| "goals_met")),
            _ => optional_text(rows, |r| r.ended_on.map(|_| "completed")),
        },
    )?;
    save(dir, Table::Episodes, &bytes)?;
    drop(bytes);
    let bytes = columnar::encode(
        "referrals",
        Table::Referrals.fields(),
        &referrals,
        |rows, i| match i {
            0 => text(rows, |r| r.child),
            1 => text(rows, |r| r.programme),
            2 => date(rows, |r| Some(r.referred_on)),
            3 => text(rows, |_| "sent"),
            4 => date(rows, |r| r.started_on),
            5 => int(rows, |r| r.referred_on.year()),
            6 => int(rows, |r| r.age),
            7 => text(rows, |r| age_band(r.age)),
            8 => text(rows, |r| r.sex),
            9 => optional_text(rows, |r| r.municipality),
            _ => text(rows, |_| lake::ATVK_VERSION),
        },
    )?;
    save(dir, Table::Referrals, &bytes)?;
    std::fs::write(dir.join("regions.csv"), regions_csv())?;
    println!(
        "{{\"step\":\"write\",\"results\":{n},\"episodes\":{},\"referrals\":{},\"seconds\":{:.2}}}",
        episodes.len(),
        referrals.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn regions_csv() -> String {
    let mut csv = String::from("municipality,region,region_name\n");
    for i in 0..MUNICIPALITIES {
        let region = REGIONS[i % REGIONS.len()];
        let _ = writeln!(csv, "{},{region},Region {region}", municipality_code(i));
    }
    csv
}

/// Peak resident memory of this process in MiB (Linux; 0 elsewhere).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU time of this process so far, all threads, user and system, in seconds (Linux; 0
/// elsewhere): `/proc/self/stat` counts in USER_HZ, 100 per second.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let fields: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
            // utime and stime are fields 14 and 15, 12 and 13 after the command name.
            Some((ticks(11)? + ticks(12)?) / 100.0)
        })
        .unwrap_or(0.0)
}

fn run(dir: &Path, suppression: bool) -> Result<(), Error> {
    let territories =
        Territories::from_csv("bench", &std::fs::read_to_string(dir.join("regions.csv"))?)
            .map_err(|e| format!("regions.csv: {e:?}"))?;
    let read = |table: Table| -> Result<Bytes, Error> {
        Ok(Bytes::from(std::fs::read(partition(dir, table))?))
    };
    let started = Instant::now();
    let cpu_started = cpu_seconds();
    let mut facts = Facts::default();
    let mut decode = std::time::Duration::ZERO;
    let mut build = std::time::Duration::ZERO;
    let mut decode_cpu = 0.0;
    let mut build_cpu = 0.0;
    // As the reports worker does: a file is read, decoded, turned into facts and dropped.
    {
        let (t, c) = (Instant::now(), cpu_seconds());
        let columns = lake::read_results_columns(read(Table::Results)?, |c| {
            RESULT_COLUMNS_USED.contains(&c)
        })?;
        decode += t.elapsed();
        decode_cpu += cpu_seconds() - c;
        let (t, c) = (Instant::now(), cpu_seconds());
        add_results(&mut facts, &columns, None);
        build += t.elapsed();
        build_cpu += cpu_seconds() - c;
    }
    {
        let (t, c) = (Instant::now(), cpu_seconds());
        let columns = lake::read_episodes(read(Table::Episodes)?)?;
        decode += t.elapsed();
        decode_cpu += cpu_seconds() - c;
        let (t, c) = (Instant::now(), cpu_seconds());
        add_episodes(&mut facts, &columns);
        build += t.elapsed();
        build_cpu += cpu_seconds() - c;
    }
    {
        let (t, c) = (Instant::now(), cpu_seconds());
        let columns = lake::read_referrals(read(Table::Referrals)?)?;
        decode += t.elapsed();
        decode_cpu += cpu_seconds() - c;
        let (t, c) = (Instant::now(), cpu_seconds());
        add_referrals(&mut facts, &columns);
        build += t.elapsed();
        build_cpu += cpu_seconds() - c;
    }
    let (t, c) = (Instant::now(), cpu_seconds());
    let indicators = compute(&facts, Period::Year(YEAR), &territories, 10);
    let computed = t.elapsed();
    let compute_cpu = cpu_seconds() - c;
    let total = started.elapsed();
    let cpu = cpu_seconds() - cpu_started;
    let peak = peak_rss_mib();
    let nonzero = indicators.counts.values().filter(|n| **n > 0).count();
    println!(
        "{{\"step\":\"run\",\"results\":{},\"episodes\":{},\"referrals\":{},\"decode_s\":{:.3},\"facts_s\":{:.3},\"compute_s\":{:.3},\"total_s\":{:.3},\"cpu_s\":{cpu:.2},\"decode_cpu_s\":{decode_cpu:.2},\"facts_cpu_s\":{build_cpu:.2},\"compute_cpu_s\":{compute_cpu:.2},\"peak_rss_mib\":{:.0},\"cells\":{},\"nonzero_cells\":{nonzero},\"derived\":{}}}",
        facts.results.len(),
        facts.episodes.len(),
        facts.referrals.len(),
        decode.as_secs_f64(),
        build.as_secs_f64(),
        computed.as_secs_f64(),
        total.as_secs_f64(),
        peak,
        indicators.counts.len(),
        indicators.derived.len(),
    );
    // Untimed: the cells for the comparison with DuckDB.
    let mut csv = String::from("indicator,period,atvk,age_band,sex,instrument,value\n");
    for (k, n) in indicators.counts.iter().filter(|(_, n)| **n > 0) {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{n}",
            k.indicator, k.period, k.atvk, k.age_band, k.sex, k.instrument
        );
    }
    for d in &indicators.derived {
        let k = &d.key;
        if k.indicator.starts_with("risk_to_support")
            || k.indicator == "sdq_programme_median_change"
        {
            let _ = writeln!(
                csv,
                "{},{},{},{TOTAL},{TOTAL},{TOTAL},{}",
                k.indicator, k.period, k.atvk, d.value
            );
        }
    }
    std::fs::write(dir.join("rust-cells.csv"), csv)?;
    if suppression {
        // Disclosure control of the same table, as the reports worker protects it.
        let codelists =
            AXES.map(|axis| indicators.codelists.get(axis).cloned().unwrap_or_default());
        let hierarchies = Hierarchies::new(codelists);
        let (t, c) = (Instant::now(), cpu_seconds());
        let protected = suppress(&indicators.counts, &hierarchies, 10, &[])?;
        let hidden = protected
            .status
            .values()
            .filter(|s| **s != ConfStatus::F)
            .count();
        println!(
            "{{\"step\":\"suppress\",\"cells\":{},\"hidden\":{hidden},\"seconds\":{:.3},\"cpu_s\":{:.2}}}",
            indicators.counts.len(),
            t.elapsed().as_secs_f64(),
            cpu_seconds() - c
        );
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["write", dir] => write(Path::new(dir), 10_000_000),
        ["write", dir, rows] => write(Path::new(dir), rows.parse()?),
        ["run", dir] => run(Path::new(dir), false),
        ["run", dir, "suppress"] => run(Path::new(dir), true),
        _ => Err("usage: indicators -- write DIR [ROWS] | run DIR [suppress]".into()),
    }
}
