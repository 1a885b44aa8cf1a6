//! Port contract suites run against every adapter: one test per case per adapter.
//!
//! `scripts/moto.sh run -- cargo test -p ravis-tests --test all contract::`

use ravis_tests::aws::{DynamoRecordsFixture, S3BlobsFixture, SqsQueueFixture};
use ravis_tests::embedded::{DirBlobsFixture, SqliteQueueFixture, SqliteRecordsFixture};

// Embedded backend (SQLite, local directory).
ravis_tests::record_store_contract!(embedded_records, SqliteRecordsFixture::new());
ravis_tests::queue_contract!(embedded_queue, SqliteQueueFixture::new());
ravis_tests::blob_store_contract!(embedded_blobs, DirBlobsFixture::new());
// A packed bucket (the local audit archive's layout): small objects in the index.
ravis_tests::blob_store_contract!(embedded_packed_blobs, DirBlobsFixture::packed());

// AWS adapters against the moto emulator (`scripts/moto.sh run -- ...`): a fresh
// table, bucket or queue per case.
ravis_tests::record_store_contract!(aws_records, DynamoRecordsFixture);
ravis_tests::queue_contract!(aws_queue, SqsQueueFixture);
ravis_tests::blob_store_contract!(aws_blobs, S3BlobsFixture);
