//! Re-scoring: when a definition changes, old results keep their version and a re-score
//! writes a new result beside them; re-scoring with unchanged versions writes nothing.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions, SqliteQueue, SqliteRecordStore};
use ravis::app::App;
use ravis::domain::{Principal, Role, ScreeningId};
use ravis::ports::Queue;
use ravis::scoring::Engine;
use ravis::services::ServiceError;
use ravis::services::children::NewChildInput;
use ravis::services::scoring_worker::{Outcome, ScoringWorker};
use ravis::services::screenings::NewScreeningInput;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn principal(role: Role) -> Principal {
    Principal {
        subject: "s".into(),
        roles: vec![role],
        organisation: "o".into(),
        territory: None,
        purpose: None,
    }
}

/// The shipped engine with the M-CHAT-R definition re-issued as version 1.1.1.
fn engine_with_new_mchat_version() -> Engine {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/instruments");
    let files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let mut text = std::fs::read_to_string(&p).unwrap();
            if name == "mchat-r.json" {
                let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
                v["version"] = json!("1.1.1");
                text = v.to_string();
            }
            (name, text)
        })
        .collect();
    Engine::from_sources(files.iter().map(|(n, t)| (n.as_str(), t.as_str()))).unwrap()
}

async fn drain(queue: &SqliteQueue, worker: &ScoringWorker<SqliteRecordStore>) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for m in queue
        .receive(10, Duration::from_secs(30), Duration::from_millis(200))
        .await
        .unwrap()
    {
        outcomes.push(worker.handle(&m.body).await.unwrap());
        queue.ack(&m.receipt).await.unwrap();
    }
    outcomes
}

#[tokio::test]
async fn a_new_definition_version_adds_a_result_and_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    let records = backend.records();
    let queue = backend.queue("scoring", QueueOptions::default()).unwrap();
    // Version 1 is the built-in definitions; version 2 changes M-CHAT-R.
    let app = App::new(records.clone(), &[3; 32], &[6; 32]).unwrap();
    let v2 = app
        .clone()
        .with_engine(Arc::new(engine_with_new_mchat_version()));
    let children = app.children();
    let screenings = app.screenings(queue.clone());
    let worker_v1 = app.scoring_worker();
    let worker_v2 = v2.scoring_worker();
    let nurse = principal(Role::HealthSpecialist);
    let admin = principal(Role::RegistryAdministrator);

    let child: NewChildInput =
        serde_json::from_value(json!({"given_name": "A", "family_name": "B",
        "birth_date": "2024-10-01", "sex": "female"}))
        .unwrap();
    let child_id = children
        .register(&nurse, "test-request", child, None)
        .await
        .unwrap()
        .body["id"]
        .clone();
    let answers: serde_json::Map<String, serde_json::Value> =
        (1..=20).map(|i| (i.to_string(), json!(1))).collect();
    let input: NewScreeningInput =
        serde_json::from_value(json!({"child_id": child_id, "instrument": "mchat-r",
        "administered_on": "2026-11-20", "answers": answers}))
        .unwrap();
    let id: ScreeningId = serde_json::from_value(
        screenings
            .submit(&nurse, "test-request", input, None)
            .await
            .unwrap()
            .body["id"]
            .clone(),
    )
    .unwrap();
    assert_eq!(drain(&queue, &worker_v1).await, vec![Outcome::Scored]);

    // Same versions: a re-score is a no-op.
    assert_eq!(
        screenings
            .rescore(&admin, "test-request", id)
            .await
            .unwrap()
            .status,
        202
    );
    assert_eq!(
        drain(&queue, &worker_v1).await,
        vec![Outcome::AlreadyScored]
    );
    assert_eq!(
        screenings
            .get(&nurse, "test-request", id)
            .await
            .unwrap()
            .body["results"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A new definition version: a second result, the first kept with its version.
    screenings
        .rescore(&admin, "test-request", id)
        .await
        .unwrap();
    assert_eq!(drain(&queue, &worker_v2).await, vec![Outcome::Scored]);
    let body = screenings
        .get(&nurse, "test-request", id)
        .await
        .unwrap()
        .body;
    let history = body["results"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["instrument_version"], "1.1.0");
    assert_eq!(history[1]["instrument_version"], "1.1.1");
    assert_eq!(body["result"]["instrument_version"], "1.1.1");
    assert_eq!(body["status"], "scored");

    // Only registry administrators may ask for a re-score; unknown screenings are 404.
    assert!(matches!(
        screenings.rescore(&nurse, "test-request", id).await,
        Err(ServiceError::Forbidden(_))
    ));
    let unknown: ScreeningId = "0190f3c4-6d1e-7a3b-8c2d-123456789abc".parse().unwrap();
    assert!(matches!(
        screenings.rescore(&admin, "test-request", unknown).await,
        Err(ServiceError::NotFound(_))
    ));
}
