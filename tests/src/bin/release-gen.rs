//! A random release for the independent disclosure-control proof
//! (`tests/reports/test_disclosure.py`, `make test-reports`):
//!
//! ```text
//! release-gen --seed N --out DIR [--earlier DIR2 [--revise K]] [--threshold T] [--municipalities MIN-MAX]
//! ```
//!
//! draws screening counts of one year (heavy in 0–5) for 3 regions of 4–8 municipalities
//! each (`--municipalities`), 2–4 age bands, two sexes, two instruments and four risk levels, and publishes three
//! linked tables of them for the year and its quarters on every territory level (`LV`,
//! regions, municipalities), every total the sum of its parts:
//!
//! - risk level (`screenings` and `screenings_risk_*`);
//! - age band × sex (`screenings`);
//! - instrument × risk level.
//!
//! It suppresses them (`ravis::statistics::suppress`, threshold 3 unless `--threshold`) and
//! writes `DIR/release.csv` (`period,atvk,territory_level,age_band,sex,instrument,indicator,
//! value,conf_status`, the value empty when suppressed) and `DIR/codelists.json`
//! (`{"<dimension>": {"<code>": "<parent>"}}`). With `--earlier DIR2` it first writes, to
//! DIR2, a release of the first two quarters alone, and then the release of DIR with
//! DIR2's cells as facts an attacker knows (the two must be safe together). With `--revise K`
//! the data changes in between: K drawn cells of the first two quarters gain or lose a
//! record (a late entry, a merge), so the earlier release is revised
//! (`ravis::statistics::revisions`): its small changes must be hidden in DIR.

use ravis::statistics::revisions::{EarlierRelease, reconcile};
use ravis::statistics::{
    AXES, CellKey, Codelist, ConfStatus, DEFAULT_THRESHOLD, Hierarchies, TOTAL, suppress_with,
};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

const YEAR: &str = "2026";
const QUARTERS: [&str; 4] = ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"];
const SEXES: [&str; 2] = ["male", "female"];
const INSTRUMENTS: [&str; 2] = ["mchat_r", "asq3"];
const SCREENINGS: &str = "screenings";
/// Risk levels and their share of the screenings.
const RISKS: [(&str, f64); 4] = [
    ("screenings_risk_low", 0.6),
    ("screenings_risk_medium", 0.25),
    ("screenings_risk_high", 0.1),
    ("screenings_risk_urgent", 0.05),
];
const AGE_BANDS: [&str; 4] = ["0-1", "1-3", "3-7", "7-11"];

/// splitmix64: a seeded, reproducible stream (no dependency, same on every machine).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, low: usize, high: usize) -> usize {
        low + (self.next() % (high - low + 1) as u64) as usize
    }
    /// Knuth's Poisson draw (small means only).
    fn poisson(&mut self, mean: f64) -> u64 {
        let limit = (-mean).exp();
        let mut k = 0;
        let mut p = self.uniform();
        while p > limit {
            k += 1;
            p *= self.uniform();
        }
        k
    }
}

/// The drawn microdata: count per (quarter, municipality, age band, sex, instrument, risk).
struct Draw {
    hierarchies: Hierarchies,
    municipalities: Vec<String>,
    regions: Vec<String>,
    ages: Vec<String>,
    counts: BTreeMap<[String; 6], u64>,
}

impl Draw {
    /// Adds a record to, or takes one from, `k` drawn cells of the first two quarters.
    fn revise(&mut self, seed: u64, k: usize) {
        let mut rng = Rng(seed ^ 0x5EED);
        let early: Vec<[String; 6]> = self
            .counts
            .keys()
            .filter(|key| QUARTERS[..2].contains(&key[0].as_str()))
            .cloned()
            .collect();
        for _ in 0..k.min(early.len()) {
            let key = &early[rng.range(0, early.len() - 1)];
            if let Some(count) = self.counts.get_mut(key) {
                *count = if *count > 0 && rng.uniform() < 0.3 {
                    *count - 1
                } else {
                    *count + 1
                };
            }
        }
    }
}

fn codelist(pairs: impl IntoIterator<Item = (String, String)>) -> Codelist {
    Codelist {
        parent: pairs.into_iter().collect(),
    }
}

