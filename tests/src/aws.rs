//! Access to the local AWS emulator (moto) for tests: clients and fresh, uniquely named
//! tables, buckets and queues, so tests can run in parallel against one server.

use crate::contract::{BlobStoreFixture, QueueFixture, RecordStoreFixture};
use ravis::adapters::aws::{
    AwsClients, DynamoRecordStore, S3BlobStore, SqsQueue, create_bucket, create_queue_with_dlq,
    create_table,
};

/// The variable `scripts/moto.sh` sets to the emulator's URL.
pub const ENDPOINT_VAR: &str = "RAVIS_TEST_AWS_ENDPOINT";

/// The region every emulator test uses.
pub const REGION: &str = "eu-north-1";

/// Clients for the emulator named by [`ENDPOINT_VAR`], with static test credentials.
///
/// # Panics
/// When the variable is missing: the AWS tests must fail loudly, never skip silently.
pub async fn emulator() -> AwsClients {
    let endpoint = match std::env::var(ENDPOINT_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{ENDPOINT_VAR} is not set: the AWS adapter tests need the local moto emulator. \
             Run them through `scripts/moto.sh run -- cargo test ...` (or `make test`), \
             or `eval \"$(scripts/moto.sh start)\"` first."
        ),
    };
    AwsClients::builder()
        .region(REGION)
        .endpoint_url(endpoint)
        .static_credentials("test", "test")
        .build()
        .await
}

/// A name no other test uses: `prefix` plus a random suffix, valid for tables, buckets
/// (lower case, at most 63 characters) and queues.
pub fn unique_name(prefix: &str) -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &suffix[..20])
}

/// A record store on a new table.
pub async fn fresh_record_store() -> DynamoRecordStore {
    let clients = emulator().await;
    let table = unique_name("ravis-records");
    create_table(&clients.dynamodb, &table)
        .await
        .unwrap_or_else(|e| panic!("cannot create table {table}: {e:?}"));
    DynamoRecordStore::new(clients.dynamodb, table)
}

/// A blob store on a new bucket.
pub async fn fresh_blob_store() -> S3BlobStore {
    let clients = emulator().await;
    let bucket = unique_name("ravis-blobs");
    create_bucket(&clients.s3, &bucket)
        .await
        .unwrap_or_else(|e| panic!("cannot create bucket {bucket}: {e:?}"));
    S3BlobStore::new(clients.s3, bucket)
}

/// A queue with its dead-letter queue, dead-lettering after `max_receives` receives.
pub async fn fresh_queue(max_receives: u32) -> SqsQueue {
    let clients = emulator().await;
    let name = unique_name("ravis-queue");
    create_queue_with_dlq(&clients.sqs, &name, max_receives)
        .await
        .unwrap_or_else(|e| panic!("cannot create queue {name}: {e:?}"))
}

/// Fresh record stores for the contract suite: a new table per case.
#[derive(Debug, Default)]
pub struct DynamoRecordsFixture;

impl RecordStoreFixture for DynamoRecordsFixture {
    type Store = DynamoRecordStore;

    async fn fresh(&self) -> DynamoRecordStore {
        fresh_record_store().await
    }
}

/// Fresh blob stores for the contract suite: a new bucket per case.
#[derive(Debug, Default)]
pub struct S3BlobsFixture;

impl BlobStoreFixture for S3BlobsFixture {
    type Store = S3BlobStore;

    async fn fresh(&self) -> S3BlobStore {
        fresh_blob_store().await
    }
}

/// Fresh queues for the contract suite: a new queue and dead-letter queue per case.
#[derive(Debug, Default)]
pub struct SqsQueueFixture;

impl QueueFixture for SqsQueueFixture {
    type Queue = SqsQueue;

    async fn fresh(&self, max_receives: u32) -> SqsQueue {
        fresh_queue(max_receives).await
    }
}

/// An archive blob store on a new bucket created as the template creates AuditArchiveBucket:
/// versioned, with S3 Object Lock and a default retention (GOVERNANCE, 1 day, for tests).
pub async fn fresh_object_lock_store() -> S3BlobStore {
    use aws_sdk_s3::types::{
        BucketLocationConstraint, CreateBucketConfiguration, DefaultRetention,
        ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule,
    };
    let clients = emulator().await;
    let bucket = unique_name("ravis-archive");
    clients
        .s3
        .create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(true)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("cannot create bucket {bucket}: {e:?}"));
    clients
        .s3
        .put_object_lock_configuration()
        .bucket(&bucket)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(
                            DefaultRetention::builder()
                                .mode(ObjectLockRetentionMode::Governance)
                                .days(1)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("cannot configure Object Lock on {bucket}: {e:?}"));
    S3BlobStore::new(clients.s3, bucket)
}
