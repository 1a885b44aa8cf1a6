//! `ravis export analytics`: the pseudonymised analytics export of the local data directory
//! (`services::analytics`), as JSON Lines; `ravis lake`: the analytics lake (`services::lake`).

use crate::keys::LocalKeys;
use anyhow::{Context, Result};
use ravis::adapters::embedded::EmbeddedBackend;
use ravis::domain::ChildId;
use ravis::services::analytics::{AnalyticsExport, ExportSummary};
use ravis::services::lake::{LOCAL_ANALYTICS_BUCKET, LakeSummary};
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

/// `ravis lake`: writes the analytics lake of the local data directory (`services::lake`)
/// to its `analytics` bucket, `<data-dir>/blobs/analytics/` (object keys
/// `lake/<table>/year=YYYY/part-0.parquet`), replacing the previous snapshot.
pub async fn lake(data_dir: &Path) -> Result<LakeSummary> {
    let keys = LocalKeys::load_or_create(data_dir)?;
    let backend = EmbeddedBackend::open(data_dir)
        .with_context(|| format!("opening the data directory {}", data_dir.display()))?;
    let app = ravis::app::App::embedded(&backend, &keys.identity_hmac_key, &keys.pseudonym_key)?;
    let blobs = backend
        .blobs(LOCAL_ANALYTICS_BUCKET)
        .context("opening the analytics bucket")?;
    app.lake_writer(blobs)
        .write()
        .await
        .context("writing the analytics lake")
}

/// `ravis export jwks`: the JWKS (RFC 7517) that publishes the X-Provenance signing keys for
/// the receiver, from each key's public key as AWS KMS `GetPublicKey` gives it: a DER
/// `SubjectPublicKeyInfo`, as bytes or as the base64 text of `aws kms get-public-key
/// --output text --query PublicKey`. Several keys: the current one and those rotated out
/// whose signatures may still be checked. The `kid` of each is its RFC 7638 thumbprint,
/// which is what the signer puts in every JWS header.
pub fn jwks_from_public_keys(files: &[(String, Vec<u8>)]) -> Result<serde_json::Value> {
    use base64::Engine as _;
    use ravis::fhir::{PublicJwk, jwks};
    use ravis::ports::signer::{jwk_thumbprint, spki_p256_point};
    let mut keys = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let der = if bytes.first() == Some(&0x30) {
            bytes.clone()
        } else {
            let text: String = String::from_utf8_lossy(bytes)
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .with_context(|| format!("{name}: neither DER nor base64"))?
        };
        let point =
            spki_p256_point(&der).with_context(|| format!("{name}: not a P-256 public key"))?;
        keys.push(PublicJwk {
            key_id: jwk_thumbprint(&point).with_context(|| format!("{name}: thumbprint"))?,
            point: point.to_vec(),
        });
    }
    jwks(&keys).map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use ravis::adapters::signing::KeyFileSigner;

    /// The DER SubjectPublicKeyInfo header of an uncompressed P-256 point (id-ecPublicKey,
    /// prime256v1), as KMS returns it before the point.
    const P256_SPKI_HEADER: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200";

    #[test]
    fn the_jwks_names_each_key_by_the_kid_its_signer_uses() {
        let dir = tempfile::tempdir().unwrap();
        let signer = KeyFileSigner::generate(&dir.path().join("k.pem")).unwrap();
        let mut der = hex::decode(P256_SPKI_HEADER).unwrap();
        der.extend_from_slice(signer.point());
        let text = base64::engine::general_purpose::STANDARD.encode(&der) + "\n";
        let jwks = jwks_from_public_keys(&[
            ("a.der".into(), der.clone()),
            ("b.txt".into(), text.into_bytes()),
        ])
        .unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        for key in keys {
            assert_eq!(key["kid"], signer.key_id());
            assert_eq!(
                (key["kty"].as_str(), key["crv"].as_str()),
                (Some("EC"), Some("P-256"))
            );
        }
        let err =
            jwks_from_public_keys(&[("bad".into(), b"\x30\x03\x02\x01\x00".to_vec())]).unwrap_err();
        assert!(
            format!("{err:#}").contains("bad: not a P-256 public key"),
            "{err:#}"
        );
    }
}
