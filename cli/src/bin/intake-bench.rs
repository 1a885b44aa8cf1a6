//! Benchmark of the partner-file intake (results in `docs/BENCHMARKS.md`):
//! generates a children CSV of N rows, then measures
//! 1. raw parsing with the `csv` crate (every record, no validation), with its default
//!    buffer and with the intake reader's 64 KiB one,
//! 2. the intake reader alone, then with the children row rules (parse + validate, no
//!    storage), exactly as the import's two passes run them (each parsing step seven
//!    times, interleaved, best time kept),
//! 3. the whole import on the embedded backend (SQLite, `synchronous=FULL`),
//!
//! and prints rows/s and the process's peak resident memory (VmHWM).
//!
//! `cargo run --release -p ravis --bin intake-bench -- [ROWS] [DIR] [--parse-only]` (its
//! files `ravis-bench-children.csv` and `ravis-bench-data/` are replaced; default DIR:
//! `ravis-intake-bench` in the system temporary directory; `--parse-only` skips step 3).

use anyhow::{Context, Result};
use ravis::adapters::embedded::EmbeddedBackend;
use ravis::intake::kinds::children::{COLUMNS, check_child_row, child_from_row};
use ravis::intake::reader::Fields;
use ravis::intake::reader::{RowRef, open_rows};
use ravis::intake::summary::import_id;
use ravis::intake::{Format, ImportRequest, IntakeError, IntakeService, Kind};
use ravis::ports::{BlobReader, RandomIds, SystemClock};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

const GIVEN: &[&str] = &[
    "Anna", "Jānis", "Līga", "Pēteris", "Marta", "Oskars", "Ilze", "Roberts",
];
const FAMILY: &[&str] = &[
    "Bērziņa",
    "Ozols",
    "Kalniņa",
    "Liepa",
    "Priede",
    "Egle",
    "Zariņš",
];

