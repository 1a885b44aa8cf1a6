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
    BlobStore, EducationReceiver, ExchangeError, HealthAnswer, HealthReceiver, HealthSubmission,
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
    async fn submit(&self, submission: &HealthSubmission) -> HealthAnswer {
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
        match written.await {
            Ok(_) => HealthAnswer::Accepted {
                locations: vec![key],
            },
            Err(e) => HealthAnswer::Retry {
                status: None,
                after: None,
                reason: format!("writing the outbox: {e}"),
            },
        }
    }

    async fn poll(&self, job: &str) -> HealthAnswer {
        // The outbox answers every submission at once; it never hands out a job to poll.
        HealthAnswer::Rejected {
            status: 404,
            outcome: json!({"resourceType": "OperationOutcome", "issue": [{
                "severity": "error", "code": "not-found",
                "diagnostics": format!("the outbox has no job {job}")
            }]}),
            reason: format!("the outbox has no job {job}"),
        }
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
    async fn deliver(
        &self,
        batch_id: &str,
        records: &[ViisRecord],
    ) -> Result<Vec<String>, ExchangeError> {
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
    }
}
