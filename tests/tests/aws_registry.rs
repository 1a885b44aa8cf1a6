//! The registry suites on DynamoDB (moto emulator): pagination, conditional writes and the
//! child index behave as on the embedded backend.
//! Run through `scripts/moto.sh run -- cargo test ...` (or `make test`).

use ravis_tests::aws::fresh_record_store;
use ravis_tests::registry;

#[tokio::test]
async fn organisations_validate_version_page_and_filter_on_dynamodb() {
    registry::organisations(fresh_record_store().await).await;
}

#[tokio::test]
async fn specialists_and_certifications_on_dynamodb() {
    registry::specialists(fresh_record_store().await).await;
}

#[tokio::test]
async fn support_episodes_on_dynamodb() {
    registry::episodes(fresh_record_store().await).await;
}

#[tokio::test]
async fn legal_representatives_on_dynamodb() {
    registry::representatives(fresh_record_store().await).await;
}

#[tokio::test]
async fn retired_programmes_on_dynamodb() {
    registry::retired_programmes(fresh_record_store().await).await;
}
