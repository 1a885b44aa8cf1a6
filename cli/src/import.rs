//! `ravis import`: the partner-file intake (the same `IntakeService` the intake worker runs)
//! on a local file, into the embedded backend of the data directory.

use crate::keys::LocalKeys;
use anyhow::{Context, Result, bail};
use ravis::adapters::embedded::EmbeddedBackend;
use ravis::app::App;
use ravis::intake::summary::{Status, import_id};
use ravis::intake::{Format, ImportOutcome, ImportRequest, IntakeError, Kind};
use ravis::ports::BlobReader;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncReadExt;

/// Organisation recorded on children registered by `ravis import`.
pub const CLI_ORGANISATION: &str = "cli-import";

/// Options of `ravis import`.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The kind of rows (`children`).
    pub kind: String,
    /// The file (`.csv`, `.jsonl` or `.ndjson`).
    pub file: PathBuf,
    /// Where to write the row report (JSON Lines), if anywhere.
    pub report: Option<PathBuf>,
    /// Commit nothing when any row fails (also implied by a `.strict.csv` / `.strict.jsonl` name).
    pub strict: bool,
}

/// Imports the file; returns the outcome (the summary is also printed by the caller).
pub async fn import(data_dir: &Path, options: &ImportOptions) -> Result<ImportOutcome> {
    let Some(kind) = Kind::parse(&options.kind) else {
        bail!(
            "unknown kind '{}' (known: {})",
            options.kind,
            ravis::intake::KIND_NAMES
        );
    };
    let name = options
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(format) = Format::from_name(&name) else {
        bail!("cannot tell the format of '{name}': the name must end in .csv, .jsonl or .ndjson");
    };
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let keys = LocalKeys::load_or_create(data_dir)?;
    let backend = EmbeddedBackend::open(data_dir)?;
    let service = App::embedded(&backend, &keys.identity_hmac_key, &keys.pseudonym_key)?.intake();
    // The same content imported again is the same import: it resumes or finds it finished.
    let digest = content_digest(&options.file).await?;
    let request = ImportRequest {
        import_id: import_id(&["ravis-import", kind.as_str(), &digest]),
        file: options.file.display().to_string(),
        kind,
        format,
        strict: options.strict || ravis::intake::strict_from_name(&name),
        organisation: CLI_ORGANISATION.into(),
    };
    let path = options.file.clone();
    let outcome = service
        .import(&request, || {
            let path = path.clone();
            async move {
                let file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| IntakeError::Open(Box::new(e)))?;
                Ok::<BlobReader, IntakeError>(Box::pin(file))
            }
        })
        .await
        .with_context(|| format!("importing {}", options.file.display()))?;
    if let Some(report) = &options.report {
        std::fs::copy(outcome.report.path(), report)
            .with_context(|| format!("writing the report to {}", report.display()))?;
    }
    Ok(outcome)
}

async fn content_digest(path: &Path) -> Result<String> {
    let mut file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .await
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Prints the summary (JSON) and fails when the file was rejected as a whole.
pub fn report_outcome(outcome: &ImportOutcome) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(&outcome.summary)?);
    match outcome.summary.status {
        Status::Rejected => bail!(
            "the file was rejected, nothing was committed: {}",
            outcome.summary.reason.as_deref().unwrap_or("")
        ),
        Status::CompletedWithRejections => {
            eprintln!(
                "ravis import: {} row(s) rejected (see the report)",
                outcome.summary.rejected
            );
            Ok(())
        }
        Status::Completed => Ok(()),
    }
}
