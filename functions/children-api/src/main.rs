//! Lambda `children-api`: `POST /children`, `GET /children/{id}`.

use ravis::adapters::aws::{AwsClients, DynamoRecordStore};
use ravis::config::Settings;
use ravis::inbound::{auth::Authenticator, children_api::ChildrenApi, lambda::serve_http};
use ravis::ports::{RandomIds, SystemClock};
use ravis::services::children::ChildrenService;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let settings = Settings::from_env()?;
    ravis::telemetry::init(&settings.log, ravis::telemetry::LogFormat::Json);
    let aws = AwsClients::for_settings(&settings).await;
    let records = DynamoRecordStore::new(aws.dynamodb, &settings.table_name);
    let service = ChildrenService::new(
        records,
        Arc::new(SystemClock),
        Arc::new(RandomIds),
        &settings.identity_hmac_key,
    );
    serve_http(Authenticator::new(&settings.auth)?, ChildrenApi(service)).await
}
