//! The exports worker of `ravis serve`: the same worker as the `exports-worker` function,
//! delivering to `<data-dir>/outbox/` (what would be sent: `health/<export>.json` with its
//! `.provenance.json`, `viis/<batch>.jsonl` with its manifest) or, with `--fhir-url` and
//! `--viis-url`, to a FHIR server and to VIIS's support-needs interface. The signing key is `<data-dir>/keys/fhir-signing.pem` (created on first
//! start); its public key is published at `<data-dir>/outbox/jwks.json` for receivers.

use anyhow::{Context, Result};
use ravis::adapters::delivery::Delivery;
use ravis::adapters::embedded::{SqliteQueue, SqliteRecordStore};
use ravis::adapters::fhir_http::FhirHttpReceiver;
use ravis::adapters::outbox::FileOutbox;
use ravis::adapters::signing::KeyFileSigner;
use ravis::adapters::viis_http::ViisHttpReceiver;
use ravis::app::App;
use ravis::fhir::{FhirSettings, PublicJwk, jwks};
use ravis::services::exports::worker::ExportsWorker;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long one request to a FHIR server or VIIS may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the health Bundles go locally: `<data-dir>/outbox/health/`, or a FHIR server
/// (`--fhir-url`).
pub type LocalHealth = Delivery<FileOutbox, FhirHttpReceiver>;

/// Where the VIIS batches go locally: `<data-dir>/outbox/viis/`, or VIIS's interface
/// (`--viis-url`).
pub type LocalEducation = Delivery<FileOutbox, ViisHttpReceiver>;

/// The worker of `ravis serve`.
pub type LocalExportsWorker =
    ExportsWorker<SqliteRecordStore, LocalHealth, LocalEducation, KeyFileSigner>;

/// Builds the worker; a bad `--fhir-url`, `--viis-url` or an unusable key file stops the
/// start, named.
pub fn worker(
    app: &App<SqliteRecordStore>,
    data_dir: &Path,
    fhir_url: Option<&str>,
    viis_url: Option<&str>,
) -> Result<LocalExportsWorker> {
    let signer = KeyFileSigner::load_or_generate(&data_dir.join("keys").join("fhir-signing.pem"))
        .context("the X-Provenance signing key")?;
    let keys = jwks(&[PublicJwk {
        key_id: signer.key_id().to_owned(),
        point: signer.point().to_vec(),
    }])
    .context("publishing the signing key")?;
    let outbox_dir = data_dir.join("outbox");
    std::fs::create_dir_all(&outbox_dir)?;
    std::fs::write(
        outbox_dir.join("jwks.json"),
        serde_json::to_vec_pretty(&keys)?,
    )?;
    let health = match fhir_url {
        Some(url) => Delivery::Http(
            FhirHttpReceiver::new(url, EXCHANGE_TIMEOUT, None)
                .map_err(|reason| anyhow::anyhow!("--fhir-url {url}: {reason}"))?,
        ),
        None => Delivery::Outbox(FileOutbox::new(&outbox_dir)),
    };
    let education = match viis_url {
        Some(url) => Delivery::Http(
            ViisHttpReceiver::new(url, EXCHANGE_TIMEOUT, None)
                .map_err(|reason| anyhow::anyhow!("--viis-url {url}: {reason}"))?,
        ),
        None => Delivery::Outbox(FileOutbox::new(&outbox_dir)),
    };
    let settings = FhirSettings::default();
    settings
        .validate()
        .map_err(|e| anyhow::anyhow!("FHIR settings: {e}"))?;
    let policy = ravis::domain::export::RetryPolicy {
        lease: ravis::config::export_lease()?,
        ..Default::default()
    };
    Ok(app
        .exports_worker(health, education, signer, Arc::new(settings))?
        .with_policy(policy))
}

/// The sweep loop: queues due export jobs every `every` until `stop` turns true.
pub async fn sweep_loop(
    records: SqliteRecordStore,
    queue: SqliteQueue,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let notify = ravis::services::exports::QueueNotify(queue);
    loop {
        match ravis::services::exports::sweep::sweep(&records, &notify, chrono::Utc::now()).await {
            Ok(report) if report.queued > 0 || report.unqueued > 0 => tracing::info!(
                queued = report.queued,
                unqueued = report.unqueued,
                failed = report.failed,
                "exports sweep"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "exports sweep failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}
