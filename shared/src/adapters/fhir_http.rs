//! The e-health system over HTTP (NVD FHIR API): a transaction Bundle POSTed to the base
//! URL with `Prefer: respond-async` and `X-Provenance`; a `202 Accepted` names the job in
//! `Content-Location`, polled with GET until it answers the transaction's response Bundle.
//!
//! Answers, as the exports worker reads them ([`ReceiverAnswer`]):
//! - `202` (submit or poll; `x-progress: new` = not started) → in progress, poll again;
//! - `200`/`201` with a `transaction-response`/`batch-response` Bundle: every entry 2xx →
//!   accepted; an entry still `202` (a partial answer) → in progress; an entry 4xx →
//!   rejected with that entry's OperationOutcome;
//! - `429`, `5xx`, a timeout or a broken connection → retry (honouring `Retry-After`);
//! - any other `4xx` → rejected with the body (an OperationOutcome).
//!
//! Client authentication is configuration ([`AuthorisedClient`]): a bearer token from an
//! OAuth2 client-credentials grant, or none (a receiver on a private network, the test
//! receiver).

use super::http_client::{AuthorisedClient, ClientSetupError, retry_later};
use crate::ports::{HealthReceiver, HealthSubmission, ReceiverAnswer};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use serde_json::Value;
use std::time::Duration;

pub use super::http_client::ClientCredentials;

/// The e-health system's FHIR endpoint.
pub struct FhirHttpReceiver {
    client: AuthorisedClient,
}

impl FhirHttpReceiver {
    /// The receiver at `base_url` (https, or http to loopback), each request bounded by
    /// `timeout`.
    pub fn new(
        base_url: &str,
        timeout: Duration,
        credentials: Option<ClientCredentials>,
    ) -> Result<Self, ClientSetupError> {
        Ok(Self {
            client: AuthorisedClient::new(base_url, timeout, credentials)?,
        })
    }

    async fn exchange(&self, request: http::request::Builder, body: Bytes) -> ReceiverAnswer {
        let request = request
            .header("accept", "application/fhir+json")
            .header("prefer", "respond-async");
        match self.client.call(request, body).await {
            Ok((status, headers, body)) => self.answer(status, &headers, &body),
            Err(answer) => answer,
        }
    }

    /// Reads an answer (see the module documentation).
    fn answer(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ReceiverAnswer {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        match status.as_u16() {
            202 => ReceiverAnswer::InProgress {
                job: header("content-location")
                    .map(|location| self.client.resolve(location))
                    .unwrap_or_default(),
                progress: header("x-progress")
                    .unwrap_or(if header("content-location").is_some() {
                        "accepted"
                    } else {
                        "in progress"
                    })
                    .to_owned(),
            },
            200 | 201 => response_bundle(&value),
            429 | 500..=599 => retry_later("the e-health system", status, headers),
            code => ReceiverAnswer::Rejected {
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
pub fn response_bundle(value: &Value) -> ReceiverAnswer {
    let Some(entries) = value["entry"].as_array() else {
        return ReceiverAnswer::Rejected {
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
                return ReceiverAnswer::Rejected {
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
        return ReceiverAnswer::InProgress {
            job: String::new(),
            progress: format!(
                "partial: {} of {} entries done",
                entries.len() - pending,
                entries.len()
            ),
        };
    }
    ReceiverAnswer::Accepted { locations }
}

fn diagnostics(outcome: &Value) -> Option<String> {
    let issue = outcome["issue"].as_array()?.first()?;
    issue["diagnostics"]
        .as_str()
        .or_else(|| issue["details"]["text"].as_str())
        .map(|s| s.chars().take(300).collect())
}

impl HealthReceiver for FhirHttpReceiver {
    async fn submit(&self, submission: &HealthSubmission) -> ReceiverAnswer {
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.client.base().clone())
            .header("content-type", "application/fhir+json")
            .header("x-provenance", submission.provenance.as_str())
            .header("x-request-id", submission.export_id.as_str());
        match self
            .exchange(request, Bytes::from(submission.bundle.clone()))
            .await
        {
            // Work in progress with no job to poll: all that can be done is to send again
            // (the conditional writes make that harmless).
            ReceiverAnswer::InProgress { job, progress } if job.is_empty() => {
                ReceiverAnswer::Retry {
                    status: None,
                    after: None,
                    reason: format!(
                        "the e-health system answered without a job to poll ({progress})"
                    ),
                }
            }
            other => other,
        }
    }

    async fn poll(&self, job: &str) -> ReceiverAnswer {
        let request = Request::builder().method(Method::GET).uri(job);
        match self.exchange(request, Bytes::new()).await {
            // A partial answer without its own job URL: the same job is polled again.
            ReceiverAnswer::InProgress { job: j, progress } if j.is_empty() => {
                ReceiverAnswer::InProgress {
                    job: job.to_owned(),
                    progress,
                }
            }
            other => other,
        }
    }
}
