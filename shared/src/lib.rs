//! RAVIS shared library: domain types and rules, ports, use cases, adapters and inbound plumbing.
//!
//! Layout (find a rule by its file name):
//! - `domain/`   — types that can only exist valid, and pure rules;
//! - `ports/`    — one small trait per capability (records, blobs, queue, clock, ids);
//! - `scoring/`  — screening instruments as data and the scoring engine (pure);
//! - `fhir/`     — results as FHIR R4B transaction Bundles and the X-Provenance (pure);
//! - `statistics/` — indicators, disclosure control, open data and the analytics lake's
//!   rows (pure);
//! - `store/`    — the one place that knows the table layout: keys, record codec, identity
//!   indexes, shared lookups;
//! - `services/` — use cases, generic over ports;
//! - `adapters/` — `aws` (DynamoDB, S3, SQS) and `embedded` (SQLite, local directory);
//! - `inbound/`  — HTTP, SQS and S3 event plumbing written once;
//! - `intake/`   — partner file imports (streaming readers, checkpointed upserts, worker);
//! - `config`    — the only place environment variables are read;
//! - `app`       — the composition root: builds the service graph once per backend;
//! - `telemetry` — logging set-up;
//! - `fuzzing`   — hidden entry points of the fuzz targets and property runs into private
//!   parsers (page cursors).

pub mod adapters;
pub mod app;
pub mod config;
pub mod domain;
pub mod fhir;
#[doc(hidden)]
pub mod fuzzing;
pub mod inbound;
pub mod intake;
pub mod ports;
pub mod scoring;
pub mod services;
pub mod statistics;
pub mod store;
pub mod telemetry;

#[cfg(test)]
mod layers;
