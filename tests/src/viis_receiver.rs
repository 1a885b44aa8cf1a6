//! A VIIS test receiver on loopback speaking the interface of `ravis::adapters::viis_http`
//! (`docs/EXPORTS.md`, "VIIS over HTTP"): `PUT <base>/support-needs/batches/<id>` with a
//! JSON Lines body, answered `201 Created` (first delivery) or `200 OK` (a re-send, which
//! replaces the batch), and an OAuth2 token endpoint (`POST <base>/token`, client
//! credentials) whose bearer tokens the batches must carry.
//!
//! Every batch is checked like the platform would: `Content-Type: application/x-ndjson`,
//! `Content-Digest` (RFC 9530, sha-256) over the exact body, `X-Row-Count` equal to the
//! lines, `Idempotency-Key` equal to the batch id, and every line a record with exactly the
//! allow-listed fields (`VIIS_FIELDS`) that reads as a `ViisRecord`. A batch failing a check
//! is refused with 400 and a problem document naming the rule.
//!
//! A test scripts faults ([`ViisFault`]) answered before any check: 500, 429 with
//! `Retry-After`, a stall longer than the client's timeout, or a refusal (422).

use crate::fhir_receiver::{loopback, serve};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use ravis::domain::export::{VIIS_FIELDS, ViisRecord};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The client id and secret the token endpoint accepts.
pub const CLIENT: (&str, &str) = ("ravis-viis", "test-secret");

/// A scripted answer to a batch, used once, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum ViisFault {
    /// `500 Internal Server Error`.
    ServerError,
    /// `429 Too Many Requests` with `Retry-After` seconds.
    Throttle(u64),
    /// No answer for this long (longer than the client's timeout: a timeout).
    Stall(Duration),
    /// `422 Unprocessable Content` with a problem document.
    Refuse,
}

#[derive(Default)]
struct Inner {
    faults: VecDeque<ViisFault>,
    /// Batch id → its records, as last delivered.
    batches: BTreeMap<String, Vec<Value>>,
    deliveries: usize,
    tokens_issued: usize,
    refusals: Vec<String>,
}

/// The receiver: its address and what it holds.
#[derive(Clone)]
pub struct ViisReceiver {
    /// The base URL (`http://127.0.0.1:<port>/viis`).
    pub base: String,
    /// The token endpoint (`<base>/token`).
    pub token_url: String,
    inner: Arc<Mutex<Inner>>,
}

impl ViisReceiver {
    /// Starts a receiver on a free loopback port; it stops when the runtime does.
    pub async fn start() -> Self {
        let listener = loopback().await;
        let addr = listener.local_addr().expect("addr");
        let receiver = Self {
            base: format!("http://{addr}/viis"),
            token_url: format!("http://{addr}/viis/token"),
            inner: Arc::default(),
        };
        serve(
            listener,
            Router::new()
                .route("/viis/token", post(issue_token))
                .route("/viis/support-needs/batches/{id}", put(deliver))
                .with_state(receiver.clone()),
        );
        receiver
    }

    /// Queues faults, answered in order before normal service resumes.
    pub fn script(&self, faults: impl IntoIterator<Item = ViisFault>) {
        self.inner.lock().expect("receiver").faults.extend(faults);
    }

    /// Every batch held, by id.
    pub fn batches(&self) -> BTreeMap<String, Vec<Value>> {
        self.inner.lock().expect("receiver").batches.clone()
    }

    /// How many batches were PUT (faulted ones included).
    pub fn deliveries(&self) -> usize {
        self.inner.lock().expect("receiver").deliveries
    }

    /// How many tokens the token endpoint issued.
    pub fn tokens_issued(&self) -> usize {
        self.inner.lock().expect("receiver").tokens_issued
    }

    /// Why batches were refused by the receiver's checks (not by scripted faults).
    pub fn refusals(&self) -> Vec<String> {
        self.inner.lock().expect("receiver").refusals.clone()
    }
}

fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    (
        status,
        [("content-type", "application/problem+json")],
        json!({"type": "about:blank", "title": title, "status": status.as_u16(),
               "detail": detail})
        .to_string(),
    )
        .into_response()
}

