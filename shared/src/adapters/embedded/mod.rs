//! Embedded backend: the ports on SQLite and a local directory, for running RAVIS without AWS.
//!
//! On-disk layout and semantics: `docs/EMBEDDED_BACKEND.md`.

pub mod queue;
pub mod records;
mod sqlite;

pub use queue::{QueueOptions, SqliteQueue, SqliteQueueDb};
pub use records::SqliteRecordStore;
