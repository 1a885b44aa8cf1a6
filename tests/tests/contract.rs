//! Port contract suites run against every adapter: one test per case per adapter.
//!
//! `cargo test -p ravis-tests --test contract`

use ravis_tests::embedded::{DirBlobsFixture, SqliteQueueFixture, SqliteRecordsFixture};

// Embedded backend (SQLite, local directory).
ravis_tests::record_store_contract!(embedded_records, SqliteRecordsFixture::new());
ravis_tests::queue_contract!(embedded_queue, SqliteQueueFixture::new());
ravis_tests::blob_store_contract!(embedded_blobs, DirBlobsFixture::new());

// AWS adapters against the emulator: add their invocations below this line.
