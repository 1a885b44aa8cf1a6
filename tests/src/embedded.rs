//! Fixtures for the embedded adapters: every store lives in its own temporary directory.

use crate::contract::RecordStoreFixture;
use ravis::adapters::embedded::SqliteRecordStore;
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
