//! An export in flight survives `kill -9` of `ravis serve` and is never duplicated: a FHIR
//! receiver on loopback (conditional create by identifier, the async protocol) holds the
//! first submission while the server is killed; after the restart the job is sent again
//! once its lease runs out, and every resource exists exactly once.

use crate::support::Server;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Receiver {
    posts: usize,
    /// identifier → how many times a resource was created with it.
    created: BTreeMap<String, usize>,
    jobs: Vec<Value>,
}

type Shared = Arc<Mutex<Receiver>>;

async fn submit(State(state): State<Shared>, body: Bytes) -> Response {
    let first = {
        let mut r = state.lock().expect("receiver state");
        r.posts += 1;
        r.posts == 1
    };
    if first {
        // Long enough for the test to kill the server while this request is open.
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
    let bundle: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut r = state.lock().expect("receiver state");
    let mut out = Vec::new();
    for e in bundle["entry"].as_array().cloned().unwrap_or_default() {
        let condition = e["request"]["ifNoneExist"]
            .as_str()
            .or_else(|| e["request"]["url"].as_str())
            .unwrap_or_default()
            .to_owned();
        let count = r.created.entry(condition).or_default();
        let status = if *count == 0 { "201 Created" } else { "200 OK" };
        if *count == 0 {
            *count = 1;
        }
        out.push(json!({"response": {"status": status}}));
    }
    r.jobs
        .push(json!({"resourceType": "Bundle", "type": "batch-response", "entry": out}));
    let n = r.jobs.len() - 1;
    let mut response = StatusCode::ACCEPTED.into_response();
    response.headers_mut().insert(
        "content-location",
        format!("_job/{n}").parse().expect("header"),
    );
    response
}

async fn poll(State(state): State<Shared>, Path(n): Path<usize>) -> Response {
    let r = state.lock().expect("receiver state");
    match r.jobs.get(n) {
        Some(answer) => (StatusCode::OK, answer.to_string()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[test]
fn an_export_in_flight_survives_kill_9_and_is_not_duplicated() {
    let state: Shared = Arc::default();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/fhir", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/fhir", post(submit))
        .route("/fhir/_job/{n}", get(poll))
        .with_state(state.clone());
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let args = ["--fhir-url", url.as_str()];
    let lease = [("RAVIS_EXPORT_LEASE_SECONDS", "2")];
    let server = Server::start_with(dir.path(), true, &args, &lease);
    let child = crate::serve::register_child(&server);
    let r = crate::serve::submit(&server, &child, None);
    assert_eq!(r.status, 202, "{}", r.body);
    let deadline = Instant::now() + Duration::from_secs(30);
    while state.lock().expect("receiver state").posts == 0 {
        assert!(Instant::now() < deadline, "the export was never sent");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The receiver holds the first submission: the server dies with the export in flight.
    server.kill_9();

    let server = Server::start_with(dir.path(), true, &args, &lease);
    let op = std::process::Command::new(env!("CARGO_BIN_EXE_ravis"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["token", "--role", "integration_operator", "--org", "ops"])
        .output()
        .unwrap();
    let auth = format!("Bearer {}", String::from_utf8(op.stdout).unwrap().trim());
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let list = crate::support::http::request(
            &server.addr,
            "GET",
            "/exports?target=health",
            &[("Authorization", auth.as_str())],
            None,
        )
        .unwrap()
        .json();
        let job = list["items"][0].clone();
        if job["state"] == "accepted" {
            break job;
        }
        assert!(
            Instant::now() < deadline,
            "the export was not delivered after the restart: {list}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let r = state.lock().expect("receiver state");
    assert!(
        r.posts >= 2,
        "sent again after the restart: {} posts",
        r.posts
    );
    assert!(!r.created.is_empty());
    assert!(
        r.created.values().all(|n| *n == 1),
        "every resource created once: {:?}",
        r.created
    );
    assert_eq!(job["attempts"], 2, "{job}");
}
