//! Benchmark of the exports worker end to end on the embedded backend (results in
//! `docs/BENCHMARKS.md`): N children with personal codes, each with one scored M-CHAT-R
//! (recorded with its export job by the scoring worker, as in `ravis serve`); then the time
//! the exports worker takes to deliver every job from the durable local queue: claim, read
//! the result, submission, child and organisation, build the FHIR Bundle, sign the
//! X-Provenance (ES256, key file), write it whole to the local outbox (fsync), and record
//! `accepted` with the disclosure in the child's audit chain (one atomic write, archived).
//!
//! With `--fhir-url URL` the Bundles go to that FHIR server instead (the loopback test
//! receiver of `scripts/exports-bench.sh`): each job is submitted (`202`), then polled until
//! the receiver answers its transaction (the test receiver: `x-progress: new`, then the
//! response Bundle); the poll interval is zero here, so the figure is the worker's own cost
//! per job with three HTTP exchanges, not the receiver's pace.
//!
//! `cargo run --release -p ravis --bin exports-bench -- [CHILDREN] [DIR] [--fhir-url URL]`
//! (defaults 2000, `ravis-exports-bench` in the system temporary directory, rebuilt).

use anyhow::{Context, Result};
use ravis::adapters::delivery::Delivery;
use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions};
use ravis::adapters::fhir_http::FhirHttpReceiver;
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
    let mut fhir_url = None;
    let mut positional = Vec::new();
    let mut all = std::env::args().skip(1);
    while let Some(arg) = all.next() {
        match arg.as_str() {
            "--fhir-url" => fhir_url = Some(all.next().context("--fhir-url needs a URL")?),
            _ => positional.push(arg),
        }
    }
    let mut args = positional.into_iter();
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
    let health = match &fhir_url {
        Some(url) => Delivery::Http(
            FhirHttpReceiver::new(url, Duration::from_secs(30), None)
                .map_err(|e| anyhow::anyhow!("--fhir-url {url}: {e}"))?,
        ),
        None => Delivery::Outbox(FileOutbox::new(&outbox)),
    };
    let exporter = app
        .exports_worker(
            health,
            FileOutbox::new(&outbox),
            signer,
            Arc::new(FhirSettings::default()),
        )?
        .with_policy(ravis::domain::export::RetryPolicy {
            poll_every: Duration::ZERO,
            ..Default::default()
        });
    let notify = ravis::services::exports::QueueNotify(exports.clone());
    let started = Instant::now();
    let mut handled = 0usize;
    loop {
        let batch = exports
            .receive(10, Duration::from_secs(60), Duration::from_millis(10))
            .await?;
        if batch.is_empty() {
            // Jobs the receiver is still working on are due again at once: the sweep
            // queues them (as the exports-sweep schedule does in AWS).
            let report =
                ravis::services::exports::sweep::sweep(&app.records, &notify, chrono::Utc::now())
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            if report.queued == 0 {
                break;
            }
            continue;
        }
        for m in batch {
            exporter
                .handle(&m.body)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            exports.ack(&m.receipt).await?;
            handled += 1;
        }
    }
    let elapsed = started.elapsed();
    let accepted = ravis::store::exports::count_in_state(
        &app.records,
        ravis::domain::export::ExportTarget::Health,
        ravis::domain::export::ExportState::Accepted,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(
        accepted == children,
        "{accepted} of {children} health exports accepted"
    );
    println!(
        "{accepted} health exports accepted in {:.2} s: {:.0} exports/s ({handled} messages handled; {}; one worker, embedded backend)",
        elapsed.as_secs_f64(),
        accepted as f64 / elapsed.as_secs_f64(),
        match &fhir_url {
            Some(url) => format!("FHIR server {url}"),
            None => "local outbox".to_owned(),
        }
    );
    Ok(())
}
