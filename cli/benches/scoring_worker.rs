//! Throughput of the queue-driven scoring worker on the embedded backend: N screenings are
//! submitted through the use case (validated, stored, queued), then the same consumer loop
//! `ravis serve` runs scores them all (receive batch → score → atomic result write → ack).
//!
//! `cargo bench -p ravis --bench scoring_worker -- [N]` (default N = 20000). Prints
//! submissions/s and scored/s; figures go to docs/BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions};
use ravis::domain::{Principal, Role};
use ravis::inbound::sqs::{ConsumerOptions, run_consumer};
use ravis::ports::{Clock, IdGenerator, RandomIds, SystemClock};
use ravis::scoring::Engine;
use ravis::services::audit::AuditTrail;
use ravis::services::children::{ChildrenService, NewChildInput};
use ravis::services::scoring_worker::ScoringWorker;
use ravis::services::screenings::{NewScreeningInput, ScreeningsService};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(n));
}

async fn run(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    let records = backend.records();
    let queue = backend.queue("scoring", QueueOptions::default()).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ids: Arc<dyn IdGenerator> = Arc::new(RandomIds);
    let engine = Arc::new(Engine::builtin().unwrap());
    let nurse = Principal {
        subject: "bench".into(),
        roles: vec![Role::HealthSpecialist],
        organisation: "bench".into(),
        territory: None,
        purpose: None,
    };
    let children = ChildrenService::new(
        records.clone(),
        clock.clone(),
        ids.clone(),
        &[1; 32],
        AuditTrail::new(records.clone(), &[6; 32], clock.clone(), None),
    );
    let child: NewChildInput = serde_json::from_value(
        json!({"given_name": "A", "family_name": "B", "birth_date": "2024-10-01", "sex": "female"}),
    )
    .unwrap();
    let child_id = children
        .register(&nurse, "test-request", child, None)
        .await
        .unwrap()
        .body["id"]
        .clone();
    let screenings = ScreeningsService::new(
        records.clone(),
        queue.clone(),
        clock.clone(),
        ids.clone(),
        engine.clone(),
        AuditTrail::new(records.clone(), &[6; 32], clock.clone(), None),
    );

    let started = Instant::now();
    for i in 0..n {
        let answers: serde_json::Map<String, serde_json::Value> = (1..=20)
            .map(|item| (item.to_string(), json!((i + item) % 2)))
            .collect();
        let input: NewScreeningInput =
            serde_json::from_value(json!({"child_id": child_id, "instrument": "mchat-r",
            "administered_on": "2026-11-20", "answers": answers}))
            .unwrap();
        screenings
            .submit(&nurse, "test-request", input, None)
            .await
            .unwrap();
    }
    let submit_secs = started.elapsed().as_secs_f64();

    let worker = Arc::new(ScoringWorker::new(records.clone(), clock, ids, engine));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let consumer_queue = queue.clone();
    let consumer_worker = Arc::clone(&worker);
    let started = Instant::now();
    let consumer = tokio::spawn(async move {
        let options = ConsumerOptions {
            wait: Duration::from_millis(50),
            ..ConsumerOptions::default()
        };
        run_consumer(
            "bench",
            &consumer_queue,
            options,
            stop_rx,
            &*consumer_worker,
        )
        .await;
    });
    // Done when the queue is empty: nothing visible and nothing in flight.
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if backend_queue_empty(&queue).await {
            break;
        }
    }
    let score_secs = started.elapsed().as_secs_f64();
    stop_tx.send(true).unwrap();
    consumer.await.unwrap();
    println!("screenings: {n}");
    println!(
        "submit (validate + store + enqueue): {:.0}/s ({submit_secs:.2} s)",
        n as f64 / submit_secs
    );
    println!(
        "score via queue consumer (receive + score + transact + ack): {:.0}/s ({score_secs:.2} s)",
        n as f64 / score_secs
    );
}

async fn backend_queue_empty(queue: &ravis::adapters::embedded::SqliteQueue) -> bool {
    queue
        .approximate_counts()
        .await
        .map(|(visible, in_flight)| visible == 0 && in_flight == 0)
        .unwrap_or(false)
}
