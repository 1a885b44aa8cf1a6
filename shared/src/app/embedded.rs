//! The graph on the embedded backend (`ravis serve`, `ravis import`, `ravis audit`).

use super::{App, AppError};
use crate::adapters::embedded::{EmbeddedBackend, SqliteRecordStore};
use crate::adapters::wording::DirWordingPacks;
use crate::services::audit::ArchiveSink;
use crate::services::audit_archive::{AuditArchive, LOCAL_ARCHIVE_BUCKET};
use std::sync::Arc;

/// The data directory's folder of item wording packs (`<instrument>.<language>.json`).
pub const WORDING_DIR: &str = "wording";

impl App<SqliteRecordStore> {
    /// The graph on the local backend, its audit archive in the backend's
    /// `audit-archive` bucket (audit entries kept, grants of the default length), item
    /// wording packs read from `<data-dir>/wording/` (`ravis wording load`).
    pub fn embedded(
        backend: &EmbeddedBackend,
        identity_key: &[u8],
        pseudonym_key: &[u8],
    ) -> Result<Self, AppError> {
        let archive: Arc<dyn ArchiveSink> = Arc::new(AuditArchive::new(
            backend
                .blobs(LOCAL_ARCHIVE_BUCKET)
                .map_err(AppError::Blobs)?,
        ));
        let wording = Arc::new(DirWordingPacks::new(backend.data_dir().join(WORDING_DIR)));
        Ok(App::new(backend.records(), identity_key, pseudonym_key)?
            .with_archive(archive)
            .with_wording_packs(wording))
    }
}
