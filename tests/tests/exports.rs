//! Exports (issue #12) on the embedded backend: SQLite records, the durable local queues,
//! the VIIS outbox in a directory bucket, the loopback FHIR test receiver.

use ravis::adapters::embedded::{
    DirBlobStore, EmbeddedBackend, QueueOptions, SqliteQueue, SqliteRecordStore,
};
use ravis_tests::exports;

fn backend(dir: &tempfile::TempDir) -> (SqliteRecordStore, SqliteQueue, SqliteQueue, DirBlobStore) {
    let backend = EmbeddedBackend::open(dir.path()).expect("backend");
    let options = QueueOptions {
        max_receives: 5,
        ..QueueOptions::default()
    };
    (
        backend.records(),
        backend.queue("scoring", options.clone()).expect("queue"),
        backend.queue("exports", options).expect("queue"),
        backend.blobs("exchange").expect("bucket"),
    )
}

#[tokio::test]
async fn a_result_reaches_the_e_health_system_and_viis_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (r, s, e, b) = backend(&dir);
    exports::a_result_reaches_both_receivers(r, s, e, b).await;
}

#[tokio::test]
async fn receiver_faults_are_retried_dead_lettered_and_retried_by_an_operator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (r, s, e, b) = backend(&dir);
    exports::faults_are_retried_and_nothing_duplicates(r, s, e, b).await;
}

#[tokio::test]
async fn a_merge_updates_and_a_child_without_a_code_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (r, s, e, b) = backend(&dir);
    exports::merges_update_and_a_child_without_a_code_is_skipped(r, s, e, b).await;
}

#[tokio::test]
async fn the_sweep_delivers_a_job_whose_message_was_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (r, s, e, b) = backend(&dir);
    exports::the_sweep_delivers_jobs_whose_message_was_lost(r, s, e, b).await;
}

#[tokio::test]
async fn a_rescore_updates_what_was_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (r, s, e, b) = backend(&dir);
    exports::a_rescore_updates_what_was_sent(r, s, e, b).await;
}
