//! AWS adapters: DynamoDB records, S3 blobs, SQS queues, the KMS signer, and the clients
//! they share.
//!
//! Where the client settings come from:
//! - region: [`AwsClientsBuilder::region`] if given, else aws-config's default chain
//!   (`AWS_REGION`, then the profile files, then instance metadata);
//! - credentials: [`AwsClientsBuilder::static_credentials`] if given (tests against an
//!   emulator), else aws-config's default chain (environment, profile, web identity,
//!   container and instance roles — on Lambda, the function's role);
//! - endpoint: [`AwsClientsBuilder::endpoint_url`] if given (an emulator), else
//!   `AWS_ENDPOINT_URL` as aws-config reads it, else the real AWS endpoints.
//!
//! - retries: [`retry_config`] per service — the SDK's standard mode (exponential back-off
//!   with jitter, a retry quota) with more attempts and shorter pauses than its defaults
//!   (3 attempts from 1 s), so that throttling, 5xx answers and dropped connections are
//!   absorbed within an API function's 10 s timeout. Proven at 10 % injected faults
//!   (`scripts/fault-test.sh`, docs/DEPLOY.md "Retries").
//!
//! This module reads no environment variable itself: the caller's configuration passes
//! settings in, and only aws-config consults its own standard variables.

pub mod dynamodb;
pub mod kms;
pub mod s3;
pub mod sqs;

pub use dynamodb::{DynamoRecordStore, create_table};
pub use kms::KmsSigner;
pub use s3::{S3BlobStore, create_bucket};
pub use sqs::{RedrivePolicy, SqsQueue, create_queue_with_dlq};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use std::time::Duration;

/// The AWS services RAVIS calls, each with its own retry settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// DynamoDB: small, fast requests; conditional writes and transactions carry their
    /// own idempotency (a retried transaction reuses its client request token).
    DynamoDb,
    /// S3: `SlowDown` asks for real back-off; objects up to 5 GiB take longer per attempt.
    S3,
    /// SQS: sends and deletes are small; a retried send may deliver twice, which every
    /// consumer tolerates (at-least-once delivery, idempotent handlers).
    Sqs,
    /// KMS: `GetPublicKey` and `Sign`, small requests; a retried `Sign` signs again (a
    /// signature of the same input is as good as the first).
    Kms,
}

/// Retry settings per service: standard mode with (attempts, first pause, longest pause).
///
/// | service | attempts | first pause | longest pause | worst case of pauses |
/// |---|---|---|---|---|
/// | DynamoDB | 6 | 25 ms | 1 s | about 1.6 s |
/// | SQS, KMS | 6 | 50 ms | 2 s | about 3 s |
/// | S3 | 6 | 100 ms | 4 s | about 6 s |
///
/// At a 10 % fault rate one request fails all six attempts with a probability of 10⁻⁶.
pub fn retry_config(service: Service) -> RetryConfig {
    let (initial, max) = match service {
        Service::DynamoDb => (Duration::from_millis(25), Duration::from_secs(1)),
        Service::Sqs | Service::Kms => (Duration::from_millis(50), Duration::from_secs(2)),
        Service::S3 => (Duration::from_millis(100), Duration::from_secs(4)),
    };
    RetryConfig::standard()
        .with_max_attempts(6)
        .with_initial_backoff(initial)
        .with_max_backoff(max)
}

/// The SDK clients, built once per process and cloned (cheaply) into each adapter.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// DynamoDB client.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// S3 client (path-style addressing when an endpoint is overridden).
    pub s3: aws_sdk_s3::Client,
    /// SQS client.
    pub sqs: aws_sdk_sqs::Client,
    /// KMS client (the exports worker's signing key).
    pub kms: aws_sdk_kms::Client,
    /// The region the clients talk to.
    pub region: String,
}

impl AwsClients {
    /// Clients from aws-config's default chains only (what a Lambda function uses).
    pub async fn from_env() -> Self {
        Self::builder().build().await
    }

