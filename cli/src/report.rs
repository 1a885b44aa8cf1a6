//! `ravis report --period 2026 --out DIR [--territory ATVK]`: a report on the embedded
//! backend, as the reports worker makes it in AWS (`services::reports::worker`): the lake
//! is rewritten, the indicators computed, protected and written, and — for all of Latvia —
//! the open-data release published. The files are copied out of the local buckets to
//! `DIR/reports/<id>/` and `DIR/open-data/<period>/`.

use crate::keys::LocalKeys;
use anyhow::{Context, Result, bail};
use ravis::adapters::embedded::{DirBlobStore, EmbeddedBackend};
use ravis::domain::report::{Report, ReportState, ReportTrigger};
use ravis::domain::{Atvk, ReportId};
use ravis::ports::{BlobStore, RecordStore};
use ravis::services::lake::LOCAL_ANALYTICS_BUCKET;
use ravis::services::reports::report_record;
use ravis::services::reports::worker::{REGIONS_KEY, WorkerSettings};
use ravis::statistics::period::Period;
use std::path::Path;

/// Bucket standing in for the open-data bucket.
pub const OPEN_DATA_BUCKET: &str = "open-data";

/// The local worker's settings: threshold 3 (or `RAVIS_DISCLOSURE_THRESHOLD`), the lake
/// rewritten when older than a minute.
pub fn local_settings(threshold: u64) -> WorkerSettings {
    WorkerSettings {
        threshold,
        open_data_base_url: std::env::var("RAVIS_OPEN_DATA_BASE_URL").ok(),
        publisher: std::env::var("RAVIS_OPEN_DATA_PUBLISHER").unwrap_or_else(|_| "RAVIS".into()),
        contact_email: std::env::var("RAVIS_OPEN_DATA_CONTACT")
            .unwrap_or_else(|_| "dati@example.invalid".into()),
        lake_max_age: chrono::Duration::minutes(1),
    }
}

/// The open-data portal of `ravis serve --ckan-url URL --ckan-organisation NAME`, with the
/// API token `token` (from `RAVIS_CKAN_TOKEN`, never on the command line); `None` without
/// a URL.
pub fn ckan_portal(
    url: Option<&str>,
    organisation: Option<&str>,
    token: Option<String>,
) -> Result<Option<std::sync::Arc<dyn ravis::ports::OpenDataPortal>>> {
    let Some(url) = url else {
        return Ok(None);
    };
    let organisation = organisation.context("--ckan-url needs --ckan-organisation")?;
    let token = token
        .filter(|t| !t.trim().is_empty())
        .context("--ckan-url needs the portal's API token in RAVIS_CKAN_TOKEN")?;
    let settings = ravis::config::CkanSettings {
        url: url.to_owned(),
        token,
        organisation: organisation.to_owned(),
    };
    let portal = ravis::app::ckan_portal(&settings, std::time::Duration::from_secs(60))
        .map_err(|e| anyhow::anyhow!("--ckan-url: {e}"))?;
    Ok(Some(std::sync::Arc::new(portal)))
}

