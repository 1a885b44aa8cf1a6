//! Record store port: a single-table key-value store with sort keys, one secondary
//! index, conditional writes and atomic multi-item writes (DynamoDB semantics).
//!
//! Key schema (see `docs/DATA_MODEL.md`): every record has a partition key `pk` and a
//! sort key `sk`; optionally a secondary index key (`gsi1pk`, `gsi1sk`) and an expiry
//! time (TTL). The payload is a JSON object. Every record carries a version, starting
//! at 1 and incremented by each versioned write (optimistic concurrency).

use serde_json::Value;
use std::future::Future;

/// Primary key of a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
}

impl Key {
    /// Builds a key.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// Key of a record in the secondary index `gsi1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKey {
    /// Index partition key.
    pub pk: String,
    /// Index sort key.
    pub sk: String,
}

/// One stored item.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Primary key.
    pub key: Key,
    /// Version: 1 after the first write, +1 after each versioned write. Set by the store.
    pub version: u64,
    /// Secondary index key, if the record is indexed.
    pub index: Option<IndexKey>,
    /// Expiry (Unix seconds): the store may delete the record after this time.
    /// Expired records are never returned by reads.
    pub expires_at: Option<i64>,
    /// The payload: a JSON object (not an array or scalar).
    pub data: Value,
}

impl Record {
    /// A new record with version 0 (the store writes version 1), no index, no expiry.
    pub fn new(key: Key, data: Value) -> Self {
        Self {
            key,
            version: 0,
            index: None,
            expires_at: None,
            data,
        }
    }

    /// Adds a secondary index key.
    pub fn with_index(mut self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.index = Some(IndexKey {
            pk: pk.into(),
            sk: sk.into(),
        });
        self
    }

    /// Adds an expiry time (Unix seconds).
    pub fn with_expiry(mut self, expires_at: i64) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// This record's data with the fields of `modelled` (serialised as a JSON object)
    /// replaced and every other field kept: an update by a version of the code that does
    /// not model all of a record's fields (identifier history, duplicate flags …) keeps them.
    pub fn data_with<T: serde::Serialize>(&self, modelled: &T) -> Result<Value, StoreError> {
        let mut data = self.data.clone();
        let fields = serde_json::to_value(modelled).map_err(StoreError::Encode)?;
        if let (Some(target), Value::Object(fields)) = (data.as_object_mut(), fields) {
            target.extend(fields);
        }
        Ok(data)
    }
}

/// Condition on the sort key in a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKeyCondition {
    /// Every sort key.
    All,
    /// Sort keys beginning with this prefix.
    Prefix(String),
    /// Sort keys between the two bounds, both inclusive.
    Between(String, String),
}

/// One page of a query, in sort-key order (byte-wise, ascending unless asked otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The records on this page.
    pub records: Vec<Record>,
    /// Opaque cursor for the next page; `None` when there are no more records.
    pub next: Option<String>,
}

/// One write in an atomic multi-item write.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Create a record that must not exist yet (written at version 1).
    PutNew(Record),
    /// Replace a record whose current version must equal `expected` (written at `expected + 1`).
    PutVersioned {
        /// The new content.
        record: Record,
        /// The version the stored record must have.
        expected: u64,
    },
    /// Delete a record whose current version must equal `expected`.
    Delete {
        /// The record to delete.
        key: Key,
        /// The version the stored record must have.
        expected: u64,
    },
    /// Write nothing, but require the record to exist at this version.
    Check {
        /// The record to check.
        key: Key,
        /// The version it must have.
        expected: u64,
    },
}

impl WriteOp {
    /// The record the operation writes, deletes or checks.
    pub fn key(&self) -> &Key {
        match self {
            WriteOp::PutNew(r) | WriteOp::PutVersioned { record: r, .. } => &r.key,
            WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => key,
        }
    }

    /// Whether the operation's condition holds when the live record at its key has version
    /// `live` (`None`: there is no live record): a create needs none, the others the
    /// expected version.
    pub fn holds(&self, live: Option<u64>) -> bool {
        match self {
            WriteOp::PutNew(_) => live.is_none(),
            WriteOp::PutVersioned { expected, .. }
            | WriteOp::Delete { expected, .. }
            | WriteOp::Check { expected, .. } => live == Some(*expected),
        }
    }

    /// The error of the operation written on its own when its condition fails:
    /// [`StoreError::AlreadyExists`] for a create, else [`StoreError::Conflict`].
    pub fn condition_failed(&self) -> StoreError {
        let Key { pk, sk } = self.key().clone();
        match self {
            WriteOp::PutNew(_) => StoreError::AlreadyExists { pk, sk },
            WriteOp::PutVersioned { expected, .. }
            | WriteOp::Delete { expected, .. }
            | WriteOp::Check { expected, .. } => StoreError::Conflict {
                pk,
                sk,
                expected: *expected,
            },
        }
    }
}

