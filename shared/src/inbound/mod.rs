//! Inbound plumbing written once: HTTP (routing, JSON, problem+json, auth), SQS batches
//! and S3 events, shared by every Lambda and by the local host.

pub mod auth;
pub mod http;
pub mod problem;
