//! Throughput of the analytics lake's Parquet encode and columnar decode (`statistics::lake`).
//!
//! Run: `cargo bench -p ravis-shared --features lake --bench lake [-- ROWS]` (default
//! 10,000,000). It builds ROWS result rows in memory (a fixed mix of pseudonyms, dates,
//! municipalities, instruments and risk levels), then times `write_results` and
//! `read_results` over them, and prints rows per second and the file size.

use bytes::Bytes;
use chrono::NaiveDate;
use ravis::statistics::lake::{ResultRow, age_band, read_results, write_results};
use std::time::Instant;

fn rows(n: usize) -> Vec<ResultRow> {
    let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    let instruments = ["mchat-r", "asq3-24", "sdq-parent", "ages-stages"];
    let levels = ["low", "medium", "high", "urgent"];
    (0..n)
        .map(|i| {
            let child = i / 3;
            let age = (child % 18) as i32;
            ResultRow {
                child: format!(
                    "{:064x}",
                    (child as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ),
                administered_on: start + chrono::Days::new((i % 365) as u64),
                year: 2026,
                age_years: age,
                age_band: age_band(age),
                sex: if child % 2 == 0 { "female" } else { "male" },
                municipality: (child % 50 != 0).then(|| format!("00{:02}000", child % 43 + 1)),
                instrument: instruments[i % 4].to_string(),
                instrument_version: "1.0.0".to_string(),
                risk_level: levels[(i * 7) % 10 / 3],
                scores: format!("{{\"total\":{}}}", i % 40),
                bands: "{\"total\":\"typical\"}".to_string(),
                recommendation_kinds: if i % 5 == 0 {
                    "rescreen".into()
                } else {
                    String::new()
                },
                follow_ups: Default::default(),
            }
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map_or(Ok(10_000_000), |a| a.parse())?;
    let rows = rows(n);
    let started = Instant::now();
    let bytes = write_results(&rows)?;
    let encode = started.elapsed();
    let size = bytes.len();
    let started = Instant::now();
    let columns = read_results(Bytes::from(bytes))?;
    let decode = started.elapsed();
    assert_eq!(columns.len(), n);
    let per_second = |d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!(
        "lake results, {n} rows: encode {:.2} s ({:.0} rows/s), decode {:.2} s ({:.0} rows/s), {:.1} MB",
        encode.as_secs_f64(),
        per_second(encode),
        decode.as_secs_f64(),
        per_second(decode),
        size as f64 / 1e6
    );
    Ok(())
}
