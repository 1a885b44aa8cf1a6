//! The HTTP client the exchange adapters use ([`fhir_http`](super::fhir_http) for the
//! e-health system, [`viis_http`](super::viis_http) for VIIS, [`ckan_http`](super::ckan_http)
//! for the open-data portal, which sends its own `Authorization` API token): one base URL (https, or http
//! to loopback), every request and every answer's body bounded by a timeout, answers read up
//! to 4 MiB, and client authentication as configuration — a bearer token from an OAuth2
//! client-credentials grant (RFC 6749 §4.4; cached until shortly before it expires), or none
//! (a receiver on a private network, the test receivers).

use crate::domain::remote_url::{UrlError, https_or_loopback};
use crate::ports::ReceiverAnswer;
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

/// An answer: its status, headers and body.
pub type Exchanged = (StatusCode, HeaderMap, Bytes);

/// Why a client cannot be made; the text is the setting's message.
#[derive(Debug, thiserror::Error)]
pub enum ClientSetupError {
    /// The base URL breaks the rule.
    #[error(transparent)]
    BaseUrl(#[from] UrlError),
    /// The token URL breaks the rule.
    #[error("token URL {0}")]
    TokenUrl(#[source] UrlError),
    /// The system's trust store could not be read.
    #[error("no TLS root certificates: {0}")]
    NoRoots(#[source] std::io::Error),
}

/// Why a call got no answer to read; the text is the reason recorded for the attempt.
#[derive(Debug, thiserror::Error)]
enum CallError {
    /// The token request could not be built.
    #[error("{0}")]
    TokenRequest(#[source] http::Error),
    /// The token endpoint refused.
    #[error("the token endpoint answered {0}")]
    TokenStatus(StatusCode),
    /// The token endpoint's answer does not parse.
    #[error("the token endpoint's answer is not JSON: {0}")]
    TokenNotJson(#[source] serde_json::Error),
    /// The token endpoint's answer carries no token.
    #[error("the token endpoint's answer has no access_token")]
    NoAccessToken,
    /// No answer within the timeout.
    #[error("no answer within {} s", .0.as_secs())]
    Timeout(Duration),
    /// The connection failed.
    #[error("connection failed: {0}")]
    Connection(#[source] hyper_util::client::legacy::Error),
    /// The answer's body took longer than the timeout.
    #[error("the answer's body did not arrive in time")]
    BodyTimeout,
    /// The answer's body could not be read (or is over the size limit).
    #[error("reading the answer: {0}")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A client of one remote system.
pub struct AuthorisedClient {
    base: Uri,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
    credentials: Option<ClientCredentials>,
    token: Mutex<Option<(String, tokio::time::Instant)>>,
}

impl AuthorisedClient {
    /// The client of the system at `base_url` (checked with [`https_or_loopback`]); a bad
    /// token URL is refused with a reason starting "token URL".
    pub fn new(
        base_url: &str,
        timeout: Duration,
        credentials: Option<ClientCredentials>,
    ) -> Result<Self, ClientSetupError> {
        let base = https_or_loopback(base_url)?;
        if let Some(c) = &credentials {
            https_or_loopback(&c.token_url).map_err(ClientSetupError::TokenUrl)?;
        }
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(ClientSetupError::NoRoots)?
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

    /// The base URL.
    pub fn base(&self) -> &Uri {
        &self.base
    }

    /// A reference from an answer or a path of the interface, as a URL: an absolute URL as
    /// it is, an absolute path (`/…`) on the base's scheme and host (RFC 3986 §5.2), anything
    /// else under the base URL.
    pub fn resolve(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            return path.to_owned();
        }
        if path.starts_with('/') {
            let scheme = self.base.scheme_str().unwrap_or("https");
            let authority = self.base.authority().map_or("", |a| a.as_str());
            return format!("{scheme}://{authority}{path}");
        }
        let base = self.base.to_string();
        format!(
            "{}/{}",
            base.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }

    /// A bearer token, fetched (or reused while valid).
    async fn bearer(&self) -> Result<Option<String>, CallError> {
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
            .map_err(CallError::TokenRequest)?;
        let (status, _, body) = self.send(request).await?;
        if !status.is_success() {
            return Err(CallError::TokenStatus(status));
        }
        let value: Value = serde_json::from_slice(&body).map_err(CallError::TokenNotJson)?;
        let token = value["access_token"]
            .as_str()
            .ok_or(CallError::NoAccessToken)?
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

    async fn send(&self, request: Request<Full<Bytes>>) -> Result<Exchanged, CallError> {
        let response = tokio::time::timeout(self.timeout, self.client.request(request))
            .await
            .map_err(|_| CallError::Timeout(self.timeout))?
            .map_err(CallError::Connection)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = tokio::time::timeout(
            self.timeout,
            Limited::new(response.into_body(), MAX_BYTES).collect(),
        )
        .await
        .map_err(|_| CallError::BodyTimeout)?
        .map_err(CallError::Body)?
        .to_bytes();
        Ok((status, headers, body))
    }

    /// Sends a request with the bearer token (when configured). `Err` is the answer to record
    /// without one from the receiver: retry after a failed authentication, a timeout or a
    /// broken connection; rejected when the request cannot even be built.
    pub async fn call(
        &self,
        request: http::request::Builder,
        body: Bytes,
    ) -> Result<Exchanged, ReceiverAnswer> {
        let token = self
            .bearer()
            .await
            .map_err(|reason| ReceiverAnswer::Retry {
                status: None,
                after: None,
                reason: format!("client authentication: {reason}"),
            })?;
        let request = match token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        };
        let request = request
            .body(Full::new(body))
            .map_err(|e| ReceiverAnswer::Rejected {
                status: 0,
                outcome: json!({}),
                reason: format!("the request could not be built: {e}"),
            })?;
        self.send(request)
            .await
            .map_err(|reason| ReceiverAnswer::Retry {
                status: None,
                after: None,
                reason: reason.to_string(),
            })
    }
}

/// The answer to a `429` or a `5xx`: try again, after the receiver's `Retry-After` (seconds)
/// when it sent one.
pub fn retry_later(system: &str, status: StatusCode, headers: &HeaderMap) -> ReceiverAnswer {
    ReceiverAnswer::Retry {
        status: Some(status.as_u16()),
        after: headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_secs),
        reason: format!("{system} answered {status}"),
    }
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_against_the_base_url() {
        let client =
            AuthorisedClient::new("https://viss.example/viis/", Duration::from_secs(1), None)
                .unwrap();
        assert_eq!(
            client.resolve("support-needs/batches/1"),
            "https://viss.example/viis/support-needs/batches/1"
        );
        assert_eq!(
            client.resolve("/viis/support-needs/batches/1"),
            "https://viss.example/viis/support-needs/batches/1"
        );
        assert_eq!(
            client.resolve("https://other.example/x"),
            "https://other.example/x"
        );
        let bad = AuthorisedClient::new(
            "https://viss.example/viis",
            Duration::from_secs(1),
            Some(ClientCredentials {
                token_url: "http://idp.example/token".into(),
                client_id: "c".into(),
                client_secret: "s".into(),
                scope: None,
            }),
        )
        .err()
        .unwrap();
        assert!(matches!(bad, ClientSetupError::TokenUrl(_)), "{bad}");
        assert!(bad.to_string().starts_with("token URL"), "{bad}");
    }
}
