//! Lambda `children-api`: the children routes (register, read, change, search, break-the-glass),
//! the data protection officer's `GET /audit`, `/audit/report`, `/audit/break-the-glass`, and the
//! registry routes (organisations, specialists with certifications, support episodes,
//! legal representatives).

use ravis::adapters::aws::{AwsClients, DynamoRecordStore, S3BlobStore};
use ravis::config::Settings;
use ravis::inbound::registry_api::{Both, RegistryApi};
use ravis::inbound::{auth::Authenticator, children_api::ChildrenApi, lambda::serve_http};
use ravis::ports::{RandomIds, SystemClock};
use ravis::services::audit::AuditTrail;
use ravis::services::audit_archive::AuditArchive;
use ravis::services::children::ChildrenService;
use ravis::services::registry::RegistryService;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let settings = Settings::from_env()?;
    ravis::telemetry::init(&settings.log, ravis::telemetry::LogFormat::Json);
    let aws = AwsClients::for_endpoint(settings.aws_endpoint_url.as_deref()).await;
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
    let registry = RegistryService::new(
        records.clone(),
        clock.clone(),
        Arc::new(RandomIds),
        audit.clone(),
        &settings.identity_hmac_key,
    );
    let service = ChildrenService::new(
        records,
        clock,
        Arc::new(RandomIds),
        &settings.identity_hmac_key,
        audit,
    )
    .with_break_glass_minutes(settings.break_glass_minutes);
    serve_http(
        Authenticator::new(&settings.auth)?,
        Both(ChildrenApi(service), RegistryApi(registry)),
    )
    .await
}
