//! Fixtures for the embedded adapters: every store lives in its own temporary directory.

use crate::contract::{BlobStoreFixture, QueueFixture, RecordStoreFixture};
use ravis::adapters::embedded::{
    DirBlobStore, Layout, QueueOptions, SqliteQueue, SqliteRecordStore,
};
use tempfile::TempDir;

/// Fresh SQLite record stores, each in its own file under a directory this fixture owns.
#[derive(Debug)]
pub struct SqliteRecordsFixture {
    dir: TempDir,
}

impl SqliteRecordsFixture {
    /// A fixture with its own temporary directory (removed when the fixture drops).
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }
}

impl Default for SqliteRecordsFixture {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordStoreFixture for SqliteRecordsFixture {
    type Store = SqliteRecordStore;

    async fn fresh(&self) -> SqliteRecordStore {
        let path = self
            .dir
            .path()
            .join(format!("records-{}.db", uuid::Uuid::new_v4()));
        SqliteRecordStore::open(path).expect("open SQLite record store")
    }
}

/// Fresh SQLite queues: one database file per fixture, a new queue name per call.
#[derive(Debug)]
pub struct SqliteQueueFixture {
    dir: TempDir,
}

impl SqliteQueueFixture {
    /// A fixture with its own temporary directory (removed when the fixture drops).
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }
}

impl Default for SqliteQueueFixture {
    fn default() -> Self {
        Self::new()
    }
}

impl QueueFixture for SqliteQueueFixture {
    type Queue = SqliteQueue;

    async fn fresh(&self, max_receives: u32) -> SqliteQueue {
        // Queues share the fixture's file, as the backend's named queues share `queue.db`.
        let name = format!("q-{}", uuid::Uuid::new_v4().simple());
        let options = QueueOptions {
            max_receives,
            ..QueueOptions::default()
        };
        SqliteQueue::open(self.dir.path().join("queue.db"), &name, options)
            .expect("open SQLite queue")
    }
}

/// Fresh directory blob stores, each in its own directory under one this fixture owns,
/// all of one [`Layout`].
#[derive(Debug)]
pub struct DirBlobsFixture {
    dir: TempDir,
    layout: Layout,
}

impl DirBlobsFixture {
    /// A fixture with its own temporary directory (removed when the fixture drops).
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
            layout: Layout::Files,
        }
    }

    /// The same for packed buckets (small objects in the index, as the local audit archive).
    pub fn packed() -> Self {
        Self {
            layout: Layout::Packed,
            ..Self::new()
        }
    }
}

impl Default for DirBlobsFixture {
    fn default() -> Self {
        Self::new()
    }
}

impl BlobStoreFixture for DirBlobsFixture {
    type Store = DirBlobStore;

    async fn fresh(&self) -> DirBlobStore {
        let bucket = format!("bucket-{}", uuid::Uuid::new_v4().simple());
        let store = DirBlobStore::open(self.dir.path().join(&bucket), &bucket)
            .expect("open directory blob store");
        store.set_layout(self.layout).expect("bucket layout");
        store
    }
}
