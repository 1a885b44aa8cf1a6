//! The care pathway suites on DynamoDB and SQS (moto emulator).
//! Run through `scripts/moto.sh run -- cargo test ...` (or `make test`).

use ravis_tests::aws::{fresh_queue, fresh_record_store};
use ravis_tests::pathway;

#[tokio::test]
async fn follow_up_on_the_worklist_on_dynamodb() {
    pathway::follow_up_interview_on_the_worklist(fresh_record_store().await, fresh_queue(5).await)
        .await;
}

#[tokio::test]
async fn a_referral_through_its_life_on_dynamodb() {
    pathway::a_referral_through_its_life(fresh_record_store().await, fresh_queue(5).await).await;
}

#[tokio::test]
async fn refused_referral_steps_on_dynamodb() {
    pathway::refused_steps_change_nothing(fresh_record_store().await, fresh_queue(5).await).await;
}

#[tokio::test]
async fn the_sweep_on_dynamodb() {
    pathway::the_sweep_repairs_and_counts(fresh_record_store().await, fresh_queue(5).await).await;
}

#[tokio::test]
async fn the_register_of_a_territory_on_dynamodb() {
    pathway::the_register_of_a_territory(fresh_record_store().await, fresh_queue(5).await).await;
}
