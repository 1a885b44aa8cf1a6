//! Lambda `intake-worker`: SQS-triggered by partner-bucket events; imports the files, writes
//! their reports under `results/`, reports batch item failures.

use ravis::adapters::aws::{AwsClients, DynamoRecordStore, S3BlobStore};
use ravis::config::Settings;
use ravis::inbound::intake_worker::IntakeWorker;
use ravis::inbound::lambda::serve_sqs;
use ravis::intake::IntakeService;
use ravis::ports::{RandomIds, SystemClock};
use ravis::services::audit::AuditTrail;
use ravis::services::audit_archive::AuditArchive;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = Settings::from_env()?;
    ravis::telemetry::init(&settings.log, ravis::telemetry::LogFormat::Json);
    // One invocation at a time per execution environment, which keeps /tmp: a report spool
    // found now was left by an invocation that timed out (its import resumes on redelivery).
    ravis::intake::report::clear_stale_spools(&std::env::temp_dir());
    let bucket = settings.require_partner_bucket()?.to_owned();
    let aws = AwsClients::for_endpoint(settings.aws_endpoint_url.as_deref()).await;
    let records = DynamoRecordStore::new(aws.dynamodb, &settings.table_name);
    let clock: Arc<dyn ravis::ports::Clock> = Arc::new(SystemClock);
    let intake = IntakeService::new(
        records.clone(),
        Arc::clone(&clock),
        Arc::new(RandomIds),
        &settings.identity_hmac_key,
    )
    .with_audit(
        AuditTrail::new(
            records,
            &settings.pseudonym_key,
            clock,
            settings.audit_retention_days,
        )
        // Audited population-register changes are copied to the write-once archive too.
        .with_archive(Arc::new(AuditArchive::new(S3BlobStore::new(
            aws.s3.clone(),
            settings.require_audit_archive_bucket()?,
        )))),
    );
    serve_sqs(IntakeWorker::new(
        intake,
        S3BlobStore::new(aws.s3, &bucket),
        bucket,
    ))
    .await
}
