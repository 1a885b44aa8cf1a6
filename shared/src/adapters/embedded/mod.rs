//! Embedded backend: the ports on SQLite and a local directory, for running RAVIS without AWS.
//!
//! On-disk layout and semantics: `docs/EMBEDDED_BACKEND.md`.

pub mod backend;
pub mod blobs;
pub mod object_events;
pub mod queue;
pub mod records;
mod sqlite;

pub use backend::{EmbeddedBackend, EmbeddedError};
pub use blobs::{DirBlobStore, Layout, PACKED_MAX};
pub use object_events::{ObjectEvents, s3_event_key};
pub use queue::{QueueOptions, SqliteQueue, SqliteQueueDb};
pub use records::SqliteRecordStore;
