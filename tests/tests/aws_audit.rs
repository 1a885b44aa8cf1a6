//! The audit trail on DynamoDB and SQS (moto emulator).
//! Run through `scripts/moto.sh run -- cargo test ...` (or `make test`).

use ravis_tests::audit;
use ravis_tests::aws::{fresh_blob_store, fresh_queue, fresh_record_store};

#[tokio::test]
async fn every_personal_data_access_is_audited_once_on_dynamodb() {
    audit::end_to_end_walk(fresh_record_store().await, fresh_queue(5).await).await;
}

#[tokio::test]
async fn tampering_is_detected_and_located_on_dynamodb() {
    audit::tamper_detection(fresh_record_store().await).await;
}

#[tokio::test]
async fn concurrent_appends_never_fork_the_chain_on_dynamodb() {
    audit::concurrent_appends(fresh_record_store().await).await;
}

#[tokio::test]
async fn retention_sets_expiry_on_dynamodb() {
    audit::retention(fresh_record_store().await).await;
}

#[tokio::test]
async fn the_archive_anchors_the_chain_on_dynamodb_and_an_object_lock_bucket() {
    ravis_tests::audit_archive::archive_anchors_the_chain(
        fresh_record_store().await,
        ravis_tests::aws::fresh_object_lock_store().await,
    )
    .await;
}

#[tokio::test]
async fn the_deferred_archive_is_drained_on_dynamodb_and_an_object_lock_bucket() {
    ravis_tests::audit_archive::deferred_archive_drains_the_pending_entries(
        fresh_record_store().await,
        ravis_tests::aws::fresh_object_lock_store().await,
    )
    .await;
}

#[tokio::test]
async fn dpo_reads_are_recorded_in_their_own_chain_on_dynamodb() {
    ravis_tests::audit_archive::dpo_reads_are_chained(
        fresh_record_store().await,
        ravis_tests::aws::fresh_object_lock_store().await,
    )
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_appends_share_their_writes_on_dynamodb() {
    audit::group_commit_shares_writes(fresh_record_store().await, fresh_blob_store().await).await;
}

#[tokio::test]
async fn a_submission_and_its_audit_entry_share_one_write_on_dynamodb() {
    audit::submission_and_its_audit_entry_share_one_write(
        fresh_record_store().await,
        fresh_queue(5).await,
    )
    .await;
}
