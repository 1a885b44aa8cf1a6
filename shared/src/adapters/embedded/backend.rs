//! The embedded backend as a whole: one data directory holding the record store, the
//! queues and the buckets.
//!
//! ```text
//! <data_dir>/records.db        records (SqliteRecordStore)
//! <data_dir>/queue.db          every named queue and its dead letters (SqliteQueueDb)
//! <data_dir>/blobs/<bucket>/   one DirBlobStore per bucket
//! ```

use super::blobs::DirBlobStore;
use super::queue::{QueueOptions, SqliteQueue, SqliteQueueDb};
use super::records::SqliteRecordStore;
use crate::ports::{BlobError, Clock, QueueError, StoreError, SystemClock};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// Why the embedded backend could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The file-system error.
        #[source]
        source: std::io::Error,
    },
    /// The record store could not be opened.
    #[error("cannot open the record store")]
    Records(#[source] StoreError),
    /// The queue database could not be opened.
    #[error("cannot open the queue database")]
    Queues(#[source] QueueError),
}

/// Every store of the embedded backend, opened from one data directory.
#[derive(Clone)]
pub struct EmbeddedBackend {
    data_dir: PathBuf,
    clock: Arc<dyn Clock>,
    records: SqliteRecordStore,
    queues: SqliteQueueDb,
    /// One store per bucket per process: two would each replay the other's in-flight journal.
    buckets: Arc<Mutex<HashMap<String, DirBlobStore>>>,
}

impl std::fmt::Debug for EmbeddedBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBackend")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// S3's bucket naming rules: 3–63 of `a-z 0-9 . -`, starting and ending with a letter or digit.
fn check_bucket_name(name: &str) -> Result<(), BlobError> {
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let bytes = name.as_bytes();
    let valid = (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        && edge_ok(bytes.first())
        && edge_ok(bytes.last())
        && !name.contains("..");
    if valid {
        Ok(())
    } else {
        Err(BlobError::Invalid(format!(
            "a bucket name has 3 to 63 characters a-z, 0-9, '.' or '-', not {name:?}"
        )))
    }
}

impl EmbeddedBackend {
    /// Opens (creating if needed) the data directory and its stores, on the system clock.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Self, EmbeddedError> {
        Self::open_with_clock(data_dir, Arc::new(SystemClock))
    }

    /// Opens the data directory with every store on `clock`.
    pub fn open_with_clock(
        data_dir: impl AsRef<Path>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, EmbeddedError> {
        let data_dir = data_dir.as_ref().to_path_buf();
        std::fs::create_dir_all(data_dir.join("blobs")).map_err(|source| {
            EmbeddedError::DataDir {
                path: data_dir.clone(),
                source,
            }
        })?;
        let records =
            SqliteRecordStore::open_with_clock(data_dir.join("records.db"), clock.clone())
                .map_err(EmbeddedError::Records)?;
        let queues = SqliteQueueDb::open_with_clock(data_dir.join("queue.db"), clock.clone())
            .map_err(EmbeddedError::Queues)?;
        Ok(Self {
            data_dir,
            clock,
            records,
            queues,
            buckets: Arc::default(),
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The record store (`records.db`).
    pub fn records(&self) -> SqliteRecordStore {
        self.records.clone()
    }

    /// The named queue (in `queue.db`), moving messages to its dead letters after
    /// `options.max_receives` deliveries.
    pub fn queue(&self, name: &str, options: QueueOptions) -> Result<SqliteQueue, QueueError> {
        self.queues.queue(name, options)
    }

    /// The bucket's blob store (`blobs/<bucket>/`); every call for one bucket shares one store.
    /// Add event notifications with [`DirBlobStore::with_events`] on the returned handle.
    pub fn blobs(&self, bucket: &str) -> Result<DirBlobStore, BlobError> {
        check_bucket_name(bucket)?;
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = buckets.get(bucket) {
            return Ok(store.clone());
        }
        let store = DirBlobStore::open_with_clock(
            self.data_dir.join("blobs").join(bucket),
            bucket,
            self.clock.clone(),
        )?;
        buckets.insert(bucket.to_owned(), store.clone());
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::embedded::ObjectEvents;
    use crate::ports::{BlobStore, Key, Queue, Record, RecordStore};
    use bytes::Bytes;
    use std::time::Duration;

    #[test]
    fn bucket_names_follow_the_s3_rules() {
        for good in ["abc", "ravis-uploads", "a.b-c", "123", &"a".repeat(63)] {
            assert!(check_bucket_name(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "Upper",
            "-dash",
            "dash-",
            "a..b",
            "under_score",
            "sl/ash",
            &"a".repeat(64),
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_data_dir_holds_every_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let backend = EmbeddedBackend::open(&data).expect("open");
        backend
            .records()
            .put_new(Record::new(Key::new("P", "S"), serde_json::json!({})))
            .await
            .expect("put_new");
        let scoring = backend
            .queue("scoring", QueueOptions::default())
            .expect("queue");
        let uploads = backend
            .blobs("ravis-uploads")
            .expect("bucket")
            .with_events(ObjectEvents::new("inbox", "inbox/", scoring.clone()));
        uploads
            .put("inbox/a.csv", Bytes::from_static(b"a"), None)
            .await
            .expect("put");
        for path in [
            "records.db",
            "queue.db",
            "blobs/ravis-uploads/inbox%2F/a.csv",
        ] {
            assert!(data.join(path).exists(), "{path}");
        }
        let got = scoring
            .receive(1, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("receive");
        assert_eq!(got.len(), 1);

        // Another handle on the same bucket is the same store, notifications included.
        let again = backend.blobs("ravis-uploads").expect("bucket");
        assert!(again.head("inbox/a.csv").await.expect("head").is_some());
        again
            .put("inbox/b.csv", Bytes::from_static(b"b"), None)
            .await
            .expect("put");
        let got = scoring
            .receive(1, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("receive");
        assert!(
            got.len() == 1 && got[0].body.contains("inbox/b.csv"),
            "{got:?}"
        );
        assert!(backend.blobs("Not_A_Bucket").is_err());
    }
}
