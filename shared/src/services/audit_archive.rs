//! The audit archive (issue #5, item 4): a write-once copy of every audit entry in a blob
//! store, anchoring the hash chain kept in the record store. Design: `docs/SECURITY.md`,
//! "Audit archive".
//!
//! The chain in the record store is tamper-evident only against someone who cannot recompute
//! hashes; whoever can write the table can rewrite an entry and every hash after it. The
//! archive closes that gap: [`AuditTrail::record`] copies each entry, right after the chain
//! write, to an object at `audit/<child pseudonym>/<seq, 20 digits>.json` holding exactly
//! the entry's canonical JSON. In AWS the archive bucket has S3 Object Lock (default
//! retention in the template), so an archived object cannot be replaced or deleted for the
//! retention period, and the functions may only `PutObject` (and read back) under `audit/`.
//! Each entry is one conditional `PutObject` (`If-None-Match: *`).
//! Locally the archive is the embedded blob store's `audit-archive` bucket.
//!
//! Writing is idempotent and write-once: the same entry written again (a retried request)
//! is a no-op; a *different* entry at the same key is refused with
//! [`ArchiveError::Overwrite`]. [`verify_child`] compares a child's stored chain with its
//! archived copies and names every entry that differs, is missing from either side, or
//! whose archived copy is itself damaged.

use crate::domain::Pseudonym;
use crate::ports::{BlobError, BlobStore, PutIfAbsent, RecordStore, StoreError};
use crate::services::ServiceError;
use crate::services::audit::{
    ArchiveFuture, ArchiveSink, AuditEntry, AuditTrail, ChainBreak, Verification,
};
use bytes::Bytes;
use serde::Serialize;
use std::collections::BTreeMap;

/// Key prefix of audit entries in the archive.
pub const ARCHIVE_PREFIX: &str = "audit/";

/// Bucket of the embedded backend that holds the archive (the template's AuditArchiveBucket).
pub const LOCAL_ARCHIVE_BUCKET: &str = "audit-archive";

/// Content type of archived entries.
const CONTENT_TYPE: &str = "application/json";

/// The archive key of an entry: `audit/<pseudonym>/<seq, 20 digits>.json`.
pub fn entry_key(child: &Pseudonym, seq: u64) -> String {
    format!("{ARCHIVE_PREFIX}{child}/{seq:020}.json")
}

/// The exact bytes archived for an entry (its canonical JSON, as stored in the chain).
pub fn entry_bytes(entry: &AuditEntry) -> Vec<u8> {
    serde_json::to_vec(entry).expect("an audit entry always serialises")
}

/// What went wrong writing or reading the archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A different entry is already archived at this key: the archive is write-once.
    #[error("archive object '{0}' already holds a different entry; the archive is write-once")]
    Overwrite(String),
    /// The blob store failed.
    #[error("audit archive: {0}")]
    Blob(#[from] BlobError),
}

impl From<ArchiveError> for ServiceError {
    fn from(e: ArchiveError) -> Self {
        ServiceError::Store(StoreError::Unavailable(Box::new(e)))
    }
}

/// How an archive write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveWrite {
    /// The entry was written now.
    Written,
    /// The identical entry was already archived (a replay); nothing was written.
    AlreadyArchived,
}

/// The archive over a blob store.
#[derive(Debug, Clone)]
pub struct AuditArchive<B> {
    blobs: B,
}

impl<B: BlobStore> AuditArchive<B> {
    /// An archive in `blobs` (a bucket of its own).
    pub fn new(blobs: B) -> Self {
        Self { blobs }
    }

    /// Writes an entry once, with one conditional put: a replay of the same bytes is
    /// [`ArchiveWrite::AlreadyArchived`], different bytes at the same key are
    /// [`ArchiveError::Overwrite`]. Only a taken key costs a second request (a read to
    /// compare); nothing depends on telling a missing object apart (S3's 404 vs 403).
    pub async fn put(&self, entry: &AuditEntry) -> Result<ArchiveWrite, ArchiveError> {
        let key = entry_key(&entry.body.child, entry.body.seq);
        let bytes = Bytes::from(entry_bytes(entry));
        match self
            .blobs
            .put_if_absent(&key, bytes.clone(), Some(CONTENT_TYPE))
            .await?
        {
            PutIfAbsent::Created(_) => Ok(ArchiveWrite::Written),
            PutIfAbsent::Exists if self.blobs.get(&key).await? == bytes => {
                Ok(ArchiveWrite::AlreadyArchived)
            }
            PutIfAbsent::Exists => Err(ArchiveError::Overwrite(key)),
        }
    }

