//! Reports on the embedded backend: `ravis_tests::reports`.

use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions};

#[tokio::test]
async fn reports_are_protected_scoped_and_published() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = EmbeddedBackend::open(dir.path()).expect("backend");
    let queue = backend
        .queue("scoring", QueueOptions::default())
        .expect("queue");
    let report_queue = backend
        .queue("reports", QueueOptions::default())
        .expect("queue");
    let buckets = ["analytics", "reports", "open-data"].map(|b| backend.blobs(b).expect("bucket"));
    ravis_tests::reports::reports_end_to_end(backend.records(), queue, report_queue, buckets).await;
}

#[tokio::test]
async fn open_data_releases_are_pushed_to_ckan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = EmbeddedBackend::open(dir.path()).expect("backend");
    let queue = backend
        .queue("scoring", QueueOptions::default())
        .expect("queue");
    let report_queue = backend
        .queue("reports", QueueOptions::default())
        .expect("queue");
    let buckets = ["analytics", "reports", "open-data"].map(|b| backend.blobs(b).expect("bucket"));
    ravis_tests::reports::ckan_push(backend.records(), queue, report_queue, buckets).await;
}
