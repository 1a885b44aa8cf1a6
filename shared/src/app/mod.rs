//! The composition root: the one place that builds the service graph. [`App`] holds what
//! every use case shares over one record store (clock, ids, scoring engine, keys, audit
//! archive) and hands out the use cases; `AwsApp` (feature `aws`) builds it for a Lambda
//! function from the settings, and `App::embedded` (feature `embedded`) for the local
//! backend from its data directory.
//! Binaries only pick what they serve (`docs/ARCHITECTURE.md`).

use crate::config::ConfigError;
use crate::domain::catalogue::CatalogueError;
use crate::fhir::FhirSettings;
use crate::inbound::all_routes::AllRoutes;
use crate::inbound::children_api::ChildrenApi;
use crate::inbound::exports_api::ExportsApi;
use crate::inbound::intake_api::IntakeApi;
use crate::inbound::pathway_api::PathwayApi;
use crate::inbound::registry_api::{Both, RegistryApi};
use crate::inbound::reports_api::ReportsApi;
use crate::inbound::screenings_api::ScreeningsApi;
use crate::intake::IntakeService;
use crate::ports::signer::JwsSigner;
use crate::ports::{
    BlobError, BlobStore, Clock, EducationReceiver, HealthReceiver, IdGenerator, Queue, RandomIds,
    RecordStore, SystemClock,
};
use crate::scoring::Engine;
use crate::services::audit::{ArchiveSink, AuditTrail};
use crate::services::catalogue::CatalogueService;
use crate::services::children::ChildrenService;
use crate::services::exports::education::EducationExporter;
use crate::services::exports::health::HealthExporter;
use crate::services::exports::operator::ExportsAdmin;
use crate::services::exports::worker::ExportsWorker;
use crate::services::exports::{ExportNotify, Outbox, QueueNotify};
use crate::services::referrals::ReferralService;
use crate::services::registry::RegistryService;
use crate::services::reports::Reports;
use crate::services::scoring_worker::ScoringWorker;
use crate::services::screenings::ScreeningsService;
use crate::services::worklist::{Cadence, Worklist};
use std::sync::Arc;

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "embedded")]
mod embedded;

#[cfg(feature = "aws")]
pub use aws::AwsApp;
#[cfg(feature = "embedded")]
pub use embedded::{WORDING_DIR, local_archive};

