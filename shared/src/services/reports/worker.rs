//! The reports worker: computes a queued report from the analytics lake and writes its
//! files (issue #13; `docs/REPORTS.md`).
//!
//! One report: read the lake's rows (from the year before the period, so support that
//! started after a risk found late in the previous year is seen), compute the indicators
//! of all of Latvia (`statistics::indicators`), protect them (`statistics::suppression`,
//! with every earlier open-data release of the same year as facts an attacker knows), and
//! write under `reports/<id>/` of the reports bucket: one tidy CSV per dataset,
//! `indicators.json`, `targets.csv` (programme participation and certified specialists
//! against the action plan's targets), and an HTML report per language with its charts. A
//! municipality's report holds the rows of its municipality, its region and Latvia only —
//! cut from the same protected national release, so two reports never differ in what they
//! hide. A report with `open_data` also publishes the release under `open-data/<period>/` of
//! the open-data bucket with its codelists and DCAT-AP metadata, then pushes it to the
//! open-data portal when one is configured (`services::reports::portal`).
//!
//! At least once: a redelivered message for a report that is already done changes nothing;
//! files are written before the report is marked done, each under a fixed name, so a crash
//! between the two only rewrites the same files.

use super::facts::{RESULT_COLUMNS_USED, add_episodes, add_referrals, add_results};
use super::files::{Target, codelists_json, published_counts, render_html, scope, targets_csv};
use super::report_prefix;
use crate::domain::ReportId;
use crate::domain::catalogue_entry::{CatalogueEntry, EntryStatus};
use crate::domain::registry::Specialist;
use crate::domain::report::{Report, ReportState};
use crate::ports::blobs::list_all;
use crate::ports::{BlobError, BlobStore, Clock, RecordStore, SortKeyCondition, StoreError};
use crate::services::ServiceError;
use crate::services::lake::LakeWriter;
use crate::services::registry::listing::decode;
use crate::statistics::dcat::{self, Publication};
use crate::statistics::indicators::{self, Facts};
use crate::statistics::lake;
use crate::statistics::open_data::{assemble, to_csv};
use crate::statistics::period::Period;
use crate::statistics::release::{CellKey, Release, TOTAL, Value};
use crate::statistics::revisions::{EarlierRelease, reconcile};
use crate::statistics::territory::{LATVIA, Territories};
use crate::statistics::{AXES, ConfStatus, Hierarchies, suppress_with};
use crate::store::keys;
use crate::store::query::query_all;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The action plan's training targets: specialists certified in assessment instruments
/// and in programmes (`shared/DOMAIN.md`; issue #13).
pub const TRAINING_TARGETS: [(&str, u64); 2] = [("assessment", 800), ("programme", 300)];

/// Key of the region classifier in the analytics bucket.
pub const REGIONS_KEY: &str = "classifiers/atvk-regions.csv";

