//! Lambda `children-api`: `POST /children`, `GET /children/{id}`, `GET /audit`, `GET /audit/report`.

use ravis::adapters::aws::{AwsClients, DynamoRecordStore, S3BlobStore};
use ravis::config::Settings;
use ravis::inbound::{auth::Authenticator, children_api::ChildrenApi, lambda::serve_http};
use ravis::ports::{RandomIds, SystemClock};
use ravis::services::audit::AuditTrail;
use ravis::services::audit_archive::AuditArchive;
use ravis::services::children::ChildrenService;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let settings = Settings::from_env()?;
    ravis::telemetry::init(&settings.log, ravis::telemetry::LogFormat::Json);
    let aws = AwsClients::for_settings(&settings).await;
    let records = DynamoRecordStore::new(aws.dynamodb, &settings.table_name);
    let clock = Arc::new(SystemClock);
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
    let service = ChildrenService::new(
        records,
        clock,
        Arc::new(RandomIds),
        &settings.identity_hmac_key,
        audit,
    );
    serve_http(Authenticator::new(&settings.auth)?, ChildrenApi(service)).await
}
