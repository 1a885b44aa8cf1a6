//! The e-health system over HTTP (NVD FHIR API): a transaction Bundle POSTed to the base
//! URL with `Prefer: respond-async` and `X-Provenance`; a `202 Accepted` names the job in
//! `Content-Location`, polled with GET until it answers the transaction's response Bundle.
//!
//! Answers, as the exports worker reads them ([`HealthAnswer`]):
//! - `202` (submit or poll; `x-progress: new` = not started) → in progress, poll again;
//! - `200`/`201` with a `transaction-response`/`batch-response` Bundle: every entry 2xx →
//!   accepted; an entry still `202` (a partial answer) → in progress; an entry 4xx →
//!   rejected with that entry's OperationOutcome;
//! - `429`, `5xx`, a timeout or a broken connection → retry (honouring `Retry-After`);
//! - any other `4xx` → rejected with the body (an OperationOutcome).
//!
//! Client authentication is configuration: a bearer token from an OAuth2 client-credentials
//! grant (token URL, client id and secret; the token is cached until shortly before it
//! expires), or none (a receiver on a private network, the test receiver).

use crate::domain::remote_url::https_or_loopback;
use crate::ports::{HealthAnswer, HealthReceiver, HealthSubmission};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::Mutex;

/// The largest answer read.
const MAX_BYTES: usize = 4 * 1024 * 1024;

/// OAuth2 client credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// The token endpoint.
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// The scope asked for, if any.
    pub scope: Option<String>,
}

/// The e-health system's FHIR endpoint.
pub struct FhirHttpReceiver {
    base: Uri,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
    credentials: Option<ClientCredentials>,
    token: Mutex<Option<(String, tokio::time::Instant)>>,
}

impl FhirHttpReceiver {
    /// The receiver at `base_url` (checked with [`https_or_loopback`]: https, or http to loopback), each request bounded by
    /// `timeout`.
    pub fn new(
        base_url: &str,
        timeout: Duration,
        credentials: Option<ClientCredentials>,
    ) -> Result<Self, String> {
        let base = https_or_loopback(base_url)?;
        if let Some(c) = &credentials {
            https_or_loopback(&c.token_url).map_err(|e| format!("token URL {e}"))?;
        }
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("no TLS root certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            base,
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
            credentials,
            token: Mutex::new(None),
        })
    }

    /// A bearer token, fetched (or reused while valid).
    async fn bearer(&self) -> Result<Option<String>, String> {
        let Some(c) = &self.credentials else {
            return Ok(None);
        };
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && tokio::time::Instant::now() < *until
        {
            return Ok(Some(token.clone()));
        }
        let mut form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            encode(&c.client_id),
            encode(&c.client_secret)
        );
        if let Some(scope) = &c.scope {
            form.push_str(&format!("&scope={}", encode(scope)));
        }
        let request = Request::builder()
            .method(Method::POST)
            .uri(&c.token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(Full::new(Bytes::from(form)))
            .map_err(|e| e.to_string())?;
        let (status, _, body) = self.send(request).await?;
        if !status.is_success() {
            return Err(format!("the token endpoint answered {status}"));
        }
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("the token endpoint's answer is not JSON: {e}"))?;
        let token = value["access_token"]
            .as_str()
            .ok_or("the token endpoint's answer has no access_token")?
            .to_owned();
        let lifetime = value["expires_in"].as_u64().unwrap_or(300);
        // Renewed a minute early (or at half its life, for short ones).
        let margin = (lifetime / 2).min(60);
        *cached = Some((
            token.clone(),
            tokio::time::Instant::now() + Duration::from_secs(lifetime - margin),
        ));
        Ok(Some(token))
    }

    async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), String> {
        let response = tokio::time::timeout(self.timeout, self.client.request(request))
            .await
            .map_err(|_| format!("no answer within {} s", self.timeout.as_secs()))?
            .map_err(|e| format!("connection failed: {e}"))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = tokio::time::timeout(
            self.timeout,
            Limited::new(response.into_body(), MAX_BYTES).collect(),
        )
        .await
        .map_err(|_| "the answer's body did not arrive in time".to_owned())?
        .map_err(|e| format!("reading the answer: {e}"))?
        .to_bytes();
        Ok((status, headers, body))
    }

    /// A job URL relative to the base, made absolute.
    fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            return location.to_owned();
        }
        let base = self.base.to_string();
        format!(
            "{}/{}",
            base.trim_end_matches('/'),
            location.trim_start_matches('/')
        )
    }

    async fn exchange(&self, request: http::request::Builder, body: Bytes) -> HealthAnswer {
        let token = match self.bearer().await {
            Ok(t) => t,
            Err(reason) => {
                return HealthAnswer::Retry {
                    status: None,
                    after: None,
                    reason: format!("client authentication: {reason}"),
                };
            }
        };
        let mut request = request
            .header("accept", "application/fhir+json")
            .header("prefer", "respond-async");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match request.body(Full::new(body)) {
            Ok(r) => r,
            Err(e) => {
                return HealthAnswer::Rejected {
                    status: 0,
                    outcome: json!({}),
                    reason: format!("the request could not be built: {e}"),
                };
            }
        };
        match self.send(request).await {
            Ok((status, headers, body)) => self.answer(status, &headers, &body),
            Err(reason) => HealthAnswer::Retry {
                status: None,
                after: None,
                reason,
            },
        }
    }

    /// Reads an answer (see the module documentation).
    fn answer(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> HealthAnswer {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        match status.as_u16() {
            202 => match header("content-location") {
                Some(location) => HealthAnswer::InProgress {
                    job: self.resolve(location),
                    progress: header("x-progress").unwrap_or("accepted").to_owned(),
                },
                None => HealthAnswer::InProgress {
                    job: String::new(),
                    progress: header("x-progress").unwrap_or("in progress").to_owned(),
                },
            },
            200 | 201 => response_bundle(&value),
            429 | 500..=599 => HealthAnswer::Retry {
                status: Some(status.as_u16()),
                after: header("retry-after")
                    .and_then(|v| v.trim().parse().ok())
                    .map(Duration::from_secs),
                reason: format!("the e-health system answered {status}"),
            },
            code => HealthAnswer::Rejected {
                status: code,
                reason: format!(
                    "the e-health system refused the request ({status}){}",
                    diagnostics(&value)
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                ),
                outcome: value,
            },
        }
    }
}