/// An `application/x-www-form-urlencoded` body, decoded.
fn form(body: &[u8]) -> HashMap<String, String> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], hex) {
                (b'%', Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (b'+', _) => {
                    out.push(b' ');
                    i += 1;
                }
                (b, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

async fn issue_token(State(receiver): State<ViisReceiver>, body: Bytes) -> Response {
    let form = form(&body);
    let field = |name: &str| form.get(name).map(String::as_str);
    if field("grant_type") != Some("client_credentials")
        || field("client_id") != Some(CLIENT.0)
        || field("client_secret") != Some(CLIENT.1)
    {
        return json_answer(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "invalid_client"}),
        );
    }
    let mut inner = receiver.inner.lock().expect("receiver");
    inner.tokens_issued += 1;
    json_answer(
        StatusCode::OK,
        &json!({"access_token": format!("token-{}", inner.tokens_issued),
                "token_type": "Bearer", "expires_in": 3600}),
    )
}

fn json_answer(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The platform's checks (see the module documentation); `Err` names the rule.
fn check(
    receiver: &ViisReceiver,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<Value>, String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let issued = receiver.inner.lock().expect("receiver").tokens_issued;
    match header("authorization").and_then(|a| a.strip_prefix("Bearer token-")) {
        Some(n) if n.parse::<usize>().is_ok_and(|n| (1..=issued).contains(&n)) => {}
        _ => return Err("no bearer token issued by the token endpoint".into()),
    }
    if header("content-type") != Some("application/x-ndjson") {
        return Err("Content-Type is not application/x-ndjson".into());
    }
    if header("content-digest") != Some(&ravis::adapters::viis_http::content_digest(body)) {
        return Err("Content-Digest does not match the body".into());
    }
    if header("idempotency-key") != Some(id) {
        return Err("Idempotency-Key is not the batch id".into());
    }
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
    let rows: Vec<&str> = text.lines().collect();
    if header("x-row-count") != Some(&rows.len().to_string()) {
        return Err("X-Row-Count does not match the lines".into());
    }
    let mut allowed = VIIS_FIELDS.to_vec();
    allowed.sort_unstable();
    let mut records = Vec::new();
    for (i, line) in rows.iter().enumerate() {
        let value: Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: not JSON: {e}", i + 1))?;
        let mut keys: Vec<&str> = value
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        if keys != allowed {
            return Err(format!(
                "line {}: fields {keys:?} are not the allow-list",
                i + 1
            ));
        }
        serde_json::from_value::<ViisRecord>(value.clone())
            .map_err(|e| format!("line {}: not a support-need record: {e}", i + 1))?;
        records.push(value);
    }
    Ok(records)
}

async fn deliver(
    State(receiver): State<ViisReceiver>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = {
        let mut inner = receiver.inner.lock().expect("receiver");
        inner.deliveries += 1;
        inner.faults.pop_front()
    };
    match fault {
        Some(ViisFault::ServerError) => {
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                "scripted 500",
            );
        }
        Some(ViisFault::Throttle(secs)) => {
            let mut r = problem(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests",
                "slow down",
            );
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().expect("header"));
            return r;
        }
        Some(ViisFault::Stall(d)) => {
            tokio::time::sleep(d).await;
            return problem(StatusCode::INTERNAL_SERVER_ERROR, "Timeout", "stalled");
        }
        Some(ViisFault::Refuse) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Unknown pupil",
                "no pupil with this personal code is enrolled",
            );
        }
        None => {}
    }
    let records = match check(&receiver, &id, &headers, &body) {
        Ok(records) => records,
        Err(reason) => {
            receiver
                .inner
                .lock()
                .expect("receiver")
                .refusals
                .push(reason.clone());
            return problem(StatusCode::BAD_REQUEST, "Bad Request", &reason);
        }
    };
    let mut inner = receiver.inner.lock().expect("receiver");
    let status = match inner.batches.insert(id.clone(), records) {
        Some(_) => StatusCode::OK,
        None => StatusCode::CREATED,
    };
    let mut r = status.into_response();
    r.headers_mut().insert(
        "location",
        format!("/viis/support-needs/batches/{id}")
            .parse()
            .expect("header"),
    );
    r
}
