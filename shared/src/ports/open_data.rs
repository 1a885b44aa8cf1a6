//! Open-data portal port: where an open-data release is pushed after it is written to the
//! open-data bucket (issue #13; `docs/REPORTS.md`, "Pushing to data.gov.lv (CKAN)"). The
//! bucket stays the release's home: a portal gets a copy, and a push that fails loses
//! nothing (the reports worker retries it through the report queue).
//!
//! Answers are the exchange ports' [`ReceiverAnswer`]: accepted (with where the files went),
//! retry (a passing failure) or rejected (the portal refused: a bad token, an unknown
//! organisation, invalid metadata). Never in progress: a push is synchronous.

use super::ReceiverAnswer;
use bytes::Bytes;
use futures::future::BoxFuture;

/// One dataset of a release, as a portal publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalDataset {
    /// The dataset's id (`screening`, `support`, `sdq15`): stable across releases.
    pub id: String,
    /// Title in Latvian.
    pub title_lv: String,
    /// Title in English.
    pub title_en: String,
    /// Description in Latvian.
    pub description_lv: String,
    /// Description in English.
    pub description_en: String,
    /// The period's tidy CSV, exactly as written to the open-data bucket.
    pub csv: Bytes,
}

/// An open-data release of one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalRelease {
    /// The period (`2026`, `2026-Q1`, `2026-01`): names the period's resource.
    pub period: String,
    /// Every dataset of the release.
    pub datasets: Vec<PortalDataset>,
    /// The release's `codelists.json`.
    pub codelists: Bytes,
    /// Where the release's DCAT-AP metadata is served (`…/open-data/<period>/metadata.jsonld`),
    /// when the open-data bucket's address is known.
    pub metadata_url: Option<String>,
    /// The publisher named in the metadata.
    pub publisher: String,
    /// The metadata's contact e-mail.
    pub contact_email: String,
}

/// An open-data portal (data.gov.lv, a CKAN instance).
pub trait OpenDataPortal: Send + Sync + 'static {
    /// Publishes (or re-publishes: a second push of the same period replaces, never adds)
    /// the release.
    fn publish<'a>(&'a self, release: &'a PortalRelease) -> BoxFuture<'a, ReceiverAnswer>;

    /// The portal's name, for logs and errors (`data.gov.lv (CKAN)`).
    fn name(&self) -> &str;
}

/// No portal configured: nothing is pushed (the release stays in the open-data bucket),
/// and each release says so in the log.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPortal;

impl OpenDataPortal for NoPortal {
    fn publish<'a>(&'a self, release: &'a PortalRelease) -> BoxFuture<'a, ReceiverAnswer> {
        tracing::info!(
            period = %release.period,
            "no open-data portal configured (RAVIS_CKAN_URL): the release is in the open-data bucket only"
        );
        Box::pin(async {
            ReceiverAnswer::Accepted {
                locations: Vec::new(),
            }
        })
    }

    fn name(&self) -> &str {
        "no portal"
    }
}
