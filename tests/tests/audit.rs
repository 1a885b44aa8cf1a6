//! The audit trail on the embedded backend (SQLite records, SQLite queue).

use ravis::adapters::embedded::{QueueOptions, SqliteQueue, SqliteRecordStore};
use ravis_tests::audit;

fn store(dir: &tempfile::TempDir) -> SqliteRecordStore {
    SqliteRecordStore::open(dir.path().join("records.db")).expect("open records")
}

fn queue(dir: &tempfile::TempDir) -> SqliteQueue {
    SqliteQueue::open(
        dir.path().join("queue.db"),
        "scoring",
        QueueOptions::default(),
    )
    .expect("open queue")
}

#[tokio::test]
async fn every_personal_data_access_is_audited_once_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    audit::end_to_end_walk(store(&dir), queue(&dir)).await;
}

#[tokio::test]
async fn tampering_is_detected_and_located() {
    let dir = tempfile::tempdir().expect("tempdir");
    audit::tamper_detection(store(&dir)).await;
}

#[tokio::test]
async fn concurrent_appends_never_fork_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    audit::concurrent_appends(store(&dir)).await;
}

#[tokio::test]
async fn retention_sets_expiry_and_tolerates_only_an_expired_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    audit::retention(store(&dir)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_appends_share_their_writes_through_the_group_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blobs =
        ravis::adapters::embedded::DirBlobStore::open(dir.path().join("archive"), "archive")
            .expect("bucket");
    audit::group_commit_shares_writes(store(&dir), blobs).await;
}

#[tokio::test]
async fn a_submission_and_its_audit_entry_share_one_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    audit::submission_and_its_audit_entry_share_one_write(store(&dir), queue(&dir)).await;
}
