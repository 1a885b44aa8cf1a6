//! Strict mode's dry run: the commit pass planned and "committed" against an in-memory layer
//! over the record store, so that a row the stored state refuses (an unknown child, a code
//! that belongs to another child …) rejects the whole strict file before anything is
//! written. Reads see the layer's writes first, then the store; writes never leave the layer.
//! The dry run has no checkpoint: it must finish within one delivery (the intake function's
//! 150 s), and its layer holds every record the file would write, so strict files are
//! limited to [`STRICT_MAX_ROWS`] rows.

use crate::ports::{Key, Page, Record, RecordStore, SortKeyCondition, StoreError, WriteOp};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The most rows a strict file may have: the validation pass and the dry run of one must
/// fit in one invocation of the intake function (150 s) at up to about ten sequential store
/// reads of a few milliseconds per row (a support episode checks its child, programme,
/// organisations, specialist and screening), and the layer keeps a few kilobytes per row.
pub const STRICT_MAX_ROWS: u64 = 2_000;

/// A record store layer that keeps writes in memory over a store it only reads.
#[derive(Clone)]
pub struct DryRun<R> {
    inner: R,
    /// Records written in the layer (`None`: deleted).
    written: Arc<Mutex<BTreeMap<Key, Option<Record>>>>,
}

impl<R: RecordStore> DryRun<R> {
    /// A layer over `inner`, empty.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            written: Arc::default(),
        }
    }

    fn written(&self) -> MutexGuard<'_, BTreeMap<Key, Option<Record>>> {
        // A panic while holding the lock cannot leave the map half-written (each write is
        // one insert), so a poisoned lock is still consistent.
        self.written.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The records the layer wrote in partition `pk` whose sort key begins with `prefix`, in
    /// sort-key order (what a dry run would have stored there).
    pub fn layered(&self, pk: &str, prefix: &str) -> Vec<Record> {
        self.written()
            .iter()
            .filter(|(key, _)| key.pk == pk && key.sk.starts_with(prefix))
            .filter_map(|(_, record)| record.clone())
            .collect()
    }

    /// The current record at `key`: the layer's, else the store's.
    async fn current(&self, key: &Key) -> Result<Option<Record>, StoreError> {
        let layered = self.written().get(key).cloned();
        match layered {
            Some(record) => Ok(record),
            None => self.inner.get(key).await,
        }
    }

    /// Checks one operation against the current state: the record it writes (`None` for a
    /// delete or a check, which write nothing or remove).
    async fn check(&self, op: &WriteOp) -> Result<Option<(Key, Option<Record>)>, StoreError> {
        let live = self.current(op.key()).await?.map(|stored| stored.version);
        if !op.holds(live) {
            return Err(op.condition_failed());
        }
        let written = |record: &Record, version: u64| {
            let mut record = record.clone();
            record.version = version;
            Some((record.key.clone(), Some(record)))
        };
        Ok(match op {
            WriteOp::PutNew(record) => written(record, 1),
            WriteOp::PutVersioned { record, expected } => written(record, expected + 1),
            WriteOp::Delete { key, .. } => Some((key.clone(), None)),
            WriteOp::Check { .. } => None,
        })
    }

    /// A query may not cover records the layer changed: merging pages of the store with the
    /// layer is not needed by any kind, so it is refused rather than answered wrongly.
    fn refuse_changed_partition(&self, pk: &str, index: bool) -> Result<(), StoreError> {
        let written = self.written();
        let touched = written.iter().any(|(key, record)| {
            if index {
                record
                    .as_ref()
                    .and_then(|r| r.index.as_ref())
                    .is_some_and(|i| i.pk == pk)
            } else {
                key.pk == pk
            }
        });
        if touched {
            return Err(StoreError::Invalid(format!(
                "a strict dry run cannot query partition {pk}, which it changed"
            )));
        }
        Ok(())
    }
}

impl<R: RecordStore> RecordStore for DryRun<R> {
    async fn get(&self, key: &Key) -> Result<Option<Record>, StoreError> {
        self.current(key).await
    }

