//! `ravis migrate`: one-off data migrations of a data directory (embedded backend).

use anyhow::Context;
use std::path::Path;

/// `ravis migrate merges`: indexes the merge records written before `GET /children/merges`
/// existed (`services::merge_list::backfill_merge_index`); returns how many it indexed.
pub async fn merges(data_dir: &Path) -> anyhow::Result<u64> {
    let backend = ravis::adapters::embedded::EmbeddedBackend::open(data_dir)
        .with_context(|| format!("opening the data directory {}", data_dir.display()))?;
    ravis::services::merge_list::backfill_merge_index(&backend.records())
        .await
        .context("indexing the merges")
}
