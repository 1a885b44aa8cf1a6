//! A FHIR test receiver on loopback speaking the NVD FHIR API's async protocol (issue #12,
//! item 7): a transaction Bundle POSTed to the base URL with `Prefer: respond-async` is
//! answered `202 Accepted` with `Content-Location: <base>/_job/<n>`; a GET of the job answers
//! `202` with `x-progress: new` until the job has been polled once, then the
//! `batch-response` Bundle. It keeps what it stores by business identifier and implements
//! conditional create (`ifNoneExist`) and conditional update (`PUT <Type>?identifier=…`),
//! so a test can count resources and see that nothing is ever duplicated.
//!
//! Every request is checked like the real API would: no `id`, `meta.versionId` or
//! `meta.lastUpdated` on a resource; an `X-Provenance` header holding a Provenance with
//! `target` (each with `type`, no `identifier`/`display`), `recorded`, no `occurred[x]`,
//! `policy`, `location` or `reason`, and a signature whose JWS verifies over the exact body
//! bytes with the published key. A request that fails a check is refused with 400 and an
//! OperationOutcome naming the rule.
//!
//! A test scripts faults ([`Fault`]) answered before any work is done: 500, 429 with
//! `Retry-After`, a stall longer than the client's timeout, a partial answer (half the
//! entries still `202` on the first completed poll), or a refusal of one entry.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A scripted answer, used once, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// `500 Internal Server Error`.
    ServerError,
    /// `429 Too Many Requests` with `Retry-After` seconds.
    Throttle(u64),
    /// No answer for this long (longer than the client's timeout: a timeout).
    Stall(Duration),
    /// The job's first completed poll answers half the entries `202` (partial).
    Partial,
    /// The job refuses entry `n` (`422` with an OperationOutcome).
    RejectEntry(usize),
}

/// One stored resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// Version: 1 when created, +1 per update.
    pub version: u64,
    /// The resource as last written.
    pub resource: Value,
}

#[derive(Debug, Default)]
struct Job {
    entries: Vec<Value>,
    polls: u32,
    partial: bool,
    reject: Option<usize>,
    response: Option<Value>,
}

#[derive(Default)]
struct Inner {
    faults: VecDeque<Fault>,
    jobs: Vec<Job>,
    /// `<Type>|<system>|<value>` → stored.
    store: BTreeMap<String, Stored>,
    submissions: usize,
    refusals: Vec<String>,
}

/// The receiver: its address and what it holds.
#[derive(Clone)]
pub struct FhirReceiver {
    /// The base URL (`http://127.0.0.1:<port>/fhir`).
    pub base: String,
    inner: Arc<Mutex<Inner>>,
    public_key: Arc<Mutex<Option<Vec<u8>>>>,
}

impl FhirReceiver {
    /// Starts a receiver on a free loopback port; it stops when the runtime does. Signatures
    /// are checked with `public_key` (an uncompressed P-256 point) once one is set.
    pub async fn start() -> Self {
        let listener = loopback().await;
        let addr = listener.local_addr().expect("addr");
        let receiver = Self {
            base: format!("http://{addr}/fhir"),
            inner: Arc::default(),
            public_key: Arc::default(),
        };
        serve(
            listener,
            Router::new()
                .route("/fhir", post(submit))
                .route("/fhir/_job/{n}", get(poll))
                .with_state(receiver.clone()),
        );
        receiver
    }

    /// Checks signatures with this key from now on.
    pub fn trust(&self, public_key: &[u8]) {
        *self.public_key.lock().expect("key") = Some(public_key.to_vec());
    }

    /// Queues faults, answered in order before normal service resumes.
    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner.lock().expect("receiver").faults.extend(faults);
    }

    /// Everything stored, by `<Type>|<system>|<value>`.
    pub fn stored(&self) -> BTreeMap<String, Stored> {
        self.inner.lock().expect("receiver").store.clone()
    }

    /// How many Bundles were POSTed (faulted ones included).
    pub fn submissions(&self) -> usize {
        self.inner.lock().expect("receiver").submissions
    }

    /// Why requests were refused by the receiver's checks (not by scripted faults).
    pub fn refusals(&self) -> Vec<String> {
        self.inner.lock().expect("receiver").refusals.clone()
    }
}

/// A listener on a free loopback port.
pub async fn loopback() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind loopback")
}

/// Serves `app` on `listener` until the runtime stops.
pub fn serve(listener: tokio::net::TcpListener, app: Router) {
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
}