/// Makes the report and copies its files to `out`; returns the finished report. A release
/// (no territory) is also pushed to `portal` when given.
pub async fn report(
    data_dir: &Path,
    period: &str,
    territory: Option<&str>,
    threshold: u64,
    regions: Option<&Path>,
    out: &Path,
    portal: Option<std::sync::Arc<dyn ravis::ports::OpenDataPortal>>,
) -> Result<Report> {
    let period = Period::parse(period).map_err(|e| anyhow::anyhow!("--period: {e}"))?;
    let territory = match territory {
        None => None,
        Some(t) => {
            let a = Atvk::parse(t).map_err(|e| anyhow::anyhow!("--territory: {e}"))?;
            if !a.is_territory() {
                bail!("--territory: must be a municipality or state city (positions 5-6 are 00)");
            }
            Some(a.to_string())
        }
    };
    let keys = LocalKeys::load_or_create(data_dir)?;
    let backend = EmbeddedBackend::open(data_dir)
        .with_context(|| format!("opening the data directory {}", data_dir.display()))?;
    let app = ravis::app::App::embedded(&backend, &keys.identity_hmac_key, &keys.pseudonym_key)?;
    let (lake, reports, open_data) = (
        backend.blobs(LOCAL_ANALYTICS_BUCKET)?,
        backend.blobs(crate::local::REPORTS_BUCKET)?,
        backend.blobs(OPEN_DATA_BUCKET)?,
    );
    if let Some(path) = regions {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        if let Err(errors) = ravis::statistics::territory::Territories::from_csv("check", &text) {
            let list: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.reason))
                .collect();
            bail!("{}: {}", path.display(), list.join("; "));
        }
        lake.put(REGIONS_KEY, text.into_bytes().into(), Some("text/csv"))
            .await?;
    }
    let worker = app.report_worker(
        lake,
        reports.clone(),
        open_data.clone(),
        local_settings(threshold),
    );
    let worker = match portal {
        Some(portal) => worker.with_portal(portal),
        None => worker,
    };
    let report = Report {
        id: ReportId::from_uuid(app.ids.new_id()),
        period: period.to_string(),
        open_data: territory.is_none(),
        territory,
        state: ReportState::Queued,
        trigger: ReportTrigger::Request,
        requested_by: "ravis report".into(),
        requested_at: app.clock.now(),
        finished_at: None,
        error: None,
        files: Vec::new(),
    };
    let records = backend.records();
    records.put_new(report_record(&report)?).await?;
    let done = worker
        .run(report.id)
        .await
        .context("making the report")?
        .context("the report vanished from the store")?;
    if done.state != ReportState::Done {
        bail!("the report failed: {}", done.error.unwrap_or_default());
    }
    let prefix = ravis::services::reports::report_prefix(done.id);
    copy_out(&reports, &prefix, &out.join(&prefix)).await?;
    if done.open_data {
        let prefix = format!("open-data/{period}/");
        copy_out(&open_data, &prefix, &out.join(&prefix)).await?;
    }
    Ok(done)
}

/// Copies every object under `prefix` to files in `dir` (written next to their place and
/// renamed, so a file is there whole or not at all).
async fn copy_out(store: &DirBlobStore, prefix: &str, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut cursor: Option<String> = None;
    loop {
        let page = store.list(prefix, 1000, cursor.as_deref()).await?;
        for object in &page.objects {
            let name = &object.key[prefix.len()..];
            if name.is_empty() || name.contains('/') {
                continue;
            }
            let bytes = store.get(&object.key).await?;
            let target = dir.join(name);
            let partial = dir.join(format!(".{name}.partial"));
            std::fs::write(&partial, &bytes)
                .with_context(|| format!("writing {}", partial.display()))?;
            std::fs::rename(&partial, &target)
                .with_context(|| format!("renaming to {}", target.display()))?;
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ckan_portal;

    fn refusal(url: &str, organisation: Option<&str>, token: Option<&str>) -> String {
        match ckan_portal(Some(url), organisation, token.map(str::to_owned)) {
            Ok(_) => panic!("{url} accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_ckan_flags_are_checked_before_the_server_starts() {
        assert!(ckan_portal(None, None, None).expect("no portal").is_none());
        assert!(
            ckan_portal(
                Some("http://127.0.0.1:9/dati"),
                Some("ravis"),
                Some("t".into())
            )
            .expect("loopback")
            .is_some()
        );
        let e = refusal("https://data.gov.lv/dati", None, Some("t"));
        assert!(e.contains("--ckan-organisation"), "{e}");
        let e = refusal("https://data.gov.lv/dati", Some("ravis"), None);
        assert!(e.contains("RAVIS_CKAN_TOKEN"), "{e}");
        let e = refusal("http://data.gov.lv/dati", Some("ravis"), Some("t"));
        assert!(e.contains("RAVIS_CKAN_URL") && e.contains("https"), "{e}");
    }
}
