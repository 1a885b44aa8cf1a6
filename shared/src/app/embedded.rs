//! The graph on the embedded backend (`ravis serve`, `ravis import`, `ravis audit`).

use super::{App, AppError};
use crate::adapters::embedded::{DirBlobStore, EmbeddedBackend, Layout, SqliteRecordStore};
use crate::adapters::wording::DirWordingPacks;
use crate::services::audit::ArchiveSink;
use crate::services::audit_archive::{AuditArchive, LOCAL_ARCHIVE_BUCKET};
use std::sync::Arc;

/// The data directory's folder of item wording packs (`<instrument>.<language>.json`).
pub const WORDING_DIR: &str = "wording";

/// The local audit archive: the backend's `audit-archive` bucket, packed (one small object
/// per audit entry, kept in the bucket's index: no file per entry; `adapters::embedded::Layout`).
pub fn local_archive(backend: &EmbeddedBackend) -> Result<AuditArchive<DirBlobStore>, AppError> {
    let blobs = backend
        .blobs(LOCAL_ARCHIVE_BUCKET)
        .map_err(AppError::Blobs)?;
    if blobs.layout() != Layout::Packed {
        blobs.set_layout(Layout::Packed).map_err(AppError::Blobs)?;
    }
    Ok(AuditArchive::new(blobs))
}

impl App<SqliteRecordStore> {
    /// The graph on the local backend, its audit archive in the backend's
    /// `audit-archive` bucket ([`local_archive`]; audit entries kept, grants of the default length), item
    /// wording packs read from `<data-dir>/wording/` (`ravis wording load`).
    pub fn embedded(
        backend: &EmbeddedBackend,
        identity_key: &[u8],
        pseudonym_key: &[u8],
    ) -> Result<Self, AppError> {
        let archive: Arc<dyn ArchiveSink> = Arc::new(local_archive(backend)?);
        let wording = Arc::new(DirWordingPacks::new(backend.data_dir().join(WORDING_DIR)));
        Ok(App::new(backend.records(), identity_key, pseudonym_key)?
            .with_archive(archive)
            .with_wording_packs(wording))
    }
}
