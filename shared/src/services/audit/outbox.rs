//! The deferred archive (issue #15, item 7; `docs/SECURITY.md`, "Audit archive"): appends
//! commit to the record store only, and a drain copies the entries to the write-once
//! archive in batches, off the request path.
//!
//! An append in this mode writes its entry with an index key in one of
//! [`keys::AUDIT_PENDING_SHARDS`] index partitions ([`keys::audit_pending_index`]), in the
//! same atomic write as the entry itself: the entry and the note that it is still to be
//! archived cannot be parted. [`AuditTrail::drain_archive`] reads pending entries from those
//! partitions, archives them with one batched conditional put, and then rewrites each
//! entry's record without the index key (a versioned write of the same data, so a
//! concurrent drain cannot clear an entry twice). Nothing else ever rewrites an entry.
//!
//! Recovery: a crash before the archive put leaves the entries pending, and the next drain
//! (at the next start of `ravis serve`, or its next round) archives them; a crash after the
//! put but before the rewrite leaves them pending too, and the next put finds the identical
//! object (a no-op of the write-once archive) before it clears them. Verifying a chain
//! against the archive first archives that chain's pending entries
//! ([`AuditTrail::archive_pending_of`]), so an entry waiting for the drain is never reported
//! as missing, and a stored entry that was changed after it was archived still is.

use super::{ArchiveSink, AuditEntry, AuditTrail};
use crate::domain::Pseudonym;
use crate::ports::records::MAX_TRANSACTION_OPS;
use crate::ports::{Record, RecordStore, SortKeyCondition, StoreError, WriteOp};
use crate::services::ServiceError;
use crate::store::codec::from_data;
use crate::store::keys;
use crate::store::query::query_all;
use std::time::Duration;

/// The longest wait between failing rounds of [`ArchiveDrain`].
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The most pending entries one round of the drain reads from one index partition.
pub const DRAIN_PAGE: usize = 500;

impl<R: RecordStore> AuditTrail<R> {
    /// The same trail, leaving the archive copy of every append to
    /// [`AuditTrail::drain_archive`] (see the module documentation). Needs an archive
    /// ([`AuditTrail::with_archive`]); the host must run the drain
    /// ([`spawn_archive_drain`]).
    pub fn with_deferred_archive(mut self) -> Self {
        self.deferred = true;
        self
    }

    /// Whether this trail's appends wait for their archive copy (an archive, not deferred).
    pub(super) fn archive_inline(&self) -> Option<&dyn ArchiveSink> {
        match &self.archive {
            Some(archive) if !self.deferred => Some(archive.as_ref()),
            _ => None,
        }
    }

    /// An entry's record as an append writes it: pending for the drain when the archive is
    /// deferred.
    pub(super) fn mark_pending(&self, record: Record, entry: &AuditEntry) -> Record {
        if self.deferred && self.archive.is_some() {
            record.with_index(
                keys::audit_pending_index(&entry.body.child),
                keys::audit_pending_sort(&entry.body.child, entry.body.seq),
            )
        } else {
            record
        }
    }

    /// Archives up to [`DRAIN_PAGE`] pending entries of each index partition and clears
    /// them; returns how many it archived (0: nothing was pending). Fails only when there
    /// was something to archive and nothing could be. Safe to run
    /// concurrently with appends and with another drain. A trail without an archive
    /// archives nothing.
    pub async fn drain_archive(&self) -> Result<usize, ServiceError> {
        match &self.archive {
            Some(archive) => self.drain_archive_into(archive.as_ref()).await,
            None => Ok(0),
        }
    }