fn draw(seed: u64, municipalities_per_region: (usize, usize)) -> Draw {
    let mut rng = Rng(seed);
    let mut atvk = Vec::new();
    let mut municipalities = Vec::new();
    let mut regions = Vec::new();
    let mut size = BTreeMap::new();
    for r in 1..=3 {
        let region = format!("{r}000000");
        for m in 1..=rng.range(municipalities_per_region.0, municipalities_per_region.1) {
            let code = format!("{r}{m:02}0000");
            size.insert(code.clone(), 0.2 + 0.8 * rng.uniform());
            atvk.push((code.clone(), region.clone()));
            municipalities.push(code);
        }
        atvk.push((region.clone(), "LV".to_string()));
        regions.push(region);
    }
    let ages: Vec<String> = AGE_BANDS[..rng.range(2, 4)]
        .iter()
        .map(|a| a.to_string())
        .collect();
    let to = |codes: &[String], parent: &str| -> Vec<(String, String)> {
        codes
            .iter()
            .map(|c| (c.clone(), parent.to_string()))
            .collect()
    };
    let strings = |codes: &[&str]| -> Vec<String> { codes.iter().map(|c| c.to_string()).collect() };
    let risks: Vec<String> = RISKS.iter().map(|(r, _)| r.to_string()).collect();
    let hierarchies = Hierarchies::new([
        codelist(to(&strings(&QUARTERS), YEAR)),
        codelist(atvk),
        codelist(to(&ages, TOTAL)),
        codelist(to(&strings(&SEXES), TOTAL)),
        codelist(to(&strings(&INSTRUMENTS), TOTAL)),
        codelist(to(&risks, SCREENINGS)),
    ]);
    let mut counts = BTreeMap::new();
    for q in QUARTERS {
        for m in &municipalities {
            for a in &ages {
                for s in SEXES {
                    for i in INSTRUMENTS {
                        for (risk, share) in RISKS {
                            let mean = size[m] * share * 6.0;
                            let key = [q, m, a, s, i, risk].map(str::to_string);
                            counts.insert(key, rng.poisson(mean));
                        }
                    }
                }
            }
        }
    }
    Draw {
        hierarchies,
        municipalities,
        regions,
        ages,
        counts,
    }
}

impl Draw {
    /// The codes on `axis` a code covers: itself and every descendant.
    fn covers(&self, axis: usize, code: &str, leaf: &str) -> bool {
        let parents = &self.hierarchies.codelists[axis].parent;
        let mut at = leaf;
        loop {
            if at == code {
                return true;
            }
            match parents.get(at) {
                Some(p) => at = p,
                None => return false,
            }
        }
    }

    fn count(&self, key: &CellKey) -> u64 {
        self.counts
            .iter()
            .filter(|(leaf, _)| {
                (0..AXES.len()).all(|axis| self.covers(axis, key.code(axis), &leaf[axis]))
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// The three linked tables for `periods`.
    fn release(&self, periods: &[&str]) -> BTreeMap<CellKey, u64> {
        let mut territories = vec!["LV".to_string()];
        territories.extend(self.regions.iter().cloned());
        territories.extend(self.municipalities.iter().cloned());
        let mut ages = vec![TOTAL.to_string()];
        ages.extend(self.ages.iter().cloned());
        let mut indicators = vec![SCREENINGS.to_string()];
        indicators.extend(RISKS.iter().map(|(r, _)| r.to_string()));
        let with_total = |codes: &[&str]| -> Vec<String> {
            std::iter::once(TOTAL)
                .chain(codes.iter().copied())
                .map(str::to_string)
                .collect()
        };
        let mut keys = Vec::new();
        for p in periods {
            for t in &territories {
                let cell = |age: &str, sex: &str, instrument: &str, indicator: &str| CellKey {
                    period: p.to_string(),
                    atvk: t.clone(),
                    age_band: age.into(),
                    sex: sex.into(),
                    instrument: instrument.into(),
                    indicator: indicator.into(),
                };
                for a in &ages {
                    for s in with_total(&SEXES) {
                        keys.push(cell(a, &s, TOTAL, SCREENINGS));
                    }
                }
                for i in with_total(&INSTRUMENTS) {
                    for ind in &indicators {
                        keys.push(cell(TOTAL, TOTAL, &i, ind));
                    }
                }
            }
        }
        keys.into_iter()
            .map(|k| {
                let n = self.count(&k);
                (k, n)
            })
            .collect()
    }

    fn level(&self, atvk: &str) -> &'static str {
        match self.hierarchies.codelists[1]
            .parent
            .get(atvk)
            .map(String::as_str)
        {
            None => "country",
            Some("LV") => "region",
            Some(_) => "municipality",
        }
    }
}

fn write_release(
    dir: &Path,
    draw: &Draw,
    cells: &BTreeMap<CellKey, u64>,
    status: &BTreeMap<CellKey, ConfStatus>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut csv = std::io::BufWriter::new(std::fs::File::create(dir.join("release.csv"))?);
    writeln!(
        csv,
        "period,atvk,territory_level,age_band,sex,instrument,indicator,value,conf_status"
    )?;
    for (k, v) in cells {
        let conf = status.get(k).copied().unwrap_or(ConfStatus::F);
        let value = match conf {
            ConfStatus::F => v.to_string(),
            _ => String::new(),
        };
        writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{:?}",
            k.period,
            k.atvk,
            draw.level(&k.atvk),
            k.age_band,
            k.sex,
            k.instrument,
            k.indicator,
            value,
            conf
        )?;
    }
    csv.flush()?;
    let lists: BTreeMap<&str, &BTreeMap<String, String>> = AXES
        .iter()
        .zip(&draw.hierarchies.codelists)
        .map(|(axis, list)| (*axis, &list.parent))
        .collect();
    let json = serde_json::to_string_pretty(&lists).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("codelists.json"), json + "\n")
}

