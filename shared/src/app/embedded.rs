//! The graph on the embedded backend (`ravis serve`, `ravis import`, `ravis audit`).

use super::{App, AppError};
use crate::adapters::embedded::{EmbeddedBackend, SqliteRecordStore};
use crate::services::audit::ArchiveSink;
use crate::services::audit_archive::{AuditArchive, LOCAL_ARCHIVE_BUCKET};
use std::sync::Arc;

impl App<SqliteRecordStore> {
    /// The graph on the local backend, its audit archive in the backend's
    /// `audit-archive` bucket (audit entries kept, grants of the default length).
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
        Ok(App::new(backend.records(), identity_key, pseudonym_key)?.with_archive(archive))
    }
}