    /// [`Self::put`] of several entries at once (one batched conditional put); an entry whose
    /// key is taken must hold the same bytes, as for one.
    pub async fn put_many(&self, entries: &[AuditEntry]) -> Result<(), ArchiveError> {
        let objects: Vec<(String, Bytes)> = entries
            .iter()
            .map(|e| {
                (
                    entry_key(&e.body.child, e.body.seq),
                    Bytes::from(entry_bytes(e)),
                )
            })
            .collect();
        let outcomes = self
            .blobs
            .put_many_if_absent(objects.clone(), Some(CONTENT_TYPE))
            .await?;
        for ((key, bytes), outcome) in objects.iter().zip(outcomes) {
            if outcome == PutIfAbsent::Exists && self.blobs.get(key).await? != *bytes {
                return Err(ArchiveError::Overwrite(key.clone()));
            }
        }
        Ok(())
    }

    /// The raw archived objects of one child's chain by sequence number (`None` for an
    /// object whose key does not name a sequence number is impossible: such keys are skipped
    /// and reported by [`verify_child`]).
    pub async fn objects(&self, child: &Pseudonym) -> Result<BTreeMap<u64, Bytes>, ArchiveError> {
        let prefix = format!("{ARCHIVE_PREFIX}{child}/");
        let mut out = BTreeMap::new();
        for meta in crate::ports::blobs::list_all(&self.blobs, &prefix).await? {
            let seq = meta.key[prefix.len()..]
                .strip_suffix(".json")
                .and_then(|s| s.parse::<u64>().ok())
                // A foreign key name sorts as entry 0, which no chain has: it is reported.
                .unwrap_or(0);
            let body = self.blobs.get(&meta.key).await?;
            out.insert(seq, body);
        }
        Ok(out)
    }

    /// Every child (by pseudonym) that has at least one archived entry (page by page: the
    /// whole archive's listing is never held).
    pub async fn children(&self) -> Result<Vec<Pseudonym>, ArchiveError> {
        let mut out: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .blobs
                .list(
                    ARCHIVE_PREFIX,
                    crate::ports::blobs::MAX_PAGE,
                    cursor.as_deref(),
                )
                .await?;
            for meta in page.objects {
                if let Some((child, _)) = meta.key[ARCHIVE_PREFIX.len()..].split_once('/')
                    && out.last().map(String::as_str) != Some(child)
                {
                    out.push(child.to_owned());
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        out.dedup();
        Ok(out
            .into_iter()
            .filter_map(|p| serde_json::from_value(serde_json::Value::String(p)).ok())
            .collect())
    }
}

impl<B: BlobStore> ArchiveSink for AuditArchive<B> {
    fn archive<'a>(&'a self, entry: &'a AuditEntry) -> ArchiveFuture<'a, ()> {
        Box::pin(async move {
            self.put(entry).await?;
            Ok(())
        })
    }

    fn archive_many<'a>(&'a self, entries: &'a [AuditEntry]) -> ArchiveFuture<'a, ()> {
        Box::pin(async move {
            self.put_many(entries).await?;
            Ok(())
        })
    }

    fn differences<'a>(
        &'a self,
        child: &'a Pseudonym,
        stored: &'a [AuditEntry],
        expired_before: u64,
    ) -> ArchiveFuture<'a, Vec<ChainBreak>> {
        Box::pin(async move {
            let archived = self.objects(child).await?;
            let stored: BTreeMap<u64, AuditEntry> =
                stored.iter().map(|e| (e.body.seq, e.clone())).collect();
            Ok(compare(&stored, &archived, expired_before))
        })
    }
}

