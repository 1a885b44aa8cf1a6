//! The default exchange adapters: what would be sent, written to an outbox over the
//! [`BlobStore`] port — the exchange bucket's `outbox/` in AWS (collected by the VISS side),
//! `<data-dir>/outbox/` locally (so a new user sees exactly what would leave RAVIS).
//!
//! - e-health: `health/<export id>.json` (the Bundle, byte for byte as it would be sent)
//!   and `health/<export id>.provenance.json` (the `X-Provenance` header value);
//! - VIIS: `viis/<batch id>.jsonl` (one allow-listed record per line) and, written last so
//!   a collector never sees a partial batch, `viis/<batch id>.manifest.json` with the row
//!   count and the SHA-256 of the JSON Lines file.
//!
//! A repeated delivery of the same job writes the same names with the same content.

use crate::domain::export::{VIIS_FIELDS, ViisRecord};
use crate::ports::{
    BlobStore, EducationReceiver, ExchangeError, HealthReceiver, HealthSubmission, ReceiverAnswer,
};
use bytes::Bytes;
use serde_json::json;
use sha2::{Digest, Sha256};

/// The outbox in a bucket, under `prefix` (`"outbox/"` in the exchange bucket; `""` when the
/// store is the local outbox directory itself).
pub struct BlobOutbox<B> {
    blobs: B,
    prefix: String,
}

impl<B: BlobStore> BlobOutbox<B> {
    /// The outbox under `prefix` of `blobs`.
    pub fn new(blobs: B, prefix: impl Into<String>) -> Self {
        Self {
            blobs,
            prefix: prefix.into(),
        }
    }

    /// Object name of a health Bundle.
    pub fn health_key(&self, export_id: &str) -> String {
        format!("{}health/{export_id}.json", self.prefix)
    }

    /// Object name of a VIIS batch's JSON Lines file.
    pub fn viis_key(&self, batch_id: &str) -> String {
        format!("{}viis/{batch_id}.jsonl", self.prefix)
    }

    /// Object name of a VIIS batch's manifest.
    pub fn viis_manifest_key(&self, batch_id: &str) -> String {
        format!("{}viis/{batch_id}.manifest.json", self.prefix)
    }
}

impl<B: BlobStore> HealthReceiver for BlobOutbox<B> {
    async fn submit(&self, submission: &HealthSubmission) -> ReceiverAnswer {
        let key = self.health_key(&submission.export_id);
        let provenance_key = format!(
            "{}health/{}.provenance.json",
            self.prefix, submission.export_id
        );
        let written = async {
            self.blobs
                .put(
                    &provenance_key,
                    Bytes::from(submission.provenance.clone().into_bytes()),
                    Some("application/fhir+json"),
                )
                .await?;
            self.blobs
                .put(
                    &key,
                    Bytes::from(submission.bundle.clone()),
                    Some("application/fhir+json"),
                )
                .await
        };
        delivered(
            written
                .await
                .map(|_| vec![key])
                .map_err(|e| ExchangeError(format!("writing the outbox: {e}"))),
        )
    }

    async fn poll(&self, job: &str) -> ReceiverAnswer {
        no_job(job)
    }
}

/// An outbox answers every submission at once and never hands out a job to poll: a poll is
/// of a job it does not have.
fn no_job(job: &str) -> ReceiverAnswer {
    ReceiverAnswer::Rejected {
        status: 404,
        outcome: json!({"resourceType": "OperationOutcome", "issue": [{
            "severity": "error", "code": "not-found",
            "diagnostics": format!("the outbox has no job {job}")
        }]}),
        reason: format!("the outbox has no job {job}"),
    }
}

/// The JSON Lines body of a VIIS batch and its manifest.
pub fn viis_batch(
    batch_id: &str,
    records: &[ViisRecord],
) -> Result<(Vec<u8>, Vec<u8>), ExchangeError> {
    let mut lines = Vec::new();
    for record in records {
        serde_json::to_writer(&mut lines, record)
            .map_err(|e| ExchangeError(format!("serialising a VIIS record: {e}")))?;
        lines.push(b'\n');
    }
    let manifest = json!({
        "batch_id": batch_id,
        "format": "application/x-ndjson",
        "rows": records.len(),
        "sha256": hex::encode(Sha256::digest(&lines)),
        "fields": VIIS_FIELDS,
    });
    let manifest = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ExchangeError(format!("serialising a VIIS manifest: {e}")))?;
    Ok((lines, manifest))
}

