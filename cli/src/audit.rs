//! `ravis audit verify`: checks the local audit chains against the write-once archive
//! (`services::audit_archive`) and reports every entry that differs or is missing.

use crate::keys::LocalKeys;
use anyhow::{Context, Result};
use ravis::adapters::embedded::EmbeddedBackend;
use ravis::app::{App, local_archive};
use ravis::domain::ChildId;
use ravis::services::audit_archive::{ArchiveVerification, verify_all, verify_child};
use std::path::Path;

/// Verifies one child's chain (`child`) or every archived chain; returns the reports.
pub async fn verify(data_dir: &Path, child: Option<ChildId>) -> Result<Vec<ArchiveVerification>> {
    let keys = LocalKeys::load_or_create(data_dir)?;
    let backend = EmbeddedBackend::open(data_dir)
        .with_context(|| format!("opening the data directory {}", data_dir.display()))?;
    // The chains as stored (a trail without the archive: this only reads them).
    let trail = App::new(
        backend.records(),
        &keys.identity_hmac_key,
        &keys.pseudonym_key,
    )?
    .audit();
    let archive = local_archive(&backend)?;
    Ok(match child {
        Some(id) => vec![
            verify_child(&trail, &archive, &trail.pseudonym(id))
                .await
                .context("verifying the audit chain")?,
        ],
        None => verify_all(&trail, &archive)
            .await
            .context("verifying the audit chains")?,
    })
}

/// Prints the reports as JSON Lines and fails when any chain is not intact.
pub fn report(reports: &[ArchiveVerification]) -> Result<()> {
    for r in reports {
        println!("{}", serde_json::to_string(r)?);
    }
    let broken = reports.iter().filter(|r| !r.intact).count();
    eprintln!(
        "ravis audit verify: {} chains checked, {} intact, {} with differences",
        reports.len(),
        reports.len() - broken,
        broken
    );
    if broken > 0 {
        anyhow::bail!("{broken} audit chains differ from the archive");
    }
    Ok(())
}
