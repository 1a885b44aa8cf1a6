//! Lambda `scoring-worker`: SQS-triggered; scores submissions, reports batch item failures.

use ravis::adapters::aws::{AwsClients, DynamoRecordStore, SqsQueue};
use ravis::config::Settings;
use ravis::inbound::lambda::serve_sqs;
use ravis::ports::{RandomIds, SystemClock};
use ravis::{scoring::Engine, services::scoring_worker::ScoringWorker};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = Settings::from_env()?;
    ravis::telemetry::init(&settings.log, ravis::telemetry::LogFormat::Json);
    let aws = AwsClients::for_settings(&settings).await;
    let records = DynamoRecordStore::new(aws.dynamodb, &settings.table_name);
    let engine = Arc::new(Engine::builtin()?);
    // A message that is not a scoring message goes to the scoring DLQ at once.
    let queue = SqsQueue::new(
        aws.sqs,
        settings.require_scoring_queue()?,
        Some(settings.require_scoring_dlq()?.to_owned()),
    );
    let worker = ScoringWorker::new(records, Arc::new(SystemClock), Arc::new(RandomIds), engine);
    serve_sqs(worker, queue).await
}