/// What a transaction- or batch-response Bundle says.
pub fn response_bundle(value: &Value) -> HealthAnswer {
    let Some(entries) = value["entry"].as_array() else {
        return HealthAnswer::Rejected {
            status: 200,
            outcome: value.clone(),
            reason: "the e-health system's answer is not a response Bundle".into(),
        };
    };
    let mut locations = Vec::new();
    let mut pending = 0;
    for (i, entry) in entries.iter().enumerate() {
        let response = &entry["response"];
        let status: u16 = response["status"]
            .as_str()
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        match status {
            200..=201 | 204 | 304 => {
                if let Some(l) = response["location"].as_str() {
                    locations.push(l.to_owned());
                }
            }
            0 | 202 => pending += 1,
            code => {
                let outcome = response["outcome"].clone();
                return HealthAnswer::Rejected {
                    status: code,
                    reason: format!(
                        "the e-health system refused entry {i} ({code}){}",
                        diagnostics(&outcome)
                            .map(|d| format!(": {d}"))
                            .unwrap_or_default()
                    ),
                    outcome,
                };
            }
        }
    }
    if pending > 0 {
        return HealthAnswer::InProgress {
            job: String::new(),
            progress: format!(
                "partial: {} of {} entries done",
                entries.len() - pending,
                entries.len()
            ),
        };
    }
    HealthAnswer::Accepted { locations }
}

fn diagnostics(outcome: &Value) -> Option<String> {
    let issue = outcome["issue"].as_array()?.first()?;
    issue["diagnostics"]
        .as_str()
        .or_else(|| issue["details"]["text"].as_str())
        .map(|s| s.chars().take(300).collect())
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl HealthReceiver for FhirHttpReceiver {
    async fn submit(&self, submission: &HealthSubmission) -> HealthAnswer {
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.base.clone())
            .header("content-type", "application/fhir+json")
            .header("x-provenance", submission.provenance.as_str())
            .header("x-request-id", submission.export_id.as_str());
        match self
            .exchange(request, Bytes::from(submission.bundle.clone()))
            .await
        {
            // Work in progress with no job to poll: all that can be done is to send again
            // (the conditional writes make that harmless).
            HealthAnswer::InProgress { job, progress } if job.is_empty() => HealthAnswer::Retry {
                status: None,
                after: None,
                reason: format!("the e-health system answered without a job to poll ({progress})"),
            },
            other => other,
        }
    }

    async fn poll(&self, job: &str) -> HealthAnswer {
        let request = Request::builder().method(Method::GET).uri(job);
        match self.exchange(request, Bytes::new()).await {
            // A partial answer without its own job URL: the same job is polled again.
            HealthAnswer::InProgress { job: j, progress } if j.is_empty() => {
                HealthAnswer::InProgress {
                    job: job.to_owned(),
                    progress,
                }
            }
            other => other,
        }
    }
}