/// What the worker is configured with.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Counts from 1 up to this (exclusive) are hidden.
    pub threshold: u64,
    /// Where the open-data files are served, for the metadata (`None`: relative links).
    pub open_data_base_url: Option<String>,
    /// Publisher named in the metadata.
    pub publisher: String,
    /// Contact e-mail of the metadata.
    pub contact_email: String,
    /// How old the lake may be before a report rewrites it first (the newest object of
    /// its results table is the lake's age).
    pub lake_max_age: chrono::Duration,
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The record store failed (retried).
    #[error("record store: {0}")]
    Store(#[from] StoreError),
    /// A bucket failed (retried).
    #[error("bucket: {0}")]
    Blobs(#[from] BlobError),
    /// A use-case error.
    #[error("{0}")]
    Service(#[from] ServiceError),
    /// The lake or a classifier cannot be read (the report fails; a new one may be asked).
    #[error("{0}")]
    Data(String),
    /// Writing the lake failed (retried).
    #[error("{0}")]
    Lake(#[from] crate::services::lake::LakeError),
    /// The message is not a report message.
    #[error("not a report message: {0}")]
    Malformed(String),
    /// The open-data portal failed for now (retried: the release is in the bucket, the
    /// push replaces; `services::reports::portal`).
    #[error("open-data portal: {0}")]
    Portal(String),
}

impl From<super::portal::PushFailure> for ReportError {
    fn from(failure: super::portal::PushFailure) -> Self {
        match failure {
            super::portal::PushFailure::Retry(reason) => Self::Portal(reason),
            super::portal::PushFailure::Refused(reason) => Self::Data(reason),
        }
    }
}

/// Computes reports.
pub struct ReportWorker<R, B> {
    records: R,
    clock: Arc<dyn Clock>,
    lake: B,
    writer: LakeWriter<R, B>,
    reports: B,
    open_data: B,
    settings: WorkerSettings,
    portal: Arc<dyn crate::ports::OpenDataPortal>,
}

impl<R: RecordStore, B: BlobStore> ReportWorker<R, B> {
    /// A worker reading the lake from `lake` (the analytics bucket; `writer` refreshes it
    /// when it is older than the settings allow), writing reports to `reports` and releases
    /// to `open_data`.
    pub fn new(
        records: R,
        clock: Arc<dyn Clock>,
        (lake, writer): (B, LakeWriter<R, B>),
        reports: B,
        open_data: B,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            records,
            clock,
            lake,
            writer,
            reports,
            open_data,
            settings,
            portal: Arc::new(crate::ports::NoPortal),
        }
    }

    /// Pushes every open-data release to this portal after writing it to the bucket
    /// (without: no push, logged).
    pub fn with_portal(mut self, portal: Arc<dyn crate::ports::OpenDataPortal>) -> Self {
        self.portal = portal;
        self
    }

    /// Handles one message of the report queue: `{"report_id": "…"}`.
    pub async fn handle(&self, body: &str) -> Result<Option<Report>, ReportError> {
        #[derive(serde::Deserialize)]
        struct Message {
            report_id: ReportId,
        }
        let message: Message =
            serde_json::from_str(body).map_err(|e| ReportError::Malformed(e.to_string()))?;
        self.run(message.report_id).await
    }

    /// Rewrites the lake when its newest results object is older than the settings allow
    /// (or there is none). Returns whether it did.
    pub async fn refresh_lake(&self) -> Result<bool, ReportError> {
        let prefix = lake::Table::Results.prefix();
        let newest = list_all(&self.lake, &prefix)
            .await?
            .iter()
            .map(|o| o.last_modified)
            .max();
        if newest.is_some_and(|t| self.clock.now() - t <= self.settings.lake_max_age) {
            return Ok(false);
        }
        let summary = self.writer.write().await?;
        tracing::info!(?summary, "analytics lake rewritten for a report");
        Ok(true)
    }

    /// Makes report `id` if it is still queued. A report whose data cannot be read is
    /// marked failed with the reason; a failing store or bucket is an error (retried).
    pub async fn run(&self, id: ReportId) -> Result<Option<Report>, ReportError> {
        let Some(record) = self.records.get(&keys::report(id)).await? else {
            tracing::warn!(report = %id, "report message for no stored report; dropped");
            return Ok(None);
        };
        let mut report: Report = decode(&record)?;
        if report.state != ReportState::Queued {
            return Ok(Some(report));
        }
        match self.make(&report).await {
            Ok(files) => {
                report.state = ReportState::Done;
                report.files = files;
            }
            Err(ReportError::Data(reason)) => {
                tracing::error!(report = %id, %reason, "report failed");
                report.state = ReportState::Failed;
                report.error = Some(reason);
            }
            Err(other) => return Err(other),
        }
        report.finished_at = Some(self.clock.now());
        self.records
            .put_versioned(super::report_record(&report)?, record.version)
            .await?;
        Ok(Some(report))
    }

    async fn make(&self, report: &Report) -> Result<Vec<String>, ReportError> {
        let period = Period::parse(&report.period).map_err(|e| ReportError::Data(e.to_string()))?;
        self.refresh_lake().await?;
        let territories = self.territories().await?;
        let entries =
            crate::services::catalogue::all_entries(&self.records, self.clock.as_ref()).await?;
        let mut facts = self.load_facts(period.year()).await?;
        facts.as_of = Some(self.clock.now().date_naive());
        let release = self.release(&facts, period, &territories).await?;
        let scoped = match &report.territory {
            None => release.clone(),
            Some(t) => scope(&release, t, &territories),
        };
        let prefix = report_prefix(report.id);
        let mut files = Vec::new();
        for dataset in &scoped.datasets {
            let name = format!("{}.csv", dataset.id);
            let bytes =
                to_csv(dataset).map_err(|e| ReportError::Data(format!("writing {name}: {e}")))?;
            self.reports
                .put(&format!("{prefix}{name}"), bytes.into(), Some("text/csv"))
                .await?;
            files.push(name);
        }
        let json =
            serde_json::to_vec_pretty(&scoped).map_err(|e| ReportError::Data(e.to_string()))?;
        self.reports
            .put(
                &format!("{prefix}indicators.json"),
                json.into(),
                Some("application/json"),
            )
            .await?;
        files.push("indicators.json".into());
        let targets = self.targets(&release, period, &entries).await?;
        self.reports
            .put(
                &format!("{prefix}targets.csv"),
                targets_csv(&targets).into(),
                Some("text/csv"),
            )
            .await?;
        files.push("targets.csv".into());
        for lang in ["lv", "en"] {
            let name = format!("report.{lang}.html");
            let html = render_html(&scoped, lang, &targets);
            self.reports
                .put(
                    &format!("{prefix}{name}"),
                    html.into_bytes().into(),
                    Some("text/html"),
                )
                .await?;
            files.push(name);
        }
        if report.open_data && report.territory.is_none() {
            self.publish(&release).await?;
        }
        files.sort();
        Ok(files)
    }

    /// The protected national release of `period`.
    async fn release(
        &self,
        facts: &Facts,
        period: Period,
        territories: &Territories,
    ) -> Result<Release, ReportError> {
        let computed = indicators::compute(facts, period, territories, self.settings.threshold);
        let earlier = self.earlier_releases(period).await?;
        let statuses = protect(&computed, &earlier, self.settings.threshold)?;
        Ok(assemble(
            &computed,
            &statuses,
            territories,
            &period.to_string(),
            self.settings.threshold,
            &self.clock.now().to_rfc3339(),
        ))
    }

    /// The lake's rows a release of a period in `year` is computed from, as facts: results
    /// and referrals from the year before on (support started early in `year` for a risk
    /// found late in the year before counts), SDQ results and episodes from
    /// [`HISTORY_YEARS`] before on (the SDQ before an episode lies up to a year before its
    /// start, and a programme such as the Nurse-Family Partnership runs up to two and a half
    /// years). A lake that cannot be decoded fails the report, naming the object.
    async fn load_facts(&self, year: i32) -> Result<Facts, ReportError> {
        let recent = year - 1;
        let from_year = year - HISTORY_YEARS;
        let mut facts = Facts::default();
        for table in lake::Table::ALL {
            for object in list_all(&self.lake, &table.prefix()).await? {
                let key = object.key;
                let Some(y) = lake::partition_year(table, &key) else {
                    continue;
                };
                let needed = match table {
                    lake::Table::Referrals => recent,
                    lake::Table::Results | lake::Table::Episodes => from_year,
                };
                if y < needed || !key.ends_with(".parquet") {
                    continue;
                }
                let bytes = self.lake.get(&key).await?;
                let bad = |e: crate::statistics::columnar::ColumnarError| {
                    ReportError::Data(format!("{key}: {e}"))
                };
                match table {
                    lake::Table::Results => {
                        let columns =
                            lake::read_results_columns(bytes, |c| RESULT_COLUMNS_USED.contains(&c));
                        add_results(
                            &mut facts,
                            &columns.map_err(bad)?,
                            (y < recent).then_some(year),
                        )
                    }
                    lake::Table::Episodes => {
                        add_episodes(&mut facts, &lake::read_episodes(bytes).map_err(bad)?)
                    }
                    lake::Table::Referrals => {
                        add_referrals(&mut facts, &lake::read_referrals(bytes).map_err(bad)?)
                    }
                }
            }
        }
        Ok(facts)
    }

    /// The region classifier from the analytics bucket, or none.
    async fn territories(&self) -> Result<Territories, ReportError> {
        match self.lake.get(REGIONS_KEY).await {
            Ok(bytes) => {
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| ReportError::Data(format!("{REGIONS_KEY} is not UTF-8")))?;
                // The classifier's version: the first 12 hex digits of its entity tag.
                let version: String = self
                    .lake
                    .head(REGIONS_KEY)
                    .await?
                    .map(|m| m.etag.trim_matches('"').chars().take(12).collect())
                    .unwrap_or_default();
                Territories::from_csv(&version, text).map_err(|errors| {
                    let list: Vec<String> = errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.reason))
                        .collect();
                    ReportError::Data(format!("{REGIONS_KEY}: {}", list.join("; ")))
                })
            }
            Err(BlobError::NotFound(_)) => Ok(Territories::without_regions()),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the release under `open-data/<period>/`: the datasets, the codelists (with the
    /// decimal indicators named), the DCAT-AP metadata.
    async fn publish(&self, release: &Release) -> Result<(), ReportError> {
        let prefix = format!("open-data/{}/", release.period);
        let mut sizes = BTreeMap::new();
        let mut csvs = Vec::new();
        for dataset in &release.datasets {
            let bytes =
                bytes::Bytes::from(to_csv(dataset).map_err(|e| ReportError::Data(e.to_string()))?);
            sizes.insert(dataset.id.clone(), bytes.len() as u64);
            csvs.push((dataset.id.clone(), bytes.clone()));
            self.open_data
                .put(
                    &format!("{prefix}{}.csv", dataset.id),
                    bytes,
                    Some("text/csv"),
                )
                .await?;
        }
        let codelists = bytes::Bytes::from(codelists_json(release));
        self.open_data
            .put(
                &format!("{prefix}codelists.json"),
                codelists.clone(),
                Some("application/json"),
            )
            .await?;
        let metadata = metadata_json(release, &self.settings, &sizes)?;
        self.open_data
            .put(
                &format!("{prefix}metadata.jsonld"),
                metadata.into(),
                Some("application/ld+json"),
            )
            .await?;
        // Only once every file is in the bucket: a failed push loses nothing.
        let s = &self.settings;
        let pushed = super::portal::portal_release(
            release,
            &csvs,
            codelists,
            (
                s.open_data_base_url.as_deref(),
                &s.publisher,
                &s.contact_email,
            ),
        );
        Ok(super::portal::push(self.portal.as_ref(), &pushed).await?)
    }

    /// The published cells of earlier releases of the same year (`open-data/<p>/` for
    /// every period `p` of the year other than `period`), by period: what an attacker
    /// already knows.
    async fn earlier_releases(&self, period: Period) -> Result<Vec<EarlierRelease>, ReportError> {
        let mut out: BTreeMap<Period, Vec<(CellKey, Option<u64>)>> = BTreeMap::new();
        let keys_seen = list_all(&self.open_data, "open-data/").await?;
        let mut decimals_of: BTreeMap<Period, Vec<String>> = BTreeMap::new();
        for key in keys_seen.into_iter().map(|m| m.key) {
            let Some(rest) = key.strip_prefix("open-data/") else {
                continue;
            };
            let Some((p, file)) = rest.split_once('/') else {
                continue;
            };
            let Ok(p) = Period::parse(p) else { continue };
            if p == period || p.year() != period.year() || !file.ends_with(".csv") {
                continue;
            }
            // One codelists file per earlier period, read once for all its datasets.
            let decimals = match decimals_of.get(&p) {
                Some(list) => list.clone(),
                None => {
                    let list = self.decimal_indicators(p).await?;
                    decimals_of.insert(p, list.clone());
                    list
                }
            };
            let bytes = self.open_data.get(&key).await?;
            out.entry(p).or_default().extend(
                published_counts(&bytes, &decimals)
                    .map_err(|e| ReportError::Data(format!("{key}: {e}")))?,
            );
        }
        Ok(out
            .into_iter()
            .map(|(p, cells)| (p.to_string(), cells))
            .collect())
    }

    async fn decimal_indicators(&self, period: Period) -> Result<Vec<String>, ReportError> {
        match self
            .open_data
            .get(&format!("open-data/{period}/codelists.json"))
            .await
        {
            Ok(bytes) => {
                let v: serde_json::Value = serde_json::from_slice(&bytes)
                    .map_err(|e| ReportError::Data(format!("codelists of {period}: {e}")))?;
                Ok(v["decimal_indicators"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default())
            }
            Err(BlobError::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Programme participation and certified specialists against their targets.
    async fn targets(
        &self,
        release: &Release,
        period: Period,
        entries: &[CatalogueEntry],
    ) -> Result<Vec<Target>, ReportError> {
        let published = |indicator: &str| -> Option<u64> {
            release.datasets.iter().flat_map(|d| &d.rows).find_map(|r| {
                let k = &r.key;
                (k.indicator == indicator
                    && k.period == release.period
                    && k.atvk == LATVIA
                    && k.age_band == TOTAL
                    && k.sex == TOTAL
                    && k.instrument == TOTAL)
                    .then_some(match r.value {
                        Some(Value::Count(n)) => Some(n),
                        _ => None,
                    })
                    .flatten()
            })
        };
        let mut out = Vec::new();
        for e in entries
            .iter()
            .filter(|e| e.annual_target.is_some() && e.status == EntryStatus::Active)
        {
            let target = u64::from(e.annual_target.unwrap_or(0));
            let scaled = match period {
                Period::Year(_) => target,
                Period::Quarter(..) => target.div_ceil(4),
                Period::Month(..) => target.div_ceil(12),
            };
            out.push(Target {
                what: format!("support_started:{}", e.id),
                label: e.name.clone(),
                target: scaled,
                actual: published(&format!("support_started:{}", e.id)),
            });
        }
        // Specialists holding a certification valid at the end of the period.
        let on = period.end();
        let mut certified = BTreeMap::from([("assessment", 0u64), ("programme", 0u64)]);
        for record in query_all(
            &self.records,
            keys::SPECIALISTS,
            &SortKeyCondition::Prefix(keys::SPECIALIST_PREFIX.into()),
        )
        .await?
        {
            let s: Specialist = decode(&record)?;
            let valid = |c: &&crate::domain::registry::Certification| {
                c.valid_from <= on && c.valid_to.is_none_or(|t| t >= on)
            };
            if s.certifications
                .iter()
                .filter(valid)
                .any(|c| c.instrument.is_some())
            {
                *certified.entry("assessment").or_default() += 1;
            }
            if s.certifications
                .iter()
                .filter(valid)
                .any(|c| c.programme.is_some())
            {
                *certified.entry("programme").or_default() += 1;
            }
        }
        for (kind, target) in TRAINING_TARGETS {
            out.push(Target {
                what: format!("specialists_certified:{kind}"),
                label: format!("specialists certified ({kind})"),
                target,
                actual: certified.get(kind).copied(),
            });
        }
        Ok(out)
    }
}

/// The suppression pattern of the computed indicators given earlier releases' cells, by
/// period (`statistics::revisions`: a release revised since is no equation, but its small
/// changes are hidden).
fn protect(
    computed: &indicators::Indicators,
    earlier: &[EarlierRelease],
    threshold: u64,
) -> Result<BTreeMap<CellKey, ConfStatus>, ReportError> {
    let codelists = AXES.map(|axis| computed.codelists.get(axis).cloned().unwrap_or_default());
    let hierarchies = Hierarchies::new(codelists);
    let known = reconcile(&computed.counts, earlier, threshold);
    if !known.revised.is_empty() {
        tracing::info!(
            revised = ?known.revised,
            sensitive = known.sensitive.len(),
            "earlier releases revised since: their small changes are hidden"
        );
    }
    suppress_with(
        &computed.counts,
        &hierarchies,
        threshold,
        &known.facts,
        &known.sensitive,
    )
    .map(|s| s.status)
    .map_err(|e| ReportError::Data(format!("disclosure control: {e}")))
}

/// How many years before a release's year the SDQ results and episodes it reads go back.
pub const HISTORY_YEARS: i32 = 5;

/// The DCAT-AP metadata of an open-data release.
fn metadata_json(
    release: &Release,
    settings: &WorkerSettings,
    sizes: &BTreeMap<String, u64>,
) -> Result<Vec<u8>, ReportError> {
    let base = settings
        .open_data_base_url
        .clone()
        .unwrap_or_else(|| "https://open-data.example.invalid".into());
    let publication = Publication {
        base_url: format!("{}/open-data/{}/", base.trim_end_matches('/'), release.period),
        publisher_name: settings.publisher.clone(),
        contact_email: settings.contact_email.clone(),
        catalog_title_lv: "Bērnu attīstības vajadzību agrīnas identificēšanas statistika".into(),
        catalog_title_en: "Statistics of the early identification of children's development needs".into(),
        catalog_description_lv: "Apkopoti rādītāji no RAVIS: skrīnings, riska bērni, atbalsts un laiks līdz atbalstam, pa teritorijām (ATVK).".into(),
        catalog_description_en: "Aggregated indicators from RAVIS: screening, children at risk, support and the time to support, by territory (ATVK).".into(),
    };
    let doc = dcat::catalog(release, &publication, sizes)
        .map_err(|e| ReportError::Data(format!("metadata: {e}")))?;
    serde_json::to_vec_pretty(&doc).map_err(|e| ReportError::Data(e.to_string()))
}