    /// The layer's records, and the store's (read in one call) for the other keys.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Record>>, StoreError> {
        let layered: Vec<Option<Option<Record>>> = {
            let written = self.written();
            keys.iter().map(|key| written.get(key).cloned()).collect()
        };
        let missing: Vec<Key> = keys
            .iter()
            .zip(&layered)
            .filter(|(_, l)| l.is_none())
            .map(|(k, _)| k.clone())
            .collect();
        let mut stored = self.inner.get_many(&missing).await?.into_iter();
        Ok(layered
            .into_iter()
            .map(|l| l.unwrap_or_else(|| stored.next().flatten()))
            .collect())
    }

    /// The store's: the dry run plans the batches the commit will.
    fn max_bulk_ops(&self) -> usize {
        self.inner.max_bulk_ops()
    }

    async fn put_new(&self, record: Record) -> Result<(), StoreError> {
        self.transact(vec![WriteOp::PutNew(record)]).await
    }

    async fn put_versioned(&self, record: Record, expected: u64) -> Result<u64, StoreError> {
        self.transact(vec![WriteOp::PutVersioned { record, expected }])
            .await
            .map(|()| expected + 1)
    }

    async fn query(
        &self,
        pk: &str,
        condition: &SortKeyCondition,
        limit: usize,
        descending: bool,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        self.refuse_changed_partition(pk, false)?;
        let inner = &self.inner;
        inner.query(pk, condition, limit, descending, cursor).await
    }

    /// As [`RecordStore::query`], on the secondary index.
    async fn query_index(
        &self,
        pk: &str,
        condition: &SortKeyCondition,
        limit: usize,
        descending: bool,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        self.refuse_changed_partition(pk, true)?;
        let inner = &self.inner;
        inner
            .query_index(pk, condition, limit, descending, cursor)
            .await
    }

    /// All or nothing, as the store: every condition is checked before anything is written.
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let mut writes = Vec::with_capacity(ops.len());
        for (index, op) in ops.iter().enumerate() {
            match self.check(op).await {
                Ok(write) => writes.extend(write),
                Err(StoreError::Conflict { .. } | StoreError::AlreadyExists { .. })
                    if ops.len() > 1 =>
                {
                    return Err(StoreError::TransactionCancelled { index });
                }
                Err(e) => return Err(e),
            }
        }
        let mut written = self.written();
        for (key, record) in writes {
            written.insert(key, record);
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::adapters::embedded::EmbeddedBackend;
    use serde_json::json;

    #[tokio::test]
    async fn writes_stay_in_the_layer_and_conditions_hold() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedBackend::open(dir.path()).unwrap().records();
        let stored = Key::new("P#1", "A");
        store
            .put_new(Record::new(stored.clone(), json!({"n": 1})))
            .await
            .unwrap();
        let layer = DryRun::new(store.clone());

        // Reads see the store, then the layer's own writes.
        assert_eq!(layer.get(&stored).await.unwrap().unwrap().version, 1);
        assert_eq!(
            layer
                .put_versioned(Record::new(stored.clone(), json!({"n": 2})), 1)
                .await
                .unwrap(),
            2
        );
        assert_eq!(layer.get(&stored).await.unwrap().unwrap().data["n"], 2);
        let new = Key::new("P#2", "B");
        layer
            .put_new(Record::new(new.clone(), json!({})))
            .await
            .unwrap();
        assert!(layer.get(&new).await.unwrap().is_some());

        // The same conditions as the store's.
        assert!(matches!(
            layer.put_new(Record::new(new.clone(), json!({}))).await,
            Err(StoreError::AlreadyExists { .. })
        ));
        assert!(matches!(
            layer
                .put_versioned(Record::new(stored.clone(), json!({})), 1)
                .await,
            Err(StoreError::Conflict { .. })
        ));
        // All or nothing: the failing second operation leaves the first unwritten.
        let third = Key::new("P#3", "C");
        assert!(matches!(
            layer
                .transact(vec![
                    WriteOp::PutNew(Record::new(third.clone(), json!({}))),
                    WriteOp::Check {
                        key: stored.clone(),
                        expected: 1
                    },
                ])
                .await,
            Err(StoreError::TransactionCancelled { index: 1 })
        ));
        assert!(layer.get(&third).await.unwrap().is_none());
        layer
            .transact(vec![WriteOp::Delete {
                key: new.clone(),
                expected: 1,
            }])
            .await
            .unwrap();
        assert!(layer.get(&new).await.unwrap().is_none());

        // A query of a partition the layer changed is refused, others go to the store.
        let all = SortKeyCondition::Prefix(String::new());
        assert!(matches!(
            layer.query("P#1", &all, 10, false, None).await,
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(
            layer
                .query("P#9", &all, 10, false, None)
                .await
                .unwrap()
                .records
                .len(),
            0
        );

        // Nothing reached the store.
        assert_eq!(store.get(&stored).await.unwrap().unwrap().version, 1);
        assert!(store.get(&new).await.unwrap().is_none());
    }
}
