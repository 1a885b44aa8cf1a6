//! `ravis export analytics`: the pseudonymised analytics export of the local data directory
//! (`services::analytics`), as JSON Lines.

use crate::keys::LocalKeys;
use anyhow::{Context, Result};
use ravis::adapters::embedded::EmbeddedBackend;
use ravis::domain::ChildId;
use ravis::services::analytics::{AnalyticsExport, ExportSummary};
use std::path::Path;

/// Writes one row per scoring result of every registered child to `out`. The file is
/// written next to its destination and renamed into place, so a failed export never leaves
/// a partial file under the requested name.
pub async fn analytics(data_dir: &Path, out: &Path) -> Result<ExportSummary> {
    let keys = LocalKeys::load_or_create(data_dir)?;
    let backend = EmbeddedBackend::open(data_dir)
        .with_context(|| format!("opening the data directory {}", data_dir.display()))?;
    let records = backend.records();
    let mut children = Vec::new();
    for pk in records.partitions("CHILD#", "CHILD").await? {
        let id: ChildId = pk["CHILD#".len()..]
            .parse()
            .with_context(|| format!("child record with an invalid key {pk}"))?;
        children.push(id);
    }
    let export = AnalyticsExport::new(records, &keys.pseudonym_key);
    let partial = out.with_extension("partial");
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let summary = export
        .write_jsonl(children, std::io::BufWriter::new(file))
        .await
        .context("writing the analytics export")?;
    std::fs::rename(&partial, out).with_context(|| format!("renaming to {}", out.display()))?;
    Ok(summary)
}
