//! Throughput of `score_lines` (the `ravis score` contract), single-threaded.
//!
//! Run: `cargo bench -p ravis-shared --bench score_lines [-- LINES]` (default 1,000,000).
//! It generates LINES request lines in memory (a fixed mix of instruments, complete and
//! partly missing forms and 1 % bad lines), then times one `score_lines` pass over them,
//! end to end: reading lines, JSON parsing, validation, scoring, JSON output.

use ravis::scoring::Engine;
use std::io::{self, Write};
use std::time::Instant;

/// Counts output bytes so the output is really produced but not stored.
struct CountingSink(u64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A small deterministic generator (SplitMix64), so every run scores the same input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn answers(rng: &mut Rng, items: &[String], codes: u64, missing_percent: u64) -> String {
    let mut out = String::with_capacity(items.len() * 10);
    for item in items {
        if rng.below(100) < missing_percent {
            continue;
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(&format!("\"{item}\": {}", rng.below(codes)));
    }
    out
}

fn generate(lines: usize) -> Vec<u8> {
    let mut rng = Rng(2026);
    let numbered = |n: u32| (1..=n).map(|i| i.to_string()).collect::<Vec<_>>();
    let mut sdq_parent = numbered(25);
    sdq_parent.extend(
        [
            "difficulties",
            "impact_distress",
            "impact_home",
            "impact_friendships",
            "impact_learning",
            "impact_leisure",
        ]
        .map(String::from),
    );
    let mut sdq_teacher = numbered(25);
    sdq_teacher.extend(
        [
            "difficulties",
            "impact_distress",
            "impact_friendships",
            "impact_learning",
        ]
        .map(String::from),
    );
    let mchat = numbered(20);
    let epds = numbered(10);
    let demo = numbered(30);
    let mut out = Vec::with_capacity(lines * 400);
    for n in 0..lines {
        let missing = if rng.below(10) == 0 { 20 } else { 0 };
        let line = match n % 100 {
            0 => "{\"instrument\": \"sdq-parent-4-17\", \"answers\": {\"1\": 7}}".to_owned(),
            1..=40 => format!(
                "{{\"instrument\": \"sdq-parent-4-17\", \"answers\": {{{}}}, \"administered_on\": \"2026-10-01\", \"child\": {{\"birth_date\": \"2019-05-02\", \"sex\": \"female\", \"gestational_age_weeks\": 39}}}}",
                answers(&mut rng, &sdq_parent[..25], 3, missing)
                    + ", \"difficulties\": 1, \"impact_distress\": 2, \"impact_home\": 1, \"impact_friendships\": 0, \"impact_learning\": 3, \"impact_leisure\": 0"
            ),
            41..=60 => format!(
                "{{\"instrument\": \"sdq-teacher-4-17\", \"answers\": {{{}}}, \"administered_on\": \"2026-10-01\", \"child\": {{\"birth_date\": \"2018-02-11\", \"sex\": \"male\"}}}}",
                answers(&mut rng, &sdq_teacher[..25], 3, missing)
            ),
            61..=75 => format!(
                "{{\"instrument\": \"mchat-r\", \"answers\": {{{}}}, \"administered_on\": \"2026-01-20\", \"child\": {{\"birth_date\": \"2024-05-02\", \"sex\": \"male\", \"gestational_age_weeks\": 38}}}}",
                answers(&mut rng, &mchat, 2, missing)
            ),
            76..=90 => format!(
                "{{\"instrument\": \"epds\", \"answers\": {{{}}}, \"administered_on\": \"2026-01-20\", \"child\": {{\"birth_date\": \"2025-12-01\", \"sex\": \"female\"}}}}",
                answers(&mut rng, &epds, 4, missing)
            ),
            _ => format!(
                "{{\"instrument\": \"demo-asq-style\", \"answers\": {{{}}}, \"administered_on\": \"2026-01-20\", \"child\": {{\"birth_date\": \"2025-01-10\", \"sex\": \"female\", \"gestational_age_weeks\": 33}}}}",
                answers(&mut rng, &demo, 3, missing)
            ),
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

/// Nanoseconds this process has run on a CPU (Linux `/proc/self/schedstat`), so a shared,
/// busy machine can still report the cost per line on one core.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lines: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
    let engine = Engine::builtin()?;
    let input = generate(lines);
    let mut sink = CountingSink(0);
    // Warm-up on a slice, so page faults and lazy statics are not timed.
    engine.score_lines(&input[..input.len().min(1 << 20)], io::sink())?;
    let cpu_before = cpu_ns();
    let started = Instant::now();
    let summary = engine.score_lines(&input[..], &mut sink)?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_ns()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before) as f64 / 1e9);
    println!(
        "score_lines: {} lines ({} scored, {} errors), {:.1} MB in, {:.1} MB out, {:.3} s, {:.0} lines/s, {:.2} µs/line",
        summary.lines,
        summary.scored,
        summary.failed,
        input.len() as f64 / 1e6,
        sink.0 as f64 / 1e6,
        elapsed,
        summary.lines as f64 / elapsed,
        elapsed * 1e6 / summary.lines as f64
    );
    if let Some(cpu) = cpu {
        println!(
            "on-CPU: {cpu:.3} s, {:.0} lines per CPU-second",
            summary.lines as f64 / cpu
        );
    }
    Ok(())
}
