//! Adapters: implementations of the ports for AWS (DynamoDB, S3, SQS) and for the embedded local backend.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "exchange-http")]
pub mod ckan_http;
pub mod delivery;
#[cfg(feature = "embedded")]
pub mod embedded;
#[cfg(feature = "exchange-http")]
pub mod fhir_http;
#[cfg(feature = "exchange-http")]
pub mod http_client;
pub mod outbox;
pub mod signing;
#[cfg(feature = "exchange-http")]
pub mod viis_http;
pub mod wording;
