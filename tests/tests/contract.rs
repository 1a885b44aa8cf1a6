//! Port contract suites run against every adapter: one test per case per adapter.
//!
//! `cargo test -p ravis-tests --test contract`

use ravis_tests::embedded::SqliteRecordsFixture;

// Embedded backend (SQLite, local directory).
ravis_tests::record_store_contract!(embedded_records, SqliteRecordsFixture::new());

// AWS adapters against the emulator: add their invocations below this line.
