//! The audit archive on the embedded backend (SQLite records, directory blob store).

use ravis::adapters::embedded::{DirBlobStore, SqliteRecordStore};
use ravis::services::audit_archive::LOCAL_ARCHIVE_BUCKET;
use ravis_tests::audit_archive;

/// A fresh record store and archive bucket in a temporary directory (kept while it lives).
fn embedded() -> (tempfile::TempDir, SqliteRecordStore, DirBlobStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let records = SqliteRecordStore::open(dir.path().join("records.db")).expect("records");
    let blobs = DirBlobStore::open(dir.path().join("blobs"), LOCAL_ARCHIVE_BUCKET).expect("blobs");
    (dir, records, blobs)
}

#[tokio::test]
async fn the_archive_anchors_the_chain_on_the_embedded_backend() {
    let (_dir, records, blobs) = embedded();
    audit_archive::archive_anchors_the_chain(records, blobs).await;
}

#[tokio::test]
async fn dpo_reads_are_recorded_in_their_own_chain_on_the_embedded_backend() {
    let (_dir, records, blobs) = embedded();
    audit_archive::dpo_reads_are_chained(records, blobs).await;
}

#[tokio::test]
async fn the_deferred_archive_is_drained_on_the_embedded_backend() {
    let (_dir, records, blobs) = embedded();
    audit_archive::deferred_archive_drains_the_pending_entries(records, blobs).await;
}