/// Why the service graph could not be built (a function stops at cold start with it).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A setting is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The built-in catalogue does not load.
    #[error("loading the catalogue")]
    Catalogue(#[source] CatalogueError),
    /// The local backend's blob store could not be opened.
    #[error("opening the local audit archive")]
    Blobs(#[source] BlobError),
}

/// What `children-api` serves: children, the registry, referrals and worklists, exports'
/// operator views, reports and intake jobs (`Q` the report queue, `B` the blob store of the
/// reports bucket and the partner bucket).
pub type ChildrenRoutes<R, Q, B> = Both<
    ChildrenApi<R>,
    Both<
        RegistryApi<R>,
        Both<PathwayApi<R>, Both<ExportsApi<R>, Both<ReportsApi<R, Q, B>, IntakeApi<R, B>>>>,
    >,
>;

/// The CKAN portal of the settings (`RAVIS_CKAN_URL`, `RAVIS_CKAN_TOKEN`,
/// `RAVIS_CKAN_ORGANISATION`; `docs/REPORTS.md`, "Pushing to data.gov.lv (CKAN)"), each
/// request bounded by `timeout`; a bad setting is refused naming its variable.
#[cfg(feature = "exchange-http")]
pub fn ckan_portal(
    settings: &crate::config::CkanSettings,
    timeout: std::time::Duration,
) -> Result<crate::adapters::ckan_http::CkanPortal, ConfigError> {
    crate::adapters::ckan_http::CkanPortal::new(
        &settings.url,
        &settings.token,
        &settings.organisation,
        timeout,
    )
    .map_err(|e| {
        use crate::adapters::ckan_http::CkanSetupError;
        ConfigError::Invalid {
            name: match e {
                CkanSetupError::EmptyToken | CkanSetupError::TokenControlCharacter => {
                    "RAVIS_CKAN_TOKEN"
                }
                CkanSetupError::EmptyOrganisation => "RAVIS_CKAN_ORGANISATION",
                CkanSetupError::Client(_) => "RAVIS_CKAN_URL",
            },
            reason: e.to_string(),
        }
    })
}

/// What every use case over one record store shares; cheap to clone.
#[derive(Clone)]
pub struct App<R> {
    /// The record store.
    pub records: R,
    /// The clock every use case reads.
    pub clock: Arc<dyn Clock>,
    /// The id generator every use case uses.
    pub ids: Arc<dyn IdGenerator>,
    /// The scoring engine with the built-in instruments.
    pub engine: Arc<Engine>,
    identity_key: Vec<u8>,
    pseudonym_key: Vec<u8>,
    retention_days: Option<u32>,
    break_glass_minutes: Option<u32>,
    archive: Option<Arc<dyn ArchiveSink>>,
    deferred_archive: bool,
    group_commit: Option<crate::services::audit::GroupCommit>,
    referral_grace_days: u32,
    cadence: Cadence,
    export_notify: Option<Arc<dyn ExportNotify>>,
    wording_packs: Option<Arc<dyn crate::ports::wording::WordingPacks>>,
}

impl<R: RecordStore + Clone> App<R> {
    /// The graph over `records` with the system clock, random ids and the built-in
    /// instruments; `identity_key` indexes personal codes, `pseudonym_key` names audit chains.
    pub fn new(records: R, identity_key: &[u8], pseudonym_key: &[u8]) -> Result<Self, AppError> {
        Ok(Self {
            records,
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            // Compiled by the first use case that scores or looks an instrument up, not at
            // a function's cold start (docs/BENCHMARKS.md, "Cold start").
            engine: Arc::new(Engine::builtin_on_first_use()),
            identity_key: identity_key.to_vec(),
            pseudonym_key: pseudonym_key.to_vec(),
            retention_days: None,
            break_glass_minutes: None,
            archive: None,
            deferred_archive: false,
            group_commit: None,
            referral_grace_days: crate::domain::referral::DEFAULT_GRACE_DAYS,
            cadence: Cadence::default(),
            export_notify: None,
            wording_packs: None,
        })
    }

    /// Reads item wording packs from `packs` (without: no pack is loaded, and the wording
    /// route answers 404 for every instrument and language).
    pub fn with_wording_packs(
        mut self,
        packs: Arc<dyn crate::ports::wording::WordingPacks>,
    ) -> Self {
        self.wording_packs = Some(packs);
        self
    }

    /// The wording pack reads (`GET /catalogue/instruments/{id}/wording/{lang}`).
    pub fn wording(&self) -> crate::services::wording::WordingService {
        crate::services::wording::WordingService::new(
            self.wording_packs.clone(),
            Arc::clone(&self.engine),
        )
    }

    /// Queues export jobs on this queue after their commit (without one, recorded jobs wait
    /// for the exports sweep).
    pub fn with_export_queue<Q: Queue>(mut self, queue: Q) -> Self {
        self.export_notify = Some(Arc::new(QueueNotify(queue)));
        self
    }

    /// The analytics lake's writer over `blobs` (the analytics bucket): every table as a
    /// full snapshot, with the same analytics pseudonyms as the analytics export.
    #[cfg(feature = "lake")]
    pub fn lake_writer<B: crate::ports::BlobStore>(
        &self,
        blobs: B,
    ) -> crate::services::lake::LakeWriter<R, B> {
        crate::services::lake::LakeWriter::new(
            self.records.clone(),
            blobs,
            Arc::clone(&self.clock),
            Arc::clone(&self.engine),
            &self.pseudonym_key,
        )
    }

    /// The reports worker: reads (and when stale rewrites) the lake in `lake`, writes
    /// reports to `reports` and open-data releases to `open_data`.
    #[cfg(feature = "lake")]
    pub fn report_worker<B: crate::ports::BlobStore + Clone>(
        &self,
        lake: B,
        reports: B,
        open_data: B,
        settings: crate::services::reports::worker::WorkerSettings,
    ) -> crate::services::reports::worker::ReportWorker<R, B> {
        crate::services::reports::worker::ReportWorker::new(
            self.records.clone(),
            Arc::clone(&self.clock),
            (lake.clone(), self.lake_writer(lake)),
            reports,
            open_data,
            settings,
        )
    }

    /// Where changes record their export jobs.
    pub fn outbox(&self) -> Outbox {
        Outbox::new(
            Arc::clone(&self.clock),
            Arc::clone(&self.ids),
            self.export_notify.clone(),
        )
    }

    /// The operators' view of the exports.
    pub fn exports_admin(&self) -> ExportsAdmin<R> {
        ExportsAdmin::new(
            self.records.clone(),
            Arc::clone(&self.clock),
            self.audit(),
            self.outbox(),
        )
    }

    /// The exports worker, delivering to these receivers and signing with `signer`; a job
    /// whose attempts run out is dead-lettered through the export queue (required).
    pub fn exports_worker<H: HealthReceiver, E: EducationReceiver, S: JwsSigner>(
        &self,
        health: H,
        education: E,
        signer: S,
        fhir: Arc<FhirSettings>,
    ) -> Result<ExportsWorker<R, H, E, S>, AppError> {
        let notify = self
            .export_notify
            .clone()
            .ok_or_else(|| AppError::Config(ConfigError::Missing("RAVIS_EXPORT_QUEUE_URL")))?;
        Ok(ExportsWorker::new(
            self.records.clone(),
            Arc::clone(&self.clock),
            self.audit(),
            HealthExporter::new(
                self.records.clone(),
                Arc::clone(&self.clock),
                health,
                signer,
                fhir,
            ),
            EducationExporter::new(self.records.clone(), Arc::clone(&self.clock), education),
            notify,
        ))
    }

    /// Uses this clock (tests move time).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Scores with this engine (tests load other definitions).
    pub fn with_engine(mut self, engine: Arc<Engine>) -> Self {
        self.engine = engine;
        self
    }

    /// Uses this id generator (tests fix the ids).
    pub fn with_ids(mut self, ids: Arc<dyn IdGenerator>) -> Self {
        self.ids = ids;
        self
    }

    /// Audit entries expire after this many days (`None`: kept).
    pub fn with_retention_days(mut self, days: Option<u32>) -> Self {
        self.retention_days = days;
        self
    }

    /// Break-the-glass grants last this long (else the default).
    pub fn with_break_glass_minutes(mut self, minutes: u32) -> Self {
        self.break_glass_minutes = Some(minutes);
        self
    }

    /// The care pathway's settings: days a provider keeps seeing a child after a referral
    /// ends, and the follow-up cadence (months between reviews under 3 years, from 3 years).
    pub fn with_care_settings(mut self, grace_days: u32, review_months: (u32, u32)) -> Self {
        self.referral_grace_days = grace_days;
        self.cadence = Cadence {
            under_3: review_months.0,
            from_3: review_months.1,
        };
        self
    }

    /// The worklists.
    pub fn worklist(&self) -> Worklist<R> {
        Worklist::new(
            self.records.clone(),
            Arc::clone(&self.clock),
            Arc::clone(&self.engine),
            self.cadence,
        )
    }

    /// The referral use cases.
    pub fn referrals(&self) -> ReferralService<R> {
        ReferralService::new(
            self.records.clone(),
            Arc::clone(&self.clock),
            Arc::clone(&self.ids),
            self.audit(),
            self.worklist(),
            self.referral_grace_days,
        )
    }

    /// Every audit entry is also copied to this write-once archive.
    pub fn with_archive(mut self, archive: Arc<dyn ArchiveSink>) -> Self {
        self.archive = Some(archive);
        self
    }

    /// Leaves the archive copy of every audit entry to a drain off the request path
    /// (`services::audit::ArchiveDrain`; `ravis serve` runs it): an append is one atomic
    /// write of the record store. Call before [`Self::with_group_commit`].
    pub fn with_deferred_archive(mut self) -> Self {
        self.deferred_archive = true;
        self
    }

    /// Appends single audit entries through one committing task, so concurrent requests
    /// share their durable writes (`services::audit::GroupCommit`; `ravis serve`). Starts
    /// the task on the current Tokio runtime.
    pub fn with_group_commit(mut self) -> Self {
        self.group_commit = Some(crate::services::audit::GroupCommit::start(self.audit()));
        self
    }

    /// The audit trail (with the archive, when there is one, and the group commit).
    pub fn audit(&self) -> AuditTrail<R> {
        let trail = AuditTrail::new(
            self.records.clone(),
            &self.pseudonym_key,
            Arc::clone(&self.clock),
            self.retention_days,
        );
        let trail = match &self.archive {
            Some(archive) if self.deferred_archive => trail
                .with_archive(Arc::clone(archive))
                .with_deferred_archive(),
            Some(archive) => trail.with_archive(Arc::clone(archive)),
            None => trail,
        };
        match &self.group_commit {
            Some(group) => trail.with_group_commit(group.clone()),
            None => trail,
        }
    }

    /// The children use cases.
    pub fn children(&self) -> ChildrenService<R> {
        let service = ChildrenService::new(
            self.records.clone(),
            Arc::clone(&self.clock),
            Arc::clone(&self.ids),
            &self.identity_key,
            self.audit(),
        );
        let service = service.with_outbox(self.outbox());
        match self.break_glass_minutes {
            Some(minutes) => service.with_break_glass_minutes(minutes),
            None => service,
        }
    }

    /// The registry use cases (organisations, specialists, episodes, representatives).
    pub fn registry(&self) -> RegistryService<R> {
        RegistryService::new(
            self.records.clone(),
            Arc::clone(&self.clock),
            Arc::clone(&self.ids),
            self.audit(),
            &self.identity_key,
        )
        .with_worklist(self.worklist())
    }

    /// The catalogue use cases.
    pub fn catalogue(&self) -> Result<CatalogueService<R>, AppError> {
        CatalogueService::new(
            self.records.clone(),
            Arc::clone(&self.engine),
            Arc::clone(&self.clock),
        )
        .map_err(AppError::Catalogue)
    }

    /// The screening use cases, queueing scoring work on `queue`.
    pub fn screenings<Q: Queue>(&self, queue: Q) -> ScreeningsService<R, Q> {
        ScreeningsService::new(
            self.records.clone(),
            queue,
            Arc::clone(&self.clock),
            Arc::clone(&self.ids),
            Arc::clone(&self.engine),
            self.audit(),
        )
    }

    /// The scoring worker.
    pub fn scoring_worker(&self) -> ScoringWorker<R> {
        ScoringWorker::new(
            self.records.clone(),
            Arc::clone(&self.clock),
            Arc::clone(&self.ids),
            Arc::clone(&self.engine),
        )
        .with_worklist(self.worklist())
        .with_outbox(self.outbox())
    }

    /// The partner-file import use case, auditing what the kinds audit.
    pub fn intake(&self) -> IntakeService<R> {
        IntakeService::new(
            self.records.clone(),
            Arc::clone(&self.clock),
            Arc::clone(&self.ids),
            &self.identity_key,
        )
        .with_audit(self.audit())
        .with_outbox(self.outbox())
    }

    /// Every HTTP route but the screenings' (what `children-api` serves); report requests
    /// go to `report_queue`, report files are read from `report_files`, intake jobs' row
    /// reports from `partner_files` (the partner bucket).
    pub fn children_routes<Q: Queue, B: BlobStore>(
        &self,
        report_queue: Q,
        report_files: B,
        partner_files: B,
    ) -> ChildrenRoutes<R, Q, B> {
        Both(
            ChildrenApi(self.children()),
            Both(
                RegistryApi(self.registry()),
                Both(
                    self.pathway_routes(),
                    Both(
                        ExportsApi(self.exports_admin()),
                        Both(
                            ReportsApi(self.reports(report_queue, report_files)),
                            self.intake_routes(partner_files),
                        ),
                    ),
                ),
            ),
        )
    }

    /// The intake jobs' routes, their row reports read from `partner_files`.
    pub fn intake_routes<B: BlobStore>(&self, partner_files: B) -> IntakeApi<R, B> {
        IntakeApi(crate::intake::jobs::IntakeJobs::new(
            self.records.clone(),
            partner_files,
        ))
    }

    /// Every route in one API (the local host, and suites that call any route): screenings
    /// queue on `queue`, report requests on `report_queue`, report files in `report_files`,
    /// intake jobs' row reports in `partner_files`.
    pub fn all_routes<Q: Queue, B: BlobStore>(
        &self,
        queue: Q,
        report_queue: Q,
        report_files: B,
        partner_files: B,
    ) -> Result<AllRoutes<R, Q, B>, AppError> {
        Ok(AllRoutes {
            children: ChildrenApi(self.children()),
            screenings: self.screenings_routes(queue)?,
            registry: RegistryApi(self.registry()),
            pathway: self.pathway_routes(),
            exports: ExportsApi(self.exports_admin()),
            reports: ReportsApi(self.reports(report_queue, report_files)),
            intake: self.intake_routes(partner_files),
        })
    }

    /// The report use cases: requests queued on `queue`, files read from `files`.
    pub fn reports<Q: Queue, B: BlobStore>(&self, queue: Q, files: B) -> Reports<R, Q, B> {
        Reports::new(
            self.records.clone(),
            queue,
            files,
            Arc::clone(&self.clock),
            Arc::clone(&self.ids),
        )
    }

    /// The referral and worklist routes.
    pub fn pathway_routes(&self) -> PathwayApi<R> {
        PathwayApi {
            referrals: self.referrals(),
            worklist: self.worklist(),
            audit: self.audit(),
        }
    }

    /// The screening and catalogue routes (what `screenings-api` serves).
    pub fn screenings_routes<Q: Queue>(&self, queue: Q) -> Result<ScreeningsApi<R, Q>, AppError> {
        Ok(ScreeningsApi::new(
            self.screenings(queue),
            self.catalogue()?,
            self.wording(),
        ))
    }
}