impl<B: BlobStore> EducationReceiver for BlobOutbox<B> {
    async fn deliver(&self, batch_id: &str, records: &[ViisRecord]) -> ReceiverAnswer {
        let write = async {
            let (lines, manifest) = viis_batch(batch_id, records)?;
            let key = self.viis_key(batch_id);
            let manifest_key = self.viis_manifest_key(batch_id);
            self.blobs
                .put(&key, Bytes::from(lines), Some("application/x-ndjson"))
                .await
                .map_err(|e| ExchangeError(format!("writing {key}: {e}")))?;
            self.blobs
                .put(
                    &manifest_key,
                    Bytes::from(manifest),
                    Some("application/json"),
                )
                .await
                .map_err(|e| ExchangeError(format!("writing {manifest_key}: {e}")))?;
            Ok(vec![key, manifest_key])
        };
        delivered(write.await)
    }
}

/// The answer to an outbox write: accepted where it went, or retry.
fn delivered(written: Result<Vec<String>, ExchangeError>) -> ReceiverAnswer {
    match written {
        Ok(locations) => ReceiverAnswer::Accepted { locations },
        Err(e) => ReceiverAnswer::Retry {
            status: None,
            after: None,
            reason: e.to_string(),
        },
    }
}

/// The outbox as plain files in a directory (`ravis serve`: `<data-dir>/outbox/`), named as
/// in the bucket (`health/<export id>.json`, `viis/<batch id>.jsonl` …) so a new user opens
/// exactly what would be sent. Each file is written whole (a temporary file, synced, then
/// renamed), so a crash never leaves half a Bundle.
pub struct FileOutbox {
    dir: std::path::PathBuf,
}

impl FileOutbox {
    /// The outbox in `dir` (created when needed).
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn write(&self, name: &str, body: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let path = self.dir.join(name);
        let parent = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent)?;
        // Hidden and ending in `.tmp`, so that nothing watching for `*.json` (a partner,
        // the end-to-end test) takes a file that is still being written.
        let tmp = parent.join(format!(
            ".{}.tmp",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("outbox")
        ));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(body)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(parent)?.sync_all()
    }

    async fn write_all(&self, files: Vec<(String, Vec<u8>)>) -> std::io::Result<Vec<String>> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let outbox = FileOutbox { dir };
            let mut names = Vec::with_capacity(files.len());
            for (name, body) in files {
                outbox.write(&name, &body)?;
                names.push(outbox.dir.join(&name).display().to_string());
            }
            Ok(names)
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

impl HealthReceiver for FileOutbox {
    async fn submit(&self, submission: &HealthSubmission) -> ReceiverAnswer {
        let files = vec![
            (
                format!("health/{}.provenance.json", submission.export_id),
                submission.provenance.clone().into_bytes(),
            ),
            (
                format!("health/{}.json", submission.export_id),
                submission.bundle.clone(),
            ),
        ];
        delivered(
            self.write_all(files)
                .await
                .map(|mut names| names.split_off(1))
                .map_err(|e| ExchangeError(format!("writing the outbox: {e}"))),
        )
    }

    async fn poll(&self, job: &str) -> ReceiverAnswer {
        no_job(job)
    }
}

impl EducationReceiver for FileOutbox {
    async fn deliver(&self, batch_id: &str, records: &[ViisRecord]) -> ReceiverAnswer {
        let write = async {
            let (lines, manifest) = viis_batch(batch_id, records)?;
            self.write_all(vec![
                (format!("viis/{batch_id}.jsonl"), lines),
                (format!("viis/{batch_id}.manifest.json"), manifest),
            ])
            .await
            .map_err(|e| ExchangeError(format!("writing the outbox: {e}")))
        };
        delivered(write.await)
    }
}
