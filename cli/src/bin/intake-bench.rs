//! Benchmark of the partner-file intake (results in `docs/BENCHMARKS.md`):
//! generates a children CSV of N rows, then measures
//! 1. raw parsing with the `csv` crate (every record, no validation),
//! 2. the intake reader + the children row rules (parse + validate, no storage),
//! 3. the whole import on the embedded backend (SQLite, `synchronous=FULL`),
//!
//! and prints rows/s and the process's peak resident memory (VmHWM) after each step.
//!
//! `cargo run --release -p ravis --bin intake-bench -- [ROWS] [DIR]` (its files
//! `ravis-bench-children.csv` and `ravis-bench-data/` are replaced; default DIR:
//! `ravis-intake-bench` in the system temporary directory).

use anyhow::{Context, Result};
use ravis::adapters::embedded::EmbeddedBackend;
use ravis::intake::children::{COLUMNS, child_from_row};
use ravis::intake::reader::{RawRow, open_rows};
use ravis::intake::service::import_id;
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
    let mut args = std::env::args().skip(1);
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

    let t = Instant::now();
    let mut reader = csv::ReaderBuilder::new().from_path(&file)?;
    let mut record = csv::ByteRecord::new();
    let mut raw = 0u64;
    while reader.read_byte_record(&mut record)? {
        raw += 1;
    }
    let raw_secs = t.elapsed().as_secs_f64();
    report("raw csv parsing (csv::ByteRecord)", raw, raw_secs);

    let t = Instant::now();
    let file_reader = std::io::BufReader::new(std::fs::File::open(&file)?);
    let mut split = 0u64;
    for row in open_rows(file_reader, Format::Csv, COLUMNS)? {
        row?;
        split += 1;
    }
    let split_secs = t.elapsed().as_secs_f64();
    report(
        "intake reader alone (header check, UTF-8, owned values)",
        split,
        split_secs,
    );

    let t = Instant::now();
    let today = chrono::Utc::now().date_naive();
    let (mut valid, mut invalid) = (0u64, 0u64);
    let file_reader = std::io::BufReader::new(std::fs::File::open(&file)?);
    for row in open_rows(file_reader, Format::Csv, COLUMNS)? {
        match row? {
            RawRow::Values { values, .. } => match child_from_row(values, today) {
                Ok(_) => valid += 1,
                Err(_) => invalid += 1,
            },
            RawRow::Malformed { .. } => invalid += 1,
        }
    }
    let validate_secs = t.elapsed().as_secs_f64();
    report(
        "intake reader + children rules",
        valid + invalid,
        validate_secs,
    );
    println!(
        "  valid {valid}, invalid {invalid}; parse+validate / raw = {:.2}x",
        validate_secs / raw_secs
    );

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
    report("full import, embedded backend", rows, import_secs);
    let s = &outcome.summary;
    println!(
        "  inserted {}, updated {}, unchanged {}, rejected {}, possible duplicates {}",
        s.inserted, s.updated, s.unchanged, s.rejected, s.possible_duplicates
    );
    println!("  records.db: {:.1} MB", dir_size(&data) as f64 / 1e6);
    Ok(())
}

fn report(what: &str, rows: u64, secs: f64) {
    println!(
        "{what}: {rows} rows in {secs:.2} s = {:.0} rows/s; peak RSS so far {}",
        rows as f64 / secs,
        peak_rss()
    );
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