/// Compares stored entries with archived objects (both by sequence number) and names every
/// entry that differs, is missing from one side, or whose archived copy is damaged.
/// Archived entries before `expired_before` that are gone from the store expired under
/// the retention setting and are not a difference.
pub fn compare(
    stored: &BTreeMap<u64, AuditEntry>,
    archived: &BTreeMap<u64, Bytes>,
    expired_before: u64,
) -> Vec<ChainBreak> {
    let mut differences = Vec::new();
    let mut seqs: Vec<u64> = stored.keys().chain(archived.keys()).copied().collect();
    seqs.sort_unstable();
    seqs.dedup();
    for seq in seqs {
        let problem = match (stored.get(&seq), archived.get(&seq)) {
            (_, Some(_)) if seq == 0 => Some("archive object with an invalid key".to_owned()),
            (Some(entry), Some(bytes)) => match serde_json::from_slice::<AuditEntry>(bytes) {
                Err(e) => Some(format!("archived copy is unreadable: {e}")),
                Ok(copy) if copy.body.hash() != copy.hash => {
                    Some("archived copy does not match its own hash".to_owned())
                }
                Ok(copy) if copy != *entry => Some(
                    "stored entry differs from its archived copy (modified in the store)"
                        .to_owned(),
                ),
                Ok(_) => None,
            },
            (Some(_), None) => Some("stored entry is not in the archive".to_owned()),
            (None, Some(_)) if seq < expired_before => None,
            (None, Some(_)) => {
                Some("archived entry is missing from the store (removed)".to_owned())
            }
            (None, None) => None,
        };
        if let Some(problem) = problem {
            differences.push(ChainBreak { seq, problem });
        }
    }
    differences
}

/// The comparison of one child's stored chain with its archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveVerification {
    /// The child, by pseudonym.
    pub child: Pseudonym,
    /// Whether the chain verifies and every stored entry equals its archived copy.
    pub intact: bool,
    /// Entries in the record store.
    pub stored: u64,
    /// Entries in the archive.
    pub archived: u64,
    /// The record-store chain's own verification.
    pub chain: Verification,
    /// Every entry that differs between the store and the archive, or is missing from one.
    pub differences: Vec<ChainBreak>,
}

/// Compares a child's chain in the record store with its archived copies.
///
/// Caught: an entry modified in the store (even with every hash recomputed), an entry
/// removed from the store (unless it expired under the retention setting: entries older
/// than the first stored one), an entry never archived, and an archived object that is not
/// a well-formed entry with a matching hash.
pub async fn verify_child<R: RecordStore, B: BlobStore>(
    trail: &AuditTrail<R>,
    archive: &AuditArchive<B>,
    child: &Pseudonym,
) -> Result<ArchiveVerification, ServiceError> {
    // Entries still waiting for the deferred archive's drain are archived first, so they
    // are not reported as missing from it.
    trail.archive_pending_of(child, archive).await?;
    let chain = trail.verify_pseudonym(child).await?;
    let stored: BTreeMap<u64, AuditEntry> = trail
        .stored_entries(child)
        .await?
        .into_iter()
        .map(|e| (e.body.seq, e))
        .collect();
    let archived = archive.objects(child).await?;
    let differences = compare(&stored, &archived, chain.expired_before.unwrap_or(0));
    Ok(ArchiveVerification {
        child: child.clone(),
        intact: chain.intact && differences.is_empty(),
        stored: stored.len() as u64,
        archived: archived.len() as u64,
        chain,
        differences,
    })
}

/// Verifies every child that has archived entries (see [`verify_child`]), after archiving
/// every entry still waiting for the deferred archive's drain (so a chain with no archived
/// entry yet is verified too).
pub async fn verify_all<R: RecordStore, B: BlobStore>(
    trail: &AuditTrail<R>,
    archive: &AuditArchive<B>,
) -> Result<Vec<ArchiveVerification>, ServiceError> {
    while trail.drain_archive_into(archive).await? > 0 {}
    let mut out = Vec::new();
    for child in archive.children().await? {
        out.push(verify_child(trail, archive, &child).await?);
    }
    Ok(out)
}
