//! Partner-file intake test support shared by the intake suites: dropping a file into a
//! partner bucket (with the S3 event it causes), reading the row report back, and a record
//! store that crashes mid-file.

use ravis::adapters::embedded::object_events::s3_event_key;
use ravis::inbound::intake_worker::result_keys;
use ravis::ports::{
    BlobStore, Key, Page, Record, RecordStore, SortKeyCondition, StoreError, WriteOp,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The row report the worker wrote for the partner file `key`: one JSON object per entry.
pub async fn report_of<B: BlobStore>(blobs: &B, key: &str) -> Vec<Value> {
    let (report_key, _) = result_keys(key);
    let bytes = blobs.get(&report_key).await.expect("the report");
    std::str::from_utf8(&bytes)
        .expect("a UTF-8 report")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Puts `body` at `key` in the partner bucket and returns the S3 event notification (as
/// the intake queue receives it) for that put; `seq` orders events of one key.
pub async fn drop_file<B: BlobStore>(
    blobs: &B,
    bucket: &str,
    key: &str,
    body: &[u8],
    seq: u32,
) -> String {
    let meta = blobs
        .put(key, body.to_vec().into(), None)
        .await
        .expect("put");
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-north-1",
        "eventTime": "2026-11-23T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "partner"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"}, "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "inbox",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "x"}, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": s3_event_key(key), "size": meta.size, "eTag": meta.etag, "sequencer": format!("{seq:016X}")}}
    }]})
    .to_string()
}

/// A record store that fails its `fail_at`-th atomic write (1-based; 0: never; plain and
/// bulk writes counted together), like a crash between two batches of an import; everything
/// else goes to `inner`, whose bulk write size it keeps. Clones share the count.
pub struct CrashingStore<R> {
    inner: R,
    transacts: Arc<AtomicUsize>,
    fail_at: Arc<AtomicUsize>,
}

impl<R> CrashingStore<R> {
    /// Wraps `inner`, failing its `fail_at`-th atomic write (0: none).
    pub fn new(inner: R, fail_at: usize) -> Self {
        Self {
            inner,
            transacts: Arc::new(AtomicUsize::new(0)),
            fail_at: Arc::new(AtomicUsize::new(fail_at)),
        }
    }
}

impl<R> CrashingStore<R> {
    /// How many atomic writes were asked for so far (failed ones included).
    pub fn writes(&self) -> usize {
        self.transacts.load(Ordering::SeqCst)
    }

    /// Fails the next atomic write (of this store and its clones).
    pub fn fail_next_write(&self) {
        self.fail_at.store(self.writes() + 1, Ordering::SeqCst);
    }

    /// Whether this write (counted now) is the one to fail.
    fn crashes_now(&self) -> bool {
        self.transacts.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_at.load(Ordering::SeqCst)
    }
}

impl<R: Clone> Clone for CrashingStore<R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            transacts: Arc::clone(&self.transacts),
            fail_at: Arc::clone(&self.fail_at),
        }
    }
}

impl<R: RecordStore> RecordStore for CrashingStore<R> {
    async fn get(&self, key: &Key) -> Result<Option<Record>, StoreError> {
        self.inner.get(key).await
    }
    async fn put_new(&self, record: Record) -> Result<(), StoreError> {
        self.inner.put_new(record).await
    }
    async fn put_versioned(&self, record: Record, expected: u64) -> Result<u64, StoreError> {
        self.inner.put_versioned(record, expected).await
    }
    async fn query(
        &self,
        pk: &str,
        c: &SortKeyCondition,
        limit: usize,
        desc: bool,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        self.inner.query(pk, c, limit, desc, cursor).await
    }
    async fn query_index(
        &self,
        pk: &str,
        c: &SortKeyCondition,
        limit: usize,
        desc: bool,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        self.inner.query_index(pk, c, limit, desc, cursor).await
    }
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        if self.crashes_now() {
            return Err(StoreError::Unavailable("simulated crash".into()));
        }
        self.inner.transact(ops).await
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Record>>, StoreError> {
        self.inner.get_many(keys).await
    }
    fn max_bulk_ops(&self) -> usize {
        self.inner.max_bulk_ops()
    }
    /// Counted with [`RecordStore::transact`]: an import commits each batch with it.
    async fn transact_bulk(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        if self.crashes_now() {
            return Err(StoreError::Unavailable("simulated crash".into()));
        }
        self.inner.transact_bulk(ops).await
    }
}

/// A record store and a partner bucket on the embedded backend, in a temporary directory
/// (kept alive by the returned guard).
pub fn embedded_partner() -> (
    ravis::adapters::embedded::SqliteRecordStore,
    ravis::adapters::embedded::DirBlobStore,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let records = ravis::adapters::embedded::SqliteRecordStore::open(dir.path().join("records.db"))
        .expect("record store");
    let blobs =
        ravis::adapters::embedded::DirBlobStore::open(dir.path().join("partner"), "partner")
            .expect("partner bucket");
    (records, blobs, dir)
}

/// The intake worker as deployed for kinds that audit their changes: its audit trail
/// (pseudonyms under `pseudonym_key`) archives into the partner bucket under `audit/`.
pub fn audited_worker<R: RecordStore + Clone, B: BlobStore + Clone>(
    records: R,
    blobs: B,
    bucket: &str,
    batch_rows: usize,
    identity_key: &[u8],
    pseudonym_key: &[u8],
) -> ravis::inbound::intake_worker::IntakeWorker<R, B> {
    let archive = Arc::new(ravis::services::audit_archive::AuditArchive::new(
        blobs.clone(),
    ));
    let service = ravis::app::App::new(records, identity_key, pseudonym_key)
        .expect("app")
        .with_archive(archive)
        .intake()
        .with_batch_rows(batch_rows);
    ravis::inbound::intake_worker::IntakeWorker::new(service, blobs, bucket)
}

/// Runs each partner-file test case `case(records, blobs, bucket)` on both backends: the
/// embedded one ([`embedded_partner`]) and the AWS one on the moto emulator, as
/// `embedded_backend::case` and `aws_backend::case`.
#[macro_export]
macro_rules! on_both_partner_backends {
    ($($case:ident),* $(,)?) => {
        mod embedded_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (records, blobs, _dir) = $crate::intake::embedded_partner();
                    super::$case(records, blobs, "partner").await;
                }
            )*
        }
        mod aws_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let records = $crate::aws::fresh_record_store().await;
                    let blobs = $crate::aws::fresh_blob_store().await;
                    let bucket = blobs.bucket().to_owned();
                    super::$case(records, blobs, &bucket).await;
                }
            )*
        }
    };
}
