//! The analytics lake on the embedded backend (SQLite records, the durable local queue,
//! a directory bucket): `ravis_tests::lake`.

use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions};
use ravis::services::lake::LOCAL_ANALYTICS_BUCKET;
use ravis_tests::lake;

#[tokio::test]
async fn the_lake_counts_each_person_once_and_names_no_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = EmbeddedBackend::open(dir.path()).expect("backend");
    let queue = backend
        .queue("scoring", QueueOptions::default())
        .expect("queue");
    let blobs = backend.blobs(LOCAL_ANALYTICS_BUCKET).expect("bucket");
    lake::the_lake_counts_each_person_once_and_names_no_one(backend.records(), queue, blobs).await;
}
