//! Inbound plumbing written once: HTTP (routing, JSON, problem+json, auth), SQS batches
//! and S3 events, shared by every Lambda and by the local host.

pub mod all_routes;
pub mod auth;
pub mod children_api;
pub mod exports_api;
pub mod http;
pub mod intake_api;
pub mod intake_worker;
pub mod jwks;
pub mod lambda;
pub mod metrics;
pub mod pathway_api;
pub mod problem;
pub mod registry_api;
pub mod reports_api;
pub mod routes;
pub mod s3;
pub mod screenings_api;
pub mod sqs;
