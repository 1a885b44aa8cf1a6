//! Lambda `screenings-api`: screenings, risk profiles and the catalogue.

use ravis::adapters::aws::{AwsClients, DynamoRecordStore, S3BlobStore, SqsQueue};
use ravis::config::Settings;
use ravis::inbound::{auth::Authenticator, lambda::serve_http, screenings_api::ScreeningsApi};
use ravis::ports::{RandomIds, SystemClock};
use ravis::services::audit::AuditTrail;
use ravis::services::audit_archive::AuditArchive;
use ravis::services::{catalogue::CatalogueService, screenings::ScreeningsService};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let settings = Settings::from_env()?;
    ravis::telemetry::init(&settings.log, ravis::telemetry::LogFormat::Json);
    let aws = AwsClients::for_endpoint(settings.aws_endpoint_url.as_deref()).await;
    let records = DynamoRecordStore::new(aws.dynamodb, &settings.table_name);
    let queue = SqsQueue::new(aws.sqs, settings.require_scoring_queue()?, None);
    let engine = Arc::new(ravis::scoring::Engine::builtin()?);
    let clock = Arc::new(SystemClock);
    let catalogue = CatalogueService::new(records.clone(), Arc::clone(&engine), clock.clone())?;
    let audit = AuditTrail::new(
        records.clone(),
        &settings.pseudonym_key,
        clock.clone(),
        settings.audit_retention_days,
    )
    // Every audit entry is also copied to the write-once archive (S3 Object Lock).
    .with_archive(Arc::new(AuditArchive::new(S3BlobStore::new(
        aws.s3.clone(),
        settings.require_audit_archive_bucket()?,
    ))));
    let screenings =
        ScreeningsService::new(records, queue, clock, Arc::new(RandomIds), engine, audit);
    serve_http(
        Authenticator::new(&settings.auth)?,
        ScreeningsApi::new(screenings, catalogue),
    )
    .await
}