/// Suppresses and writes one release; returns its cells as facts for a later one.
fn publish(
    dir: &Path,
    draw: &Draw,
    periods: &[&str],
    threshold: u64,
    earlier: &[EarlierRelease],
) -> Result<Vec<(CellKey, Option<u64>)>, String> {
    let cells = draw.release(periods);
    let started = Instant::now();
    let known = reconcile(&cells, earlier, threshold);
    let suppression = suppress_with(
        &cells,
        &draw.hierarchies,
        threshold,
        &known.facts,
        &known.sensitive,
    )
    .map_err(|e| e.to_string())?;
    eprintln!(
        "release-gen: {}: {} cells, {} revised by less than the threshold, {} primary (A), \
         {} secondary (C), suppressed in {:.2} s",
        dir.display(),
        cells.len(),
        known.sensitive.len(),
        suppression.count(ConfStatus::A),
        suppression.count(ConfStatus::C),
        started.elapsed().as_secs_f64()
    );
    write_release(dir, draw, &cells, &suppression.status).map_err(|e| e.to_string())?;
    Ok(cells
        .into_iter()
        .map(|(k, v)| {
            let published = suppression.status.get(&k) == Some(&ConfStatus::F);
            (k, published.then_some(v))
        })
        .collect())
}

struct Args {
    seed: u64,
    out: PathBuf,
    earlier: Option<PathBuf>,
    revise: usize,
    threshold: u64,
    municipalities: (usize, usize),
}

fn args() -> Result<Args, String> {
    let mut seed = None;
    let mut out = None;
    let mut earlier = None;
    let mut revise = 0;
    let mut threshold = DEFAULT_THRESHOLD;
    let mut municipalities = (4, 8);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--seed" => seed = Some(value.parse().map_err(|_| "--seed: a number")?),
            "--out" => out = Some(PathBuf::from(value)),
            "--earlier" => earlier = Some(PathBuf::from(value)),
            "--revise" => revise = value.parse().map_err(|_| "--revise: a number")?,
            "--threshold" => threshold = value.parse().map_err(|_| "--threshold: a number")?,
            "--municipalities" => {
                let range = value
                    .split_once('-')
                    .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                    .filter(|&(a, b): &(usize, usize)| 1 <= a && a <= b && b <= 99);
                municipalities = range.ok_or("--municipalities: MIN-MAX, 1 to 99")?;
            }
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(Args {
        seed: seed.ok_or("--seed N is required")?,
        out: out.ok_or("--out DIR is required")?,
        earlier,
        revise,
        threshold,
        municipalities,
    })
}

fn main() -> std::process::ExitCode {
    let run = || -> Result<(), String> {
        let args = args()?;
        let mut draw = draw(args.seed, args.municipalities);
        let mut periods = vec![YEAR];
        periods.extend(QUARTERS);
        let facts = match &args.earlier {
            Some(dir) => {
                let cells = publish(dir, &draw, &QUARTERS[..2], args.threshold, &[])?;
                vec![(format!("{}+{}", QUARTERS[0], QUARTERS[1]), cells)]
            }
            None => Vec::new(),
        };
        draw.revise(args.seed, args.revise);
        publish(&args.out, &draw, &periods, args.threshold, &facts)?;
        Ok(())
    };
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "release-gen: {e}\nusage: release-gen --seed N --out DIR [--earlier DIR2 [--revise K]] [--threshold T] \
                 [--municipalities MIN-MAX]"
            );
            std::process::ExitCode::from(2)
        }
    }
}
