//! The catalogue registry on the embedded backend (SQLite records, SQLite queue).

use ravis::adapters::embedded::{QueueOptions, SqliteQueue, SqliteRecordStore};
use ravis_tests::catalogue;

fn backend(dir: &tempfile::TempDir) -> (SqliteRecordStore, SqliteQueue) {
    (
        SqliteRecordStore::open(dir.path().join("records.db")).expect("open records"),
        SqliteQueue::open(
            dir.path().join("queue.db"),
            "scoring",
            QueueOptions::default(),
        )
        .expect("open queue"),
    )
}

#[tokio::test]
async fn seeding_is_idempotent_and_never_overwrites_an_edit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (records, queue) = backend(&dir);
    catalogue::seeding_is_idempotent(records, queue).await;
}

#[tokio::test]
async fn lists_filter_and_paginate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (records, queue) = backend(&dir);
    catalogue::lists_filter_and_paginate(records, queue).await;
}

#[tokio::test]
async fn edits_follow_every_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (records, queue) = backend(&dir);
    catalogue::edits_follow_every_rule(records, queue).await;
}