    /// Clients for a deployed function: the default chains, with the configured endpoint
    /// override (`AWS_ENDPOINT_URL`, read by `config`) when there is one.
    pub async fn for_endpoint(endpoint_url: Option<&str>) -> Self {
        let mut builder = Self::builder();
        if let Some(url) = endpoint_url {
            builder = builder.endpoint_url(url.to_string());
        }
        builder.build().await
    }

    /// A builder for clients with explicit settings.
    pub fn builder() -> AwsClientsBuilder {
        AwsClientsBuilder::default()
    }
}

/// Settings for [`AwsClients`]; anything left unset falls back to aws-config's defaults.
#[derive(Debug, Clone, Default)]
pub struct AwsClientsBuilder {
    region: Option<String>,
    endpoint_url: Option<String>,
    static_credentials: Option<(String, String)>,
}

impl AwsClientsBuilder {
    /// Uses this region instead of the default chain's.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sends every request to this endpoint (an emulator such as moto).
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Signs with these fixed keys instead of the default credential chain (emulators only).
    pub fn static_credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.static_credentials = Some((access_key_id.into(), secret_access_key.into()));
        self
    }

    /// Loads the shared configuration once and builds the clients from it.
    pub async fn build(self) -> AwsClients {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(SharedHttpClient::new(TrustStoreOnFirstUse::new()));
        if let Some(region) = self.region {
            loader = loader.region(Region::new(region));
        }
        if let Some(url) = self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some((key, secret)) = self.static_credentials {
            loader =
                loader.credentials_provider(Credentials::new(key, secret, None, None, "static"));
        }
        let config = loader.load().await;

        // Emulators are reached by IP or `localhost`, where S3's virtual-host style
        // (bucket as a subdomain) cannot resolve: use path style whenever an endpoint
        // is overridden, by the builder or by aws-config's own `AWS_ENDPOINT_URL`.
        let s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(config.endpoint_url().is_some())
            .retry_config(retry_config(Service::S3))
            .build();
        let dynamodb_config = aws_sdk_dynamodb::config::Builder::from(&config)
            .retry_config(retry_config(Service::DynamoDb))
            .build();
        let sqs_config = aws_sdk_sqs::config::Builder::from(&config)
            .retry_config(retry_config(Service::Sqs))
            .build();
        let kms_config = aws_sdk_kms::config::Builder::from(&config)
            .retry_config(retry_config(Service::Kms))
            .build();

        AwsClients {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb_config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            sqs: aws_sdk_sqs::Client::from_conf(sqs_config),
            kms: aws_sdk_kms::Client::from_conf(kms_config),
            region: config.region().map(ToString::to_string).unwrap_or_default(),
        }
    }
}

/// The SDK's HTTPS client (hyper, rustls with aws-lc, the system's trust store), except that
/// the trust store is read when the first connection is made instead of when the clients
/// are built: the SDK's own client loads every certificate of `/etc/ssl/certs` during
/// `load()`, which was the largest part of a function's Lambda init (docs/BENCHMARKS.md,
/// "Cold start"). The first request pays it instead — once per execution environment, as
/// before — and an invocation that makes no AWS request never does.
#[derive(Debug)]
struct TrustStoreOnFirstUse(SharedHttpClient);

impl TrustStoreOnFirstUse {
    fn new() -> Self {
        Self(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
                ))
                .build_https(),
        )
    }
}

impl HttpClient for TrustStoreOnFirstUse {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    // `validate_base_client_config` is not forwarded: the inner client's loads the trust
    // store there, at client construction, which is what this wrapper defers.

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// Boxes an SDK error as an opaque cause, so that no SDK type appears in a port's signature.
pub(crate) fn opaque<E>(err: E) -> Box<dyn std::error::Error + Send + Sync>
where
    E: std::error::Error + Send + Sync + 'static,
{
    Box::new(err)
}