fn main() -> Result<()> {
    let parse_only = std::env::args().any(|a| a == "--parse-only");
    let mut args = std::env::args().skip(1).filter(|a| a != "--parse-only");
    let rows: u64 = match args.next() {
        Some(n) => n.parse().context("ROWS must be a number")?,
        None => 1_000_000,
    };
    let dir: std::path::PathBuf = args.next().map_or_else(
        || std::env::temp_dir().join("ravis-intake-bench"),
        Into::into,
    );
    // Only this benchmark's own files are replaced: the import must not find the previous
    // run's checkpoint.
    std::fs::create_dir_all(&dir)?;
    let data = dir.join("ravis-bench-data");
    if data.exists() {
        std::fs::remove_dir_all(&data).with_context(|| format!("clearing {}", data.display()))?;
    }
    let file = dir.join("ravis-bench-children.csv");
    let started = Instant::now();
    generate(&file, rows)?;
    let size = std::fs::metadata(&file)?.len();
    println!(
        "generated {rows} rows, {:.1} MB in {:.1} s",
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    // The parsing steps take a fraction of a second each, so one run on a shared machine is
    // mostly noise: every step runs RUNS times, the steps interleaved (a slower spell of
    // the machine hits all of them alike), and each step's best time is kept.
    let today = chrono::Utc::now().date_naive();
    let raw_csv = |buffer: Option<usize>| {
        let file = file.clone();
        move || {
            let mut builder = csv::ReaderBuilder::new();
            if let Some(capacity) = buffer {
                builder.buffer_capacity(capacity);
            }
            let mut reader = builder.from_path(&file)?;
            let mut record = csv::ByteRecord::new();
            let mut rows = 0u64;
            while reader.read_byte_record(&mut record)? {
                rows += 1;
            }
            Ok((rows, 0))
        }
    };
    let mut steps: Vec<(&str, Box<Step>)> = vec![
        (
            "raw csv parsing (csv::ByteRecord, default 8 KiB buffer)",
            Box::new(raw_csv(None)),
        ),
        (
            "raw csv parsing (csv::ByteRecord, 64 KiB buffer as the intake reader's)",
            Box::new(raw_csv(Some(64 * 1024))),
        ),
        (
            "intake reader alone (header check, NUL/line/UTF-8 guard, borrowed values)",
            Box::new(rules_step(&file, |_| false)),
        ),
        // Parse + validate as the import's validation pass (pass 1) does: every rule,
        // keeping nothing (`check_child_row`) ...
        (
            "intake reader + children rules (pass 1: check)",
            Box::new(rules_step(&file, move |fields| {
                check_child_row(fields, today).is_err()
            })),
        ),
        // ... and as the commit pass (pass 2) does: also building the row it stores.
        (
            "intake reader + children rules + owned row (pass 2)",
            Box::new(rules_step(&file, move |fields| {
                child_from_row(fields, today).is_err()
            })),
        ),
    ];
    let mut best: Vec<Option<Timing>> = (0..steps.len()).map(|_| None).collect();
    for _ in 0..RUNS {
        for ((_, step), best) in steps.iter_mut().zip(&mut best) {
            let timing = measure(step)?;
            *best = Some(match best.take() {
                Some(b) if b.wall <= timing.wall => b,
                _ => timing,
            });
        }
    }
    let best: Vec<Timing> = best
        .into_iter()
        .map(|b| b.context("no run"))
        .collect::<Result<_>>()?;
    for ((what, _), timing) in steps.iter().zip(&best) {
        report(what, timing);
    }
    let (raw, check, build) = (&best[1], &best[3], &best[4]);
    println!(
        "valid {}, invalid {} (pass 1)",
        check.rows - check.invalid,
        check.invalid
    );
    println!(
        "parse+validate (pass 1) / raw = {:.2}x ({:.2}x against the default buffer); \
         with the owned row (pass 2) = {:.2}x",
        check.wall / raw.wall,
        check.wall / best[0].wall,
        build.wall / raw.wall,
    );
    println!("peak RSS so far {}", peak_rss());

    if parse_only {
        return Ok(());
    }
    let backend = EmbeddedBackend::open(&data)?;
    let service = IntakeService::new(
        backend.records(),
        Arc::new(SystemClock),
        Arc::new(RandomIds),
        b"benchmark-identity-key-0123456789abcdef",
    );
    let request = ImportRequest {
        import_id: import_id(&["bench", &file.display().to_string()]),
        file: file.display().to_string(),
        kind: Kind::Children,
        format: Format::Csv,
        strict: false,
        organisation: "bench".into(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let t = Instant::now();
    let outcome = runtime.block_on(service.import(&request, || {
        let file = file.clone();
        async move {
            let f = tokio::fs::File::open(&file)
                .await
                .map_err(|e| IntakeError::Open(Box::new(e)))?;
            Ok::<BlobReader, IntakeError>(Box::pin(f))
        }
    }))?;
    let import_secs = t.elapsed().as_secs_f64();
    println!(
        "full import, embedded backend: {rows} rows in {import_secs:.2} s = {:.0} rows/s; peak RSS so far {}",
        rows as f64 / import_secs,
        peak_rss()
    );
    let s = &outcome.summary;
    println!(
        "  inserted {}, updated {}, unchanged {}, rejected {}, possible duplicates {}",
        s.inserted, s.updated, s.unchanged, s.rejected, s.possible_duplicates
    );
    println!("  records.db: {:.1} MB", dir_size(&data) as f64 / 1e6);
    Ok(())
}

/// A parsing step: one run over the file, returning the rows read and the rows rejected.
type Step = dyn FnMut() -> Result<(u64, u64)>;

/// How many times each parsing step runs.
const RUNS: usize = 7;

/// One run of one step.
struct Timing {
    rows: u64,
    /// Rows the step's rules rejected.
    invalid: u64,
    /// Wall-clock seconds.
    wall: f64,
    /// Seconds on a CPU (Linux), the cost on one core even when the machine is busy.
    cpu: Option<f64>,
}

fn measure(step: &mut Step) -> Result<Timing> {
    let cpu = cpu_secs();
    let t = Instant::now();
    let (rows, invalid) = step()?;
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu.zip(cpu_secs()).map(|(a, b)| b - a);
    Ok(Timing {
        rows,
        invalid,
        wall,
        cpu,
    })
}

fn report(what: &str, t: &Timing) {
    println!(
        "{what}: {} rows in {:.3} s = {:.0} rows/s (on-CPU {})",
        t.rows,
        t.wall,
        t.rows as f64 / t.wall,
        t.cpu
            .map_or_else(|| "unknown".into(), |c| format!("{c:.3} s")),
    );
}

/// Seconds this thread (the main thread runs the parsing steps) has run on a CPU, from
/// Linux `/proc/self/schedstat`.
fn cpu_secs() -> Option<f64> {
    let ns: u64 = std::fs::read_to_string("/proc/self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(ns as f64 / 1e9)
}

/// VmHWM of this process (Linux), e.g. `23456 kB`.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().to_owned()))
        })
        .unwrap_or_else(|| "unknown".into())
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Two thirds of the rows carry a unique new-format personal code, one third none; one row
/// in a thousand has an invalid birth date (as real files do).
fn generate(path: &Path, rows: u64) -> Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(out, "{}", COLUMNS.join(","))?;
    let base = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).context("date")?;
    for i in 0..rows {
        let code = if i % 3 == 2 {
            String::new()
        } else {
            format!("3{}{:09}", 2 + (i % 8), i)
        };
        let born = base + chrono::Days::new(i % 2000);
        let born = if i % 1000 == 999 {
            "2024-02-30".to_owned()
        } else {
            born.to_string()
        };
        let sex = if i % 2 == 0 { "female" } else { "male" };
        let weeks = if i % 4 == 0 {
            String::new()
        } else {
            (34 + i % 8).to_string()
        };
        writeln!(
            out,
            "{code},{},{} {},{born},{sex},{weeks},{:07}",
            GIVEN[(i % 8) as usize],
            FAMILY[(i % 7) as usize],
            i / 56,
            (i % 119) * 10_000 + 10_000
        )?;
    }
    out.flush()?;
    Ok(())
}

/// A step that reads the file through the intake reader and applies `invalid` (the rules)
/// to each row: it counts the rows and the invalid ones.
fn rules_step(
    file: &std::path::Path,
    mut invalid: impl FnMut(Fields<'_>) -> bool + 'static,
) -> impl FnMut() -> Result<(u64, u64)> + 'static {
    let file = file.to_path_buf();
    move || {
        let file_reader = std::io::BufReader::new(std::fs::File::open(&file)?);
        let mut rows = open_rows(file_reader, Format::Csv, COLUMNS)?;
        let (mut count, mut rejected) = (0u64, 0u64);
        while let Some(row) = rows.next_fields()? {
            count += 1;
            match row {
                RowRef::Values { fields, .. } => {
                    if invalid(fields) {
                        rejected += 1;
                    }
                }
                RowRef::Malformed { .. } => rejected += 1,
            }
        }
        Ok((count, rejected))
    }
}
