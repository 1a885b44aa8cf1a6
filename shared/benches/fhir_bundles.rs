//! Throughput of the FHIR mapping: result Bundles built and serialised per second, one core.
//!
//! Run: `cargo bench -p ravis-shared --bench fhir_bundles [-- BUNDLES]` (default 200,000).
//! Scores one screening each of EPDS, SDQ parent 4-17 and M-CHAT-R first (not timed), then
//! times `result_bundle_json` (build and serialise: the bytes sent) for BUNDLES exports cycling through them with
//! a fresh screening id each (so every fullUrl is computed anew), half first sends and half
//! amended. Records go in docs/BENCHMARKS.md.

use chrono::{NaiveDate, TimeZone, Utc};
use ravis::fhir::{
    ExportAnswer, ExportRecommendation, ExportScore, ExportStatus, FhirSettings, ResultExport,
    result_bundle_json,
};
use ravis::scoring::{ChildFacts, Engine, ScoreRequest, Sex};
use serde_json::json;
use std::time::Instant;

fn export(engine: &Engine, instrument: &str, items: &[&str], born: NaiveDate) -> ResultExport {
    let answers = items
        .iter()
        .enumerate()
        .map(|(i, item)| ((*item).to_owned(), json!(i % 2)))
        .collect();
    let administered_on = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default();
    let req = ScoreRequest {
        instrument: instrument.to_owned(),
        answers,
        administered_on,
        child: ChildFacts {
            birth_date: born,
            sex: Sex::Male,
            gestational_age_weeks: None,
        },
        initial: None,
    };
    let result = engine
        .score(&req)
        .unwrap_or_else(|e| panic!("{instrument}: {e:?}"));
    ResultExport {
        personal_code: "32345678901".to_owned(),
        child_id: "0f3c2b1a-0000-4000-8000-000000000001".to_owned(),
        screening_id: String::new(),
        result_id: "0f3c2b1a-0000-4000-8000-000000000002".to_owned(),
        instrument: result.instrument.clone(),
        instrument_version: result.instrument_version.clone(),
        administered_on,
        scored_at: Utc
            .with_ymd_and_hms(2026, 3, 2, 10, 15, 0)
            .single()
            .unwrap_or_default(),
        organisation_id: "org-7".to_owned(),
        organisation_name: "Rīgas bērnu slimnīca".to_owned(),
        specialist_id: Some("sp-42".to_owned()),
        status: ExportStatus::Final,
        scores: ExportScore::from_result(&result),
        risk_level: result.risk_level,
        flags: result.flags.clone(),
        recommendations: result
            .recommendations
            .iter()
            .map(|r| ExportRecommendation {
                kind: r.kind,
                catalogue_id: r.programme.clone(),
                catalogue_name: r.programme.clone(),
                due_on: r.due_on,
            })
            .collect(),
        answers: ExportAnswer::from_submission(&req.answers),
    }
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Nanoseconds this process has run on a CPU (Linux `/proc/self/schedstat`), so a shared,
/// busy machine can still report the cost on one core.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.replace('_', "").parse().ok())
        .unwrap_or(200_000);
    let engine = Engine::builtin().expect("built-in definitions");
    let numbered = |n: u32| (1..=n).map(|i| i.to_string()).collect::<Vec<_>>();
    let epds = numbered(10);
    let mchat = numbered(20);
    let mut sdq = numbered(25);
    sdq.extend(
        [
            "difficulties",
            "impact_distress",
            "impact_home",
            "impact_friendships",
            "impact_learning",
            "impact_leisure",
        ]
        .map(str::to_owned),
    );
    let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
    let mut templates = [
        export(&engine, "epds", &refs(&epds), date(2026, 1, 20)),
        export(&engine, "sdq-parent-4-17", &refs(&sdq), date(2018, 5, 1)),
        export(&engine, "mchat-r", &refs(&mchat), date(2024, 3, 1)),
    ];
    let settings = FhirSettings::default();

    let cpu_start = cpu_ns();
    let start = Instant::now();
    let mut bytes = 0usize;
    for n in 0..count {
        let x = &mut templates[n % 3];
        x.screening_id.clear();
        x.screening_id.push_str(&format!("s-{n:012}"));
        x.status = if n % 2 == 0 {
            ExportStatus::Final
        } else {
            ExportStatus::Amended
        };
        let body = result_bundle_json(x, &settings);
        bytes += body.len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{count} bundles (EPDS, SDQ parent 4-17, M-CHAT-R in turn) in {secs:.3} s wall: \
         {:.0} bundles/s, {:.1} MB/s of JSON, mean {} bytes per bundle",
        count as f64 / secs,
        bytes as f64 / secs / 1e6,
        bytes / count.max(1)
    );
    if let (Some(a), Some(b)) = (cpu_start, cpu_ns()) {
        let cpu = (b - a) as f64 / 1e9;
        println!(
            "on-CPU {cpu:.3} s: {:.0} bundles per CPU-second",
            count as f64 / cpu
        );
    }
}
