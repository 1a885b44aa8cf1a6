//! Exports (issue #12) on DynamoDB, SQS and S3 (moto emulator), against the loopback FHIR
//! test receiver. Run through `scripts/moto.sh run -- cargo test ...` (or `make test`).

use ravis_tests::aws::{fresh_blob_store, fresh_queue, fresh_record_store};
use ravis_tests::exports;

#[tokio::test]
async fn a_result_reaches_both_receivers_on_aws() {
    exports::a_result_reaches_both_receivers(
        fresh_record_store().await,
        fresh_queue(5).await,
        fresh_queue(5).await,
        fresh_blob_store().await,
    )
    .await;
}

#[tokio::test]
async fn receiver_faults_on_aws() {
    exports::faults_are_retried_and_nothing_duplicates(
        fresh_record_store().await,
        fresh_queue(5).await,
        fresh_queue(5).await,
        fresh_blob_store().await,
    )
    .await;
}

#[tokio::test]
async fn merges_and_skips_on_aws() {
    exports::merges_update_and_a_child_without_a_code_is_skipped(
        fresh_record_store().await,
        fresh_queue(5).await,
        fresh_queue(5).await,
        fresh_blob_store().await,
    )
    .await;
}

#[tokio::test]
async fn the_sweep_on_aws() {
    exports::the_sweep_delivers_jobs_whose_message_was_lost(
        fresh_record_store().await,
        fresh_queue(5).await,
        fresh_queue(5).await,
        fresh_blob_store().await,
    )
    .await;
}

#[tokio::test]
async fn a_rescore_updates_what_was_sent_on_aws() {
    exports::a_rescore_updates_what_was_sent(
        fresh_record_store().await,
        fresh_queue(5).await,
        fresh_queue(5).await,
        fresh_blob_store().await,
    )
    .await;
}

#[tokio::test]
async fn viis_over_http_on_aws() {
    exports::viis_over_http_is_retried_and_refusals_are_kept(
        fresh_record_store().await,
        fresh_queue(5).await,
        fresh_queue(5).await,
        fresh_blob_store().await,
    )
    .await;
}

#[tokio::test]
async fn a_failed_disclosure_copy_is_archived_on_redelivery_on_aws() {
    exports::a_disclosure_whose_archive_copy_failed_is_archived_on_redelivery(
        fresh_record_store().await,
        fresh_queue(5).await,
        fresh_queue(5).await,
        fresh_blob_store().await,
    )
    .await;
}