/// What went wrong in the record store, in domain terms (no SDK types leak out).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A create found the key taken.
    #[error("a record with key {pk}/{sk} already exists")]
    AlreadyExists {
        /// Partition key.
        pk: String,
        /// Sort key.
        sk: String,
    },
    /// A versioned write or delete found another version (or no record).
    #[error("record {pk}/{sk} was changed concurrently (expected version {expected})")]
    Conflict {
        /// Partition key.
        pk: String,
        /// Sort key.
        sk: String,
        /// The version the caller expected.
        expected: u64,
    },
    /// An atomic write was cancelled because one of its conditions failed; nothing was written.
    #[error("atomic write cancelled: operation {index} failed its condition")]
    TransactionCancelled {
        /// Index (0-based) of the first operation whose condition failed.
        index: usize,
    },
    /// The request was not valid for this store (bad cursor, too many operations, not an object…).
    #[error("invalid request to the record store: {0}")]
    Invalid(String),
    /// A value could not be encoded as JSON (a record's data, or a body or message made
    /// next to a write); nothing was written. Not the store's fault, nor the caller's input.
    #[error("a value could not be encoded as JSON: {0}")]
    Encode(#[source] serde_json::Error),
    /// A stored item could not be read back (corrupt or written by something else).
    #[error("stored record {pk}/{sk} is unreadable: {reason}")]
    Corrupt {
        /// Partition key.
        pk: String,
        /// Sort key.
        sk: String,
        /// What was wrong.
        reason: String,
    },
    /// The store could not be reached or failed; the operation may be retried.
    #[error("record store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The most records a query page may ask for.
pub const MAX_PAGE: usize = 1000;

/// Checks a query's page limit the same way in every adapter (1..=[`MAX_PAGE`]).
pub fn check_page_limit(limit: usize) -> Result<(), StoreError> {
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "a page holds 1 to {MAX_PAGE} records, not {limit}"
        )))
    }
}

/// The largest number of operations in one atomic write (DynamoDB's limit).
pub const MAX_TRANSACTION_OPS: usize = 100;

/// A single-table record store. A handle: clones share the same store.
pub trait RecordStore: Clone + Send + Sync + 'static {
    /// Reads one record; `None` if absent or expired.
    fn get(&self, key: &Key) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// Creates a record that must not exist; it is stored at version 1.
    /// Fails with [`StoreError::AlreadyExists`] if the key is taken (by a live record).
    fn put_new(&self, record: Record) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Replaces a record whose stored version is `expected`; stores it at `expected + 1`
    /// and returns that version. Fails with [`StoreError::Conflict`] otherwise.
    fn put_versioned(
        &self,
        record: Record,
        expected: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Records of one partition, filtered by sort key, at most `limit` per page
    /// (1..=1000), ascending or descending, continuing after `cursor`.
    fn query(
        &self,
        pk: &str,
        condition: &SortKeyCondition,
        limit: usize,
        descending: bool,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// Like [`RecordStore::query`] but on the secondary index `gsi1`.
    fn query_index(
        &self,
        pk: &str,
        condition: &SortKeyCondition,
        limit: usize,
        descending: bool,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// Applies all operations or none (at most [`MAX_TRANSACTION_OPS`], each key once).
    /// Fails with [`StoreError::TransactionCancelled`] naming the first failed condition.
    fn transact(&self, ops: Vec<WriteOp>) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Reads many records in one call: one answer per key, in the order of `keys` (`None`
    /// for an absent or expired record; a key may repeat). What each answer holds is what
    /// [`RecordStore::get`] answers for its key; the reads are not one snapshot (as with
    /// DynamoDB's `BatchGetItem`). An empty key part is [`StoreError::Invalid`]. The default
    /// reads one key after another; the adapters read in bulk.
    fn get_many(
        &self,
        keys: &[Key],
    ) -> impl Future<Output = Result<Vec<Option<Record>>, StoreError>> + Send {
        async move {
            let mut found = Vec::with_capacity(keys.len());
            for key in keys {
                found.push(self.get(key).await?);
            }
            Ok(found)
        }
    }

    /// The most operations [`RecordStore::transact_bulk`] applies atomically: the size of a
    /// bulk loader's batch (partner-file intake). DynamoDB's transaction limit
    /// ([`MAX_TRANSACTION_OPS`]) unless the backend commits larger atomic writes.
    fn max_bulk_ops(&self) -> usize {
        MAX_TRANSACTION_OPS
    }

    /// [`RecordStore::transact`] for bulk loaders: the same all-or-nothing write of distinct
    /// keys with the same conditions and errors, of up to [`RecordStore::max_bulk_ops`]
    /// operations. Use cases keep to [`RecordStore::transact`], so what one atomic write of
    /// theirs does locally it also does on DynamoDB.
    fn transact_bulk(
        &self,
        ops: Vec<WriteOp>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.transact(ops)
    }
}
