//! VIIS over HTTP, through the state integration platform (VISS API Manager). No public VIIS
//! interface for support needs exists yet, so this adapter speaks the interface RAVIS
//! proposes for it (`docs/EXPORTS.md`, "VIIS over HTTP"): the batch the outbox adapter
//! would write, PUT to one URL per batch —
//!
//! ```text
//! PUT <base>/support-needs/batches/<batch id>
//! Content-Type: application/x-ndjson        (one ViisRecord per line, nothing else)
//! Content-Digest: sha-256=:<base64>:        (RFC 9530, over the body)
//! Idempotency-Key: <batch id>               (the export job's id: a re-send replaces)
//! X-Row-Count: <lines>
//! Authorization: Bearer <token>             (OAuth2 client credentials, when configured)
//! ```
//!
//! Answers: any `2xx` → delivered (the `Location` header, else the batch URL, is kept on the
//! job); `429` or `5xx`, a timeout or a broken connection → retry (honouring `Retry-After`);
//! any other `4xx` → rejected, with the body (a problem document) kept for the operator.

use super::http_client::{AuthorisedClient, ClientCredentials, ClientSetupError, retry_later};
use super::outbox::viis_batch;
use crate::domain::export::ViisRecord;
use crate::ports::{EducationReceiver, ReceiverAnswer};
use base64::Engine as _;
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The path of the batches under the base URL.
pub const BATCHES_PATH: &str = "support-needs/batches";

/// VIIS's support-needs interface on the integration platform.
pub struct ViisHttpReceiver {
    client: AuthorisedClient,
}

impl ViisHttpReceiver {
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
}

/// The `Content-Digest` header value of a body (RFC 9530, `sha-256`).
pub fn content_digest(body: &[u8]) -> String {
    format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body))
    )
}

impl EducationReceiver for ViisHttpReceiver {
    async fn deliver(&self, batch_id: &str, records: &[ViisRecord]) -> ReceiverAnswer {
        let (lines, _) = match viis_batch(batch_id, records) {
            Ok(batch) => batch,
            Err(e) => {
                return ReceiverAnswer::Rejected {
                    status: 0,
                    outcome: json!({}),
                    reason: e.to_string(),
                };
            }
        };
        let url = self.client.resolve(&format!("{BATCHES_PATH}/{batch_id}"));
        let request = http::Request::builder()
            .method(Method::PUT)
            .uri(&url)
            .header("content-type", "application/x-ndjson")
            .header("accept", "application/json, application/problem+json")
            .header("content-digest", content_digest(&lines))
            .header("idempotency-key", batch_id)
            .header("x-request-id", batch_id)
            .header("x-row-count", records.len());
        let (status, headers, body) = match self.client.call(request, Bytes::from(lines)).await {
            Ok(answer) => answer,
            Err(answer) => return answer,
        };
        match status.as_u16() {
            200..=299 => ReceiverAnswer::Accepted {
                locations: vec![
                    headers
                        .get("location")
                        .and_then(|v| v.to_str().ok())
                        .map(|l| self.client.resolve(l))
                        .unwrap_or(url),
                ],
            },
            429 | 500..=599 => retry_later("VIIS", status, &headers),
            code => {
                let outcome = serde_json::from_slice::<Value>(&body).unwrap_or_else(
                    |_| json!({"detail": String::from_utf8_lossy(&body).chars().take(2000).collect::<String>()}),
                );
                let detail = outcome["detail"]
                    .as_str()
                    .or_else(|| outcome["title"].as_str())
                    .map(|d| format!(": {}", d.chars().take(300).collect::<String>()))
                    .unwrap_or_default();
                ReceiverAnswer::Rejected {
                    status: code,
                    reason: format!("VIIS refused the batch ({status}){detail}"),
                    outcome,
                }
            }
        }
    }
}
