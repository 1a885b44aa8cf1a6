//! The same engine everywhere: for the same screenings, `ravis score` (the CLI), the
//! scoring worker behind `POST /screenings`, and the API's validation agree exactly.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions};
use ravis::app::App;
use ravis::domain::{Principal, Role};
use ravis::ports::Queue;
use ravis::services::ServiceError;
use ravis::services::children::NewChildInput;
use ravis::services::screenings::NewScreeningInput;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Screenings of three instruments, each with its child's facts.
fn cases() -> Vec<Value> {
    let sdq: serde_json::Map<String, Value> =
        (1..=25).map(|i| (i.to_string(), json!(i % 3))).collect();
    let mut sdq = Value::Object(sdq);
    sdq["difficulties"] = json!(2);
    for item in [
        "impact_distress",
        "impact_home",
        "impact_friendships",
        "impact_learning",
        "impact_leisure",
    ] {
        sdq[item] = json!(2);
    }
    let epds: serde_json::Map<String, Value> = (1..=10)
        .map(|i| (i.to_string(), json!(if i == 10 { 1 } else { 0 })))
        .collect();
    let mchat: serde_json::Map<String, Value> =
        (1..=20).map(|i| (i.to_string(), json!(i % 2))).collect();
    vec![
        json!({"instrument": "sdq-parent-4-17", "answers": sdq, "administered_on": "2026-10-01",
               "child": {"birth_date": "2019-05-02", "sex": "female", "gestational_age_weeks": 39}}),
        json!({"instrument": "epds", "answers": epds, "administered_on": "2026-10-01",
               "child": {"birth_date": "2026-09-01", "sex": "male", "gestational_age_weeks": null}}),
        json!({"instrument": "mchat-r", "answers": mchat, "administered_on": "2026-11-20",
               "child": {"birth_date": "2025-01-10", "sex": "male", "gestational_age_weeks": 34}}),
    ]
}

fn cli_results(lines: &[Value]) -> Vec<Value> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ravis"))
        .arg("score")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for line in lines {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn cli_worker_and_api_give_identical_results() {
    let cases = cases();
    let from_cli = cli_results(&cases);
    assert_eq!(from_cli.len(), cases.len());

    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    let records = backend.records();
    let queue = backend.queue("scoring", QueueOptions::default()).unwrap();
    let app = App::new(records.clone(), &[5; 32], &[6; 32]).unwrap();
    let nurse = Principal {
        subject: "n".into(),
        roles: vec![Role::HealthSpecialist],
        organisation: "o".into(),
        territory: None,
        purpose: None,
    };
    let children = app.children();
    let screenings = app.screenings(queue.clone());
    let worker = app.scoring_worker();

    for (case, expected) in cases.iter().zip(&from_cli) {
        let facts = &case["child"];
        let child: NewChildInput = serde_json::from_value(json!({"given_name": "A", "family_name": "B",
            "birth_date": facts["birth_date"], "sex": facts["sex"], "gestational_age_weeks": facts["gestational_age_weeks"]}))
        .unwrap();
        let child_id = children
            .register(&nurse, "test-request", child, None)
            .await
            .unwrap()
            .body["id"]
            .clone();
        let input: NewScreeningInput = serde_json::from_value(
            json!({"child_id": child_id, "instrument": case["instrument"],
            "administered_on": case["administered_on"], "answers": case["answers"]}),
        )
        .unwrap();
        let id = screenings
            .submit(&nurse, "test-request", input, None)
            .await
            .unwrap()
            .body["id"]
            .clone();
        for m in queue
            .receive(10, Duration::from_secs(30), Duration::from_millis(500))
            .await
            .unwrap()
        {
            worker.handle(&m.body).await.unwrap();
            queue.ack(&m.receipt).await.unwrap();
        }
        let mut stored = screenings
            .get(&nurse, "test-request", serde_json::from_value(id).unwrap())
            .await
            .unwrap()
            .body["result"]
            .clone();
        // What the store adds around the engine's result.
        for added in ["result_id", "screening_id", "child_id", "scored_at"] {
            stored.as_object_mut().unwrap().remove(added);
        }
        assert_eq!(&stored, expected, "{}", case["instrument"]);
    }

    // The API refuses exactly what the CLI refuses, naming the same field.
    let mut bad = cases[1].clone();
    bad["answers"]["3"] = json!(7);
    let cli_error = &cli_results(std::slice::from_ref(&bad))[0];
    let child: NewChildInput = serde_json::from_value(
        json!({"given_name": "A", "family_name": "B", "birth_date": "2026-09-01", "sex": "male"}),
    )
    .unwrap();
    let child_id = children
        .register(&nurse, "test-request", child, None)
        .await
        .unwrap()
        .body["id"]
        .clone();
    let input: NewScreeningInput =
        serde_json::from_value(json!({"child_id": child_id, "instrument": "epds",
        "administered_on": "2026-10-01", "answers": bad["answers"]}))
        .unwrap();
    let Err(ServiceError::Validation(api_errors)) =
        screenings.submit(&nurse, "test-request", input, None).await
    else {
        panic!("the API accepted what the CLI refused");
    };
    assert_eq!(cli_error["errors"][0]["field"], json!(api_errors[0].field));
    assert_eq!(
        cli_error["errors"][0]["reason"],
        json!(api_errors[0].reason)
    );
}
