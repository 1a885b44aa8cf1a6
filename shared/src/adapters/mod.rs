//! Adapters: implementations of the ports for AWS (DynamoDB, S3, SQS) and for the embedded local backend.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod signing;