fn outcome(code: &str, diagnostics: &str) -> Value {
    json!({"resourceType": "OperationOutcome", "issue": [{
        "severity": "error", "code": code, "diagnostics": diagnostics}]})
}

fn fhir(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [("content-type", "application/fhir+json")],
        body.to_string(),
    )
        .into_response()
}

/// The checks of the real API (see the module documentation); `Err` names the rule.
fn check(receiver: &FhirReceiver, headers: &HeaderMap, body: &[u8]) -> Result<Value, String> {
    let bundle: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    if bundle["resourceType"] != "Bundle" || bundle["type"] != "transaction" {
        return Err("not a transaction Bundle".into());
    }
    let entries = bundle["entry"].as_array().ok_or("Bundle without entry")?;
    for (i, e) in entries.iter().enumerate() {
        let r = &e["resource"];
        if !r["id"].is_null() {
            return Err(format!("entry {i}: id on create"));
        }
        if !r["meta"]["versionId"].is_null() || !r["meta"]["lastUpdated"].is_null() {
            return Err(format!(
                "entry {i}: meta.versionId or meta.lastUpdated on create"
            ));
        }
        let method = e["request"]["method"].as_str().unwrap_or_default();
        match method {
            "POST"
                if e["request"]["ifNoneExist"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("identifier=")) => {}
            "PUT"
                if e["request"]["url"]
                    .as_str()
                    .is_some_and(|u| u.contains("?identifier=")) => {}
            _ => {
                return Err(format!(
                    "entry {i}: neither a conditional create nor a conditional update"
                ));
            }
        }
    }
    let header = headers
        .get("x-provenance")
        .and_then(|v| v.to_str().ok())
        .ok_or("no X-Provenance header")?;
    let prov: Value =
        serde_json::from_str(header).map_err(|e| format!("X-Provenance is not JSON: {e}"))?;
    if prov["resourceType"] != "Provenance" {
        return Err("X-Provenance is not a Provenance".into());
    }
    if prov["recorded"].as_str().is_none() {
        return Err("Provenance.recorded missing".into());
    }
    for banned in [
        "occurredDateTime",
        "occurredPeriod",
        "policy",
        "location",
        "reason",
    ] {
        if !prov[banned].is_null() {
            return Err(format!("Provenance.{banned} is not allowed"));
        }
    }
    let targets = prov["target"]
        .as_array()
        .ok_or("Provenance.target missing")?;
    if targets.is_empty() {
        return Err("Provenance.target is empty".into());
    }
    for t in targets {
        if t["type"].as_str().is_none() {
            return Err("Provenance.target.type missing".into());
        }
        if !t["identifier"].is_null() || !t["display"].is_null() {
            return Err("Provenance.target.identifier/display not allowed".into());
        }
    }
    let data = prov["signature"][0]["data"]
        .as_str()
        .ok_or("Provenance.signature.data missing")?;
    let jws = String::from_utf8(
        STANDARD
            .decode(data)
            .map_err(|_| "signature.data is not base64")?,
    )
    .map_err(|_| "signature.data is not a JWS")?;
    if let Some(key) = receiver.public_key.lock().expect("key").clone() {
        ravis::fhir::verify_detached_jws(&jws, body, &key).map_err(|e| e.to_string())?;
    }
    Ok(bundle)
}

