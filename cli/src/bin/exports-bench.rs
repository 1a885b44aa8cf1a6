//! Benchmark of the exports worker end to end on the embedded backend (results in
//! `docs/BENCHMARKS.md`): N children with personal codes, each with one scored M-CHAT-R
//! (recorded with its export job by the scoring worker, as in `ravis serve`); then the time
//! the exports worker takes to deliver every job from the durable local queue: claim, read
//! the result, submission, child and organisation, build the FHIR Bundle, sign the
//! X-Provenance (ES256, key file), write it whole to the local outbox (fsync), and record
//! `accepted` with the disclosure in the child's audit chain (one atomic write, archived).
//!
//! `cargo run --release -p ravis --bin exports-bench -- [CHILDREN] [DIR]`
//! (defaults 2000, `ravis-exports-bench` in the system temporary directory, rebuilt).

use anyhow::{Context, Result};
use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions};
use ravis::adapters::outbox::FileOutbox;
use ravis::adapters::signing::KeyFileSigner;
use ravis::app::App;
use ravis::domain::{Principal, Role};
use ravis::fhir::FhirSettings;
use ravis::ports::Queue;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The personal code of child `n`: `32` and nine digits (the new format has no check digit
/// tied to a birth date).
fn code(n: usize) -> String {
    format!("32{:09}", 100_000_000 + n)
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let children: usize = args.next().map_or(Ok(2000), |a| a.parse())?;
    let dir = args.next().map_or_else(
        || std::env::temp_dir().join("ravis-exports-bench"),
        Into::into,
    );
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let backend = EmbeddedBackend::open(&dir)?;
    let options = QueueOptions::default();
    let scoring = backend.queue("scoring", options.clone())?;
    let exports = backend.queue("exports", options)?;
    let app = App::embedded(&backend, &[4; 32], &[6; 32])?.with_export_queue(exports.clone());
    let nurse = Principal {
        subject: "bench".into(),
        roles: vec![Role::HealthSpecialist],
        organisation: "clinic".into(),
        territory: None,
        purpose: None,
    };
    let screenings = app.screenings(scoring.clone());
    let birth = chrono::Utc::now()
        .date_naive()
        .checked_sub_months(chrono::Months::new(20))
        .context("date")?;
    let answers: serde_json::Map<String, serde_json::Value> =
        (1..=20).map(|i| (i.to_string(), json!(1))).collect();
    for n in 0..children {
        let child = app
            .children()
            .register(
                &nurse,
                "bench",
                serde_json::from_value(json!({"personal_code": code(n), "given_name": "Anna",
                    "family_name": format!("Bench{n}"), "birth_date": birth, "sex": "female"}))?,
                None,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        screenings
            .submit(
                &nurse,
                "bench",
                serde_json::from_value(
                    json!({"child_id": child.body["id"], "instrument": "mchat-r",
                    "administered_on": chrono::Utc::now().date_naive(), "answers": answers}),
                )?,
                None,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    let worker = app.scoring_worker();
    loop {
        let batch = scoring
            .receive(10, Duration::from_secs(60), Duration::from_millis(10))
            .await?;
        if batch.is_empty() {
            break;
        }
        for m in batch {
            worker
                .handle(&m.body)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            scoring.ack(&m.receipt).await?;
        }
    }
    let signer = KeyFileSigner::generate(&dir.join("keys").join("fhir-signing.pem"))?;
    let outbox = dir.join("outbox");
    let exporter = app.exports_worker(
        FileOutbox::new(&outbox),
        FileOutbox::new(&outbox),
        signer,
        Arc::new(FhirSettings::default()),
    )?;
    let started = Instant::now();
    let mut delivered = 0usize;
    loop {
        let batch = exports
            .receive(10, Duration::from_secs(60), Duration::from_millis(10))
            .await?;
        if batch.is_empty() {
            break;
        }
        for m in batch {
            exporter
                .handle(&m.body)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            exports.ack(&m.receipt).await?;
            delivered += 1;
        }
    }
    let elapsed = started.elapsed();
    let files = std::fs::read_dir(outbox.join("health"))?.count();
    println!(
        "{delivered} export jobs delivered in {:.2} s: {:.0} exports/s ({files} outbox files, one worker, embedded backend)",
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
