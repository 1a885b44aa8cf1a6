//! Lambda `scoring-worker`: SQS-triggered; scores submissions, reports batch item failures.

use ravis::adapters::aws::{AwsClients, DynamoRecordStore};
use ravis::config::Settings;
use ravis::inbound::lambda::serve_sqs;
use ravis::ports::{RandomIds, SystemClock};
use ravis::{scoring::Engine, services::scoring_worker::ScoringWorker};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = Settings::from_env()?;
    ravis::telemetry::init(&settings.log, ravis::telemetry::LogFormat::Json);
    let aws = AwsClients::for_endpoint(settings.aws_endpoint_url.as_deref()).await;
    let records = DynamoRecordStore::new(aws.dynamodb, &settings.table_name);
    let engine = Arc::new(Engine::builtin()?);
    serve_sqs(ScoringWorker::new(
        records,
        Arc::new(SystemClock),
        Arc::new(RandomIds),
        engine,
    ))
    .await
}