/// With `RAVIS_FHIR_SAMPLES_DIR` set, every accepted Bundle and its Provenance are written
/// there, for the third-party validators of `make test-fhir` (`scripts/fhir-venv.sh`).
fn keep_sample(body: &[u8], headers: &HeaderMap) {
    let Some(dir) = std::env::var_os("RAVIS_FHIR_SAMPLES_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("samples dir");
    let name = uuid::Uuid::now_v7();
    std::fs::write(dir.join(format!("received-{name}.bundle.json")), body).expect("sample");
    if let Some(p) = headers.get("x-provenance").and_then(|v| v.to_str().ok()) {
        std::fs::write(dir.join(format!("received-{name}.provenance.json")), p).expect("sample");
    }
}

/// The identifier key an entry writes to (`<Type>|<system>|<value>`).
fn identity(entry: &Value) -> Option<String> {
    let r = &entry["resource"];
    let t = r["resourceType"].as_str()?;
    let id = r["identifier"]
        .as_array()
        .and_then(|a| a.first())
        .unwrap_or(&r["identifier"]);
    Some(format!(
        "{t}|{}|{}",
        id["system"].as_str()?,
        id["value"].as_str()?
    ))
}

async fn submit(State(receiver): State<FhirReceiver>, headers: HeaderMap, body: Bytes) -> Response {
    let fault = {
        let mut inner = receiver.inner.lock().expect("receiver");
        inner.submissions += 1;
        match inner.faults.front() {
            Some(Fault::Partial | Fault::RejectEntry(_)) | None => None,
            Some(_) => inner.faults.pop_front(),
        }
    };
    match fault {
        Some(Fault::ServerError) => {
            return fhir(
                StatusCode::INTERNAL_SERVER_ERROR,
                &outcome("exception", "scripted 500"),
            );
        }
        Some(Fault::Throttle(secs)) => {
            let mut r = fhir(
                StatusCode::TOO_MANY_REQUESTS,
                &outcome("throttled", "slow down"),
            );
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().expect("header"));
            return r;
        }
        Some(Fault::Stall(d)) => {
            tokio::time::sleep(d).await;
            return fhir(
                StatusCode::INTERNAL_SERVER_ERROR,
                &outcome("timeout", "stalled"),
            );
        }
        _ => {}
    }
    let bundle = match check(&receiver, &headers, &body) {
        Ok(b) => b,
        Err(reason) => {
            receiver
                .inner
                .lock()
                .expect("receiver")
                .refusals
                .push(reason.clone());
            return fhir(StatusCode::BAD_REQUEST, &outcome("invalid", &reason));
        }
    };
    keep_sample(&body, &headers);
    let mut inner = receiver.inner.lock().expect("receiver");
    let (partial, reject) = match inner.faults.front() {
        Some(Fault::Partial) => {
            inner.faults.pop_front();
            (true, None)
        }
        Some(Fault::RejectEntry(n)) => {
            let n = *n;
            inner.faults.pop_front();
            (false, Some(n))
        }
        _ => (false, None),
    };
    inner.jobs.push(Job {
        entries: bundle["entry"].as_array().cloned().unwrap_or_default(),
        partial,
        reject,
        ..Job::default()
    });
    let n = inner.jobs.len() - 1;
    let mut r = StatusCode::ACCEPTED.into_response();
    r.headers_mut().insert(
        "content-location",
        format!("{}/_job/{n}", receiver.base)
            .parse()
            .expect("header"),
    );
    r
}

async fn poll(State(receiver): State<FhirReceiver>, Path(n): Path<usize>) -> Response {
    let mut guard = receiver.inner.lock().expect("receiver");
    let inner = &mut *guard;
    let Some(job) = inner.jobs.get_mut(n) else {
        return fhir(StatusCode::NOT_FOUND, &outcome("not-found", "no such job"));
    };
    job.polls += 1;
    if job.polls == 1 {
        let mut r = StatusCode::ACCEPTED.into_response();
        r.headers_mut()
            .insert("x-progress", "new".parse().expect("header"));
        return r;
    }
    if job.response.is_none() {
        // The job runs once: each entry is applied to the store exactly here.
        let mut out = Vec::new();
        for (i, e) in job.entries.iter().enumerate() {
            if job.reject == Some(i) {
                out.push(json!({"response": {"status": "422 Unprocessable Entity",
                    "outcome": outcome("business-rule", &format!("entry {i} refused by the test receiver"))}}));
                continue;
            }
            let Some(key) = identity(e) else {
                out.push(json!({"response": {"status": "400 Bad Request",
                    "outcome": outcome("required", "no identifier")}}));
                continue;
            };
            let update = e["request"]["method"] == "PUT";
            let status = match inner.store.get_mut(&key) {
                Some(existing) if update => {
                    existing.version += 1;
                    existing.resource = e["resource"].clone();
                    "200 OK"
                }
                // Conditional create of something that exists: nothing is written.
                Some(_) => "200 OK",
                None => {
                    inner.store.insert(
                        key.clone(),
                        Stored {
                            version: 1,
                            resource: e["resource"].clone(),
                        },
                    );
                    "201 Created"
                }
            };
            let version = inner.store.get(&key).map_or(1, |s| s.version);
            out.push(json!({"response": {"status": status,
                "location": format!("{}/_history/{version}", key.replace('|', "/"))}}));
        }
        job.response =
            Some(json!({"resourceType": "Bundle", "type": "batch-response", "entry": out}));
    }
    let mut response = job.response.clone().unwrap_or(Value::Null);
    if job.partial && job.polls == 2 {
        // The first completed poll is partial: the second half still `202`.
        if let Some(entries) = response["entry"].as_array_mut() {
            let half = entries.len() / 2;
            for e in entries.iter_mut().skip(half) {
                *e = json!({"response": {"status": "202 Accepted"}});
            }
        }
    }
    fhir(StatusCode::OK, &response)
}