    /// [`Self::drain_archive`] into `archive` (for a verification that holds the archive
    /// apart from the trail).
    pub async fn drain_archive_into(
        &self,
        archive: &dyn ArchiveSink,
    ) -> Result<usize, ServiceError> {
        let mut archived = 0;
        let mut first_error = None;
        for shard in 0..keys::AUDIT_PENDING_SHARDS {
            let page = self
                .records
                .query_index(
                    &keys::audit_pending_shard(shard),
                    &SortKeyCondition::All,
                    DRAIN_PAGE,
                    false,
                    None,
                )
                .await?;
            // One partition's failure does not hold up the others.
            match settle(&self.records, archive, page.records).await {
                Ok(n) => archived += n,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if archived == 0 => Err(e),
            _ => Ok(archived),
        }
    }

    /// Archives every pending entry of one chain into `archive` and clears them (before the
    /// chain is compared with the archive); returns how many. An entry the archive refuses
    /// (it holds a different entry at that key) is logged and left pending: the comparison
    /// that follows reports it, so this never fails for it.
    pub async fn archive_pending_of(
        &self,
        child: &Pseudonym,
        archive: &dyn ArchiveSink,
    ) -> Result<usize, ServiceError> {
        let pending: Vec<Record> = query_all(
            &self.records,
            &keys::audit_partition(child),
            &SortKeyCondition::Prefix(keys::AUDIT_ENTRY_PREFIX.into()),
        )
        .await?
        .into_iter()
        .filter(|r| r.index.is_some())
        .collect();
        match settle(&self.records, archive, pending).await {
            Ok(archived) => Ok(archived),
            Err(e) => {
                tracing::error!(child = %child, error = %e,
                    "pending audit entries could not be archived before verification");
                Ok(0)
            }
        }
    }
}

/// Archives the entries of these pending records (one batched put), then clears each
/// record's index key with a versioned rewrite of the same data. A record that changed
/// meanwhile (another drain cleared it; it expired) is left as it is. When the batched put
/// fails, each entry is put on its own: one that still fails (the archive holds a different
/// entry at its key, i.e. the stored entry was changed after it was archived) stays pending
/// and is logged, and the rest are archived; the first failure is the error only when no
/// entry could be archived.
async fn settle<R: RecordStore>(
    records: &R,
    archive: &dyn ArchiveSink,
    pending: Vec<Record>,
) -> Result<usize, ServiceError> {
    if pending.is_empty() {
        return Ok(0);
    }
    let entries = pending
        .iter()
        .map(from_data::<AuditEntry>)
        .collect::<Result<Vec<_>, _>>()?;
    let archived: Vec<Record> = match archive.archive_many(&entries).await {
        Ok(()) => pending,
        Err(batch) => {
            let mut archived = Vec::with_capacity(pending.len());
            let mut first = None;
            for (record, entry) in pending.into_iter().zip(&entries) {
                match archive.archive(entry).await {
                    Ok(()) => archived.push(record),
                    Err(e) => {
                        tracing::error!(child = %entry.body.child, seq = entry.body.seq, error = %e,
                            "audit entry not archived; it stays pending");
                        first.get_or_insert(e);
                    }
                }
            }
            if archived.is_empty() {
                return Err(first.unwrap_or(batch));
            }
            archived
        }
    };
    for chunk in archived.chunks(MAX_TRANSACTION_OPS) {
        let ops = chunk.iter().map(cleared).collect();
        match records.transact(ops).await {
            Ok(()) => {}
            // One of them changed since it was read: clear the others one by one.
            Err(StoreError::TransactionCancelled { .. }) => {
                for record in chunk {
                    match records.transact(vec![cleared(record)]).await {
                        Ok(()) | Err(StoreError::TransactionCancelled { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(archived.len())
}

/// The rewrite of a pending entry's record without its index key.
fn cleared(record: &Record) -> WriteOp {
    let mut rewritten = record.clone();
    rewritten.index = None;
    WriteOp::PutVersioned {
        expected: record.version,
        record: rewritten,
    }
}

/// The drain running in the background ([`ArchiveDrain::start`]).
pub struct ArchiveDrain {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl ArchiveDrain {
    /// Runs [`AuditTrail::drain_archive`] on the current Tokio runtime: at once (whatever
    /// a crash left pending), then every `idle`, or at once again after a round of at
    /// least [`DRAIN_PAGE`] entries (a backlog). Waiting between rounds that found a few
    /// entries lets the entries of many requests share one batch (one archive put, one
    /// write clearing them) instead of a round per request under load; the entries wait
    /// in the record store, durable. A failed round is logged and retried after a wait
    /// that doubles from `idle` up to [`MAX_BACKOFF`] while rounds keep failing.
    pub fn start<R: RecordStore + Clone>(trail: AuditTrail<R>, idle: Duration) -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut backoff = idle;
            loop {
                let wait = match trail.drain_archive().await {
                    Ok(0) => {
                        backoff = idle;
                        idle
                    }
                    Ok(n) => {
                        tracing::debug!(archived = n, "audit archive drain");
                        backoff = idle;
                        if n >= DRAIN_PAGE {
                            Duration::ZERO
                        } else {
                            idle
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, retry_in = ?backoff, "audit archive drain failed");
                        let wait = backoff;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        wait
                    }
                };
                tokio::select! {
                    _ = &mut stopped => break,
                    () = tokio::time::sleep(wait) => {}
                }
            }
            // What the last requests appended, before the host exits.
            loop {
                match trail.drain_archive().await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "audit archive drain at shutdown failed; the next start archives what is left");
                        break;
                    }
                }
            }
        });
        Self { stop, task }
    }

    /// Stops the drain after one last pass over what is pending.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
