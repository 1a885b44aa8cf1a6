//! Pushing an open-data release to the open-data portal (the [`OpenDataPortal`] port) after
//! the reports worker has written it to the open-data bucket (`docs/REPORTS.md`, "Pushing
//! to data.gov.lv (CKAN)").
//!
//! The bucket holds the release whatever the portal answers. A passing failure (the
//! portal's 5xx or 429 after the adapter's own retries, a timeout) is a retried error: the
//! report message comes back through the report queue and the report is made again (same
//! files, same names; the push replaces what an earlier try put there). A refusal (a bad
//! token, an unknown organisation, invalid metadata) fails the report with the portal's
//! reason: trying again would not help until the operator fixes the setting.

use crate::ports::{OpenDataPortal, PortalDataset, PortalRelease, ReceiverAnswer};
use crate::statistics::release::Release;
use bytes::Bytes;

/// The release as the portal gets it: each dataset with its CSV (`csvs`, by dataset id, the
/// bytes written to the bucket) and the codelists.
pub fn portal_release(
    release: &Release,
    csvs: &[(String, Bytes)],
    codelists: Bytes,
    (open_data_base_url, publisher, contact_email): (Option<&str>, &str, &str),
) -> PortalRelease {
    let datasets = release
        .datasets
        .iter()
        .filter_map(|d| {
            let csv = csvs.iter().find(|(id, _)| *id == d.id)?.1.clone();
            Some(PortalDataset {
                id: d.id.clone(),
                title_lv: d.title_lv.clone(),
                title_en: d.title_en.clone(),
                description_lv: d.description_lv.clone(),
                description_en: d.description_en.clone(),
                csv,
            })
        })
        .collect();
    PortalRelease {
        period: release.period.clone(),
        datasets,
        codelists,
        metadata_url: open_data_base_url.map(|base| {
            format!(
                "{}/open-data/{}/{}",
                base.trim_end_matches('/'),
                release.period,
                crate::statistics::dcat::METADATA_FILE
            )
        }),
        publisher: publisher.to_owned(),
        contact_email: contact_email.to_owned(),
    }
}

/// Why a push failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushFailure {
    /// A passing failure: the report is retried through the queue.
    #[error("{0}")]
    Retry(String),
    /// The portal refused: the report fails with this reason.
    #[error("{0}")]
    Refused(String),
}

/// Pushes a release; `Err` as the module documentation says.
pub async fn push(portal: &dyn OpenDataPortal, release: &PortalRelease) -> Result<(), PushFailure> {
    match portal.publish(release).await {
        ReceiverAnswer::Accepted { locations } => {
            if !locations.is_empty() {
                tracing::info!(period = %release.period, portal = portal.name(), ?locations, "open-data release pushed");
            }
            Ok(())
        }
        ReceiverAnswer::Retry { reason, .. } => {
            tracing::warn!(period = %release.period, portal = portal.name(), %reason, "open-data push failed; retried through the report queue");
            Err(PushFailure::Retry(reason))
        }
        ReceiverAnswer::InProgress { progress, .. } => Err(PushFailure::Retry(format!(
            "{} is still working on the release: {progress}",
            portal.name()
        ))),
        ReceiverAnswer::Rejected { reason, .. } => {
            tracing::error!(period = %release.period, portal = portal.name(), %reason, "open-data push refused");
            Err(PushFailure::Refused(format!(
                "the release is in the open-data bucket, but pushing it was refused: {reason}"
            )))
        }
    }
}
