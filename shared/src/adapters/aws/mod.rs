//! AWS adapters: DynamoDB records, S3 blobs, SQS queues, the KMS signer, and the clients
//! they share.
//!
//! Where the client settings come from:
//! - region: [`AwsClientsBuilder::region`] if given, else aws-config's default chain
//!   (`AWS_REGION`, then the profile files, then instance metadata; the part after the
//!   environment is built only when the environment names no region);
//! - credentials: [`AwsClientsBuilder::static_credentials`] if given (tests against an
//!   emulator), else aws-config's default chain (environment, profile, web identity,
//!   container and instance roles — on Lambda, the function's role, from the environment;
//!   the part after the environment is built only when it holds no credentials);
//! - endpoint: [`AwsClientsBuilder::endpoint_url`] if given (an emulator), else
//!   `AWS_ENDPOINT_URL` as aws-config reads it, else the real AWS endpoints.
//!
//! - retries: [`retry_config`] per service — the SDK's standard mode (exponential back-off
//!   with jitter, a retry quota) with more attempts and shorter pauses than its defaults
//!   (3 attempts from 1 s), so that throttling, 5xx answers and dropped connections are
//!   absorbed within an API function's 10 s timeout. Proven at 10 % injected faults
//!   (`scripts/fault-test.sh`, docs/DEPLOY.md "Retries").
//!
//! - clients: configured once, each made on its first use ([`Lazy`]), so a function makes
//!   only the clients of the services it calls (docs/BENCHMARKS.md, "Cold start").
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
use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_config::meta::region::ProvideRegion;
use aws_config::retry::RetryConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use std::fmt;
use std::sync::{Arc, OnceLock};
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

/// A service client made on its first use (then kept, and shared by every clone), or one
/// made already. Dereferences to the client.
///
/// Making an SDK client is not free: each service crate parses its endpoint partitions and
/// compiles their regular expressions the first time one of its clients is made. Built on
/// first use, a function pays that only for the services it calls, when it first calls
/// them, instead of for all four at cold start (docs/BENCHMARKS.md, "Cold start").
pub struct Lazy<C> {
    inner: Arc<LazyInner<C>>,
}

struct LazyInner<C> {
    client: OnceLock<C>,
    make: Box<dyn Fn() -> C + Send + Sync>,
}

impl<C: Clone + Send + Sync + 'static> Lazy<C> {
    /// A client that `make` makes when it is first used.
    pub fn new(make: impl Fn() -> C + Send + Sync + 'static) -> Self {
        Self {
            inner: Arc::new(LazyInner {
                client: OnceLock::new(),
                make: Box::new(make),
            }),
        }
    }

    /// The client, made now if this is its first use.
    pub fn get(&self) -> &C {
        self.inner.client.get_or_init(|| (self.inner.make)())
    }

    /// Whether the client has been made.
    pub fn is_made(&self) -> bool {
        self.inner.client.get().is_some()
    }
}

/// A client made already.
impl<C: Clone + Send + Sync + 'static> From<C> for Lazy<C> {
    fn from(client: C) -> Self {
        let copy = client.clone();
        Self {
            inner: Arc::new(LazyInner {
                client: OnceLock::from(client),
                make: Box::new(move || copy.clone()),
            }),
        }
    }
}

impl<C: Clone + Send + Sync + 'static> std::ops::Deref for Lazy<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.get()
    }
}

impl<C> Clone for Lazy<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C> fmt::Debug for Lazy<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lazy")
            .field("made", &self.inner.client.get().is_some())
            .finish()
    }
}

/// The SDK clients, configured once per process and cloned (cheaply) into each adapter;
/// each is made on its first use ([`Lazy`]).
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// DynamoDB client.
    pub dynamodb: Lazy<aws_sdk_dynamodb::Client>,
    /// S3 client (path-style addressing when an endpoint is overridden).
    pub s3: Lazy<aws_sdk_s3::Client>,
    /// SQS client.
    pub sqs: Lazy<aws_sdk_sqs::Client>,
    /// KMS client (the exports worker's signing key).
    pub kms: Lazy<aws_sdk_kms::Client>,
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
        loader = match self.region {
            Some(region) => loader.region(Region::new(region)),
            // The default chain, asking the environment (where Lambda puts the region) first
            // and building the rest (profile files, instance metadata) only when it has none.
            None => loader.region(EnvFirstRegion::default()),
        };
        if let Some(url) = self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        loader = match self.static_credentials {
            Some((key, secret)) => {
                loader.credentials_provider(Credentials::new(key, secret, None, None, "static"))
            }
            // Likewise for credentials: Lambda gives the function's role's credentials in
            // the environment, the first place the default chain looks; the rest of the chain
            // (with its STS client for web identity tokens) is built only without them.
            None => loader.credentials_provider(EnvFirstCredentials::default()),
        };
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
            dynamodb: Lazy::new(move || {
                aws_sdk_dynamodb::Client::from_conf(dynamodb_config.clone())
            }),
            s3: Lazy::new(move || aws_sdk_s3::Client::from_conf(s3_config.clone())),
            sqs: Lazy::new(move || aws_sdk_sqs::Client::from_conf(sqs_config.clone())),
            kms: Lazy::new(move || aws_sdk_kms::Client::from_conf(kms_config.clone())),
            region: config.region().map(ToString::to_string).unwrap_or_default(),
        }
    }
}

/// aws-config's default region chain (environment, profile files, instance metadata), with
/// the environment asked first, as the chain does, and the rest of the chain built only
/// when the environment names no region. Building the whole chain (an instance-metadata
/// client among it) at cold start was part of every function's init, and on Lambda the
/// environment always names the region.
#[derive(Debug, Default)]
struct EnvFirstRegion {
    rest: tokio::sync::OnceCell<aws_config::default_provider::region::DefaultRegionChain>,
}

impl ProvideRegion for EnvFirstRegion {
    fn region(&self) -> aws_config::meta::region::future::ProvideRegion<'_> {
        aws_config::meta::region::future::ProvideRegion::new(async move {
            if let Some(region) = EnvironmentVariableRegionProvider::new().region().await {
                return Some(region);
            }
            self.rest
                .get_or_init(|| async {
                    aws_config::default_provider::region::DefaultRegionChain::builder().build()
                })
                .await
                .region()
                .await
        })
    }
}

/// aws-config's default credentials chain (environment, profile files, web identity token,
/// container and instance roles), with the environment asked first, as the chain does, and
/// the rest of the chain built only when the environment holds no credentials (on Lambda it
/// always holds the function's role's). Building the whole chain at cold start made an STS
/// client (parsing its endpoint partitions) in every function's init.
#[derive(Debug, Default)]
struct EnvFirstCredentials {
    rest: tokio::sync::OnceCell<aws_config::default_provider::credentials::DefaultCredentialsChain>,
}

impl ProvideCredentials for EnvFirstCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            match EnvironmentVariableCredentialsProvider::new()
                .provide_credentials()
                .await
            {
                // Not there: the chain goes on to its next provider; anything else (found,
                // or malformed) ends the chain there.
                Err(CredentialsError::CredentialsNotLoaded(_)) => {}
                other => return other,
            }
            self.rest
                .get_or_init(|| async {
                    aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                        .build()
                        .await
                })
                .await
                .provide_credentials()
                .await
        })
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
