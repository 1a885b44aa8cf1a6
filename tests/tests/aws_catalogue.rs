//! The catalogue registry on DynamoDB (moto emulator).
//! Run through `scripts/moto.sh run -- cargo test ...` (or `make test`).

use ravis_tests::aws::{fresh_queue, fresh_record_store};
use ravis_tests::catalogue;

#[tokio::test]
async fn seeding_is_idempotent_and_never_overwrites_an_edit_on_dynamodb() {
    catalogue::seeding_is_idempotent(fresh_record_store().await, fresh_queue(5).await).await;
}

#[tokio::test]
async fn lists_filter_and_paginate_on_dynamodb() {
    catalogue::lists_filter_and_paginate(fresh_record_store().await, fresh_queue(5).await).await;
}

#[tokio::test]
async fn edits_follow_every_rule_on_dynamodb() {
    catalogue::edits_follow_every_rule(fresh_record_store().await, fresh_queue(5).await).await;
}
