//! The graph of a Lambda function on AWS, from its settings.

use super::{App, AppError};
use crate::adapters::aws::{AwsClients, DynamoRecordStore, S3BlobStore, SqsQueue};
use crate::config::Settings;
use crate::inbound::auth::Authenticator;
use crate::inbound::intake_worker::IntakeWorker;
use crate::inbound::screenings_api::ScreeningsApi;
use crate::services::audit_archive::AuditArchive;
use crate::services::scoring_worker::ScoringWorker;
use std::sync::Arc;

/// The graph of a Lambda function on AWS, built from its settings.
pub struct AwsApp {
    /// The function's settings.
    pub settings: Settings,
    /// The AWS clients, built once.
    pub clients: AwsClients,
    /// The use cases over DynamoDB; audited with the archive when its bucket is configured.
    pub app: App<DynamoRecordStore>,
}

impl AwsApp {
    /// Connects the clients (endpoint override from the settings) and builds the graph.
    pub async fn connect(settings: Settings) -> Result<Self, AppError> {
        let clients = AwsClients::for_endpoint(settings.aws_endpoint_url.as_deref()).await;
        let records = DynamoRecordStore::new(clients.dynamodb.clone(), &settings.table_name);
        let mut app = App::new(
            records,
            &settings.identity_hmac_key,
            &settings.pseudonym_key,
        )?
        .with_retention_days(settings.audit_retention_days)
        .with_break_glass_minutes(settings.break_glass_minutes)
        .with_care_settings(settings.referral_grace_days, settings.review_months);
        if let Some(url) = &settings.export_queue_url {
            // Changes that record export jobs (scoring, merge, retry) queue them after their
            // commit; without the queue they wait for the exports sweep.
            app = app.with_export_queue(SqsQueue::new(
                clients.sqs.clone(),
                url,
                settings.export_dlq_url.clone(),
            ));
        }
        if let Some(bucket) = &settings.audit_archive_bucket {
            // Every audit entry is also copied to the write-once archive (S3 Object Lock), by
            // the audit-archiver function's drain: a request appends with one conditional
            // write of the table, its entry pending in the index until the drain copies it.
            app = app
                .with_archive(Arc::new(AuditArchive::new(S3BlobStore::new(
                    clients.s3.clone(),
                    bucket,
                ))))
                .with_deferred_archive();
        }
        Ok(Self {
            settings,
            clients,
            app,
        })
    }

    /// The bearer-token check of the HTTP functions.
    pub fn authenticator(&self) -> Result<Authenticator, AppError> {
        Ok(Authenticator::new(&self.settings.auth)?)
    }

    /// The graph of a function that writes audit entries: the archive is required.
    fn audited(&self) -> Result<&App<DynamoRecordStore>, AppError> {
        self.settings.require_audit_archive_bucket()?;
        Ok(&self.app)
    }

    /// `children-api`: children, audit views, the registry, referrals, exports' operator
    /// views, reports (requests go to the report queue; files come from the reports
    /// bucket) and intake jobs (row reports from the partner bucket's `results/`).
    pub fn children_routes(
        &self,
    ) -> Result<super::ChildrenRoutes<DynamoRecordStore, SqsQueue, S3BlobStore>, AppError> {
        let (queue_url, _, bucket) = self.settings.require_reports()?;
        let queue = SqsQueue::new(self.clients.sqs.clone(), queue_url, None);
        let files = S3BlobStore::new(self.clients.s3.clone(), bucket);
        let partner = S3BlobStore::new(
            self.clients.s3.clone(),
            self.settings.require_partner_bucket()?,
        );
        Ok(self.audited()?.children_routes(queue, files, partner))
    }

    /// `screenings-api`: screenings, risk profiles and the catalogue.
    pub fn screenings_routes(
        &self,
    ) -> Result<ScreeningsApi<DynamoRecordStore, SqsQueue>, AppError> {
        let queue = SqsQueue::new(
            self.clients.sqs.clone(),
            self.settings.require_scoring_queue()?,
            None,
        );
        let mut app = self.audited()?.clone();
        if let Some(bucket) = &self.settings.wording_bucket {
            app = app.with_wording_packs(std::sync::Arc::new(
                crate::adapters::wording::BucketWordingPacks::new(S3BlobStore::new(
                    self.clients.s3.clone(),
                    bucket,
                )),
            ));
        }
        app.screenings_routes(queue)
    }

    /// `scoring-worker`, and the scoring queue it consumes (poison messages go to its DLQ).
    pub fn scoring_worker(&self) -> Result<(ScoringWorker<DynamoRecordStore>, SqsQueue), AppError> {
        let queue = SqsQueue::new(
            self.clients.sqs.clone(),
            self.settings.require_scoring_queue()?,
            Some(self.settings.require_scoring_dlq()?.to_owned()),
        );
        Ok((self.app.scoring_worker(), queue))
    }

    /// `audit-archiver`: the scheduled drain of the pending audit entries into the archive.
    pub fn audit_archiver(
        &self,
    ) -> Result<crate::services::audit::AuditTrail<DynamoRecordStore>, AppError> {
        Ok(self.audited()?.audit())
    }

    /// `worklist-sweep`: the scheduled sweep of the worklists (`services/worklist/`).
    pub fn worklist_sweep(&self) -> crate::services::worklist::Worklist<DynamoRecordStore> {
        self.app.worklist()
    }

    /// `intake-worker`: imports from the partner bucket, writes the results back to it;
    /// and the intake queue it consumes (poison messages go to its DLQ).
    pub fn intake_worker(
        &self,
    ) -> Result<(IntakeWorker<DynamoRecordStore, S3BlobStore>, SqsQueue), AppError> {
        let bucket = self.settings.require_partner_bucket()?.to_owned();
        let (queue_url, dlq_url) = self.settings.require_intake_queues()?;
        let intake = self.audited()?.intake();
        let worker = IntakeWorker::new(
            intake,
            S3BlobStore::new(self.clients.s3.clone(), &bucket),
            bucket,
        );
        let queue = SqsQueue::new(
            self.clients.sqs.clone(),
            queue_url,
            Some(dlq_url.to_owned()),
        );
        Ok((worker, queue))
    }
}

/// Where the exports worker sends the health Bundles in AWS: the exchange bucket's
/// `outbox/health/` (no `RAVIS_FHIR_URL`), or the e-health system's FHIR API.
#[cfg(feature = "exchange-http")]
pub type AwsHealth = crate::adapters::delivery::Delivery<
    crate::adapters::outbox::BlobOutbox<S3BlobStore>,
    crate::adapters::fhir_http::FhirHttpReceiver,
>;

/// Where the exports worker sends the VIIS batches in AWS: the exchange bucket's
/// `outbox/viis/` (no `RAVIS_VIIS_URL`), or VIIS's interface on the VISS platform.
#[cfg(feature = "exchange-http")]
pub type AwsEducation = crate::adapters::delivery::Delivery<
    crate::adapters::outbox::BlobOutbox<S3BlobStore>,
    crate::adapters::viis_http::ViisHttpReceiver,
>;

/// The `exports-worker` function's worker.
#[cfg(feature = "exchange-http")]
pub type AwsExportsWorker = crate::services::exports::worker::ExportsWorker<
    DynamoRecordStore,
    AwsHealth,
    AwsEducation,
    crate::adapters::aws::KmsSigner,
>;

/// How long one request to the FHIR API or VIIS may take (the function's timeout is 60 s).
#[cfg(feature = "exchange-http")]
const EXCHANGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The HTTP adapter's client credentials from the settings.
#[cfg(feature = "exchange-http")]
fn credentials(
    settings: Option<&crate::config::ClientSettings>,
) -> Option<crate::adapters::http_client::ClientCredentials> {
    settings.map(|c| crate::adapters::http_client::ClientCredentials {
        token_url: c.token_url.clone(),
        client_id: c.client_id.clone(),
        client_secret: c.client_secret.clone(),
        scope: c.scope.clone(),
    })
}

/// A bad receiver URL or token URL, named by its variable.
#[cfg(feature = "exchange-http")]
fn bad_url(
    url_var: &'static str,
    token_var: &'static str,
) -> impl FnOnce(crate::adapters::http_client::ClientSetupError) -> crate::config::ConfigError {
    use crate::adapters::http_client::ClientSetupError;
    move |e| crate::config::ConfigError::Invalid {
        name: match e {
            ClientSetupError::TokenUrl(_) => token_var,
            _ => url_var,
        },
        reason: e.to_string(),
    }
}

#[cfg(feature = "exchange-http")]
impl AwsApp {
    /// `exports-worker`: the worker (health Bundles to the FHIR API, or to the exchange
    /// bucket's `outbox/health/` without `RAVIS_FHIR_URL`; VIIS batches to VIIS, or to
    /// `outbox/viis/` without `RAVIS_VIIS_URL`;
    /// signed with the KMS key), and the export queue it consumes (poison messages and jobs
    /// whose attempts ran out go to its DLQ). No request at cold start: the signing key's
    /// public key is read from KMS by the first export that signs (`KmsSigner::new`); a
    /// missing or unusable key makes those exports retry with the key named in their reason.
    pub async fn exports_worker(&self) -> Result<(AwsExportsWorker, SqsQueue), AppError> {
        use crate::adapters::delivery::Delivery;
        use crate::adapters::fhir_http::FhirHttpReceiver;
        use crate::adapters::outbox::BlobOutbox;
        use crate::adapters::viis_http::ViisHttpReceiver;
        let (queue_url, dlq_url, bucket, key) = self.settings.require_exports()?;
        let outbox =
            || BlobOutbox::new(S3BlobStore::new(self.clients.s3.clone(), bucket), "outbox/");
        let health = match &self.settings.fhir_url {
            None => Delivery::Outbox(outbox()),
            Some(url) => Delivery::Http(
                FhirHttpReceiver::new(
                    url,
                    EXCHANGE_TIMEOUT,
                    credentials(self.settings.fhir_client.as_ref()),
                )
                .map_err(bad_url("RAVIS_FHIR_URL", "RAVIS_FHIR_TOKEN_URL"))?,
            ),
        };
        let education = match &self.settings.viis_url {
            None => Delivery::Outbox(outbox()),
            Some(url) => Delivery::Http(
                ViisHttpReceiver::new(
                    url,
                    EXCHANGE_TIMEOUT,
                    credentials(self.settings.viis_client.as_ref()),
                )
                .map_err(bad_url("RAVIS_VIIS_URL", "RAVIS_VIIS_TOKEN_URL"))?,
            ),
        };
        let signer = crate::adapters::aws::KmsSigner::new(self.clients.kms.clone(), key);
        let worker = self.app.exports_worker(
            health,
            education,
            signer,
            std::sync::Arc::new(self.settings.fhir.clone()),
        )?;
        let queue = SqsQueue::new(
            self.clients.sqs.clone(),
            queue_url,
            Some(dlq_url.to_owned()),
        );
        Ok((worker, queue))
    }

    /// The exports sweep's records and the queue it puts due jobs on.
    pub fn exports_sweep(&self) -> Result<(DynamoRecordStore, SqsQueue), AppError> {
        let (queue_url, dlq_url, _, _) = self.settings.require_exports()?;
        Ok((
            self.app.records.clone(),
            SqsQueue::new(
                self.clients.sqs.clone(),
                queue_url,
                Some(dlq_url.to_owned()),
            ),
        ))
    }
}

/// The `reports` function's worker.
#[cfg(feature = "lake")]
pub type AwsReportWorker =
    crate::services::reports::worker::ReportWorker<DynamoRecordStore, S3BlobStore>;

/// The `reports` function's schedule: the lake writer (analytics bucket) and the report use
/// cases that queue the open-data reports (report queue, reports bucket).
#[cfg(feature = "lake")]
pub type AwsReportSchedule = (
    crate::services::lake::LakeWriter<DynamoRecordStore, S3BlobStore>,
    crate::services::reports::Reports<DynamoRecordStore, SqsQueue, S3BlobStore>,
);

/// How old the lake may be before a report rewrites it first: the monthly schedule rewrites
/// it, so a report asked for within a day of a rewrite reads it as it is.
#[cfg(feature = "lake")]
const LAKE_MAX_AGE_HOURS: i64 = 24;

/// How long one request to the open-data portal may take (an upload of a period's CSV).
#[cfg(all(feature = "lake", feature = "exchange-http"))]
const CKAN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

#[cfg(feature = "lake")]
impl AwsApp {
    /// The report queue (poison messages go to its DLQ).
    fn report_queue(&self) -> Result<SqsQueue, AppError> {
        let (queue_url, dlq_url, _) = self.settings.require_reports()?;
        Ok(SqsQueue::new(
            self.clients.sqs.clone(),
            queue_url,
            Some(dlq_url.to_owned()),
        ))
    }

    /// `reports`: the worker (reads, and when older than a day rewrites, the lake in the
    /// analytics bucket; writes reports to the reports bucket and open-data releases to the
    /// open-data bucket), and the report queue it consumes (malformed messages go to its
    /// DLQ). With `RAVIS_CKAN_URL`, each release is then pushed to that CKAN portal
    /// (data.gov.lv). Fails naming the first missing variable of `RAVIS_REPORT_QUEUE_URL`,
    /// `RAVIS_REPORT_DLQ_URL`, `RAVIS_REPORTS_BUCKET`, `RAVIS_ANALYTICS_BUCKET`,
    /// `RAVIS_OPEN_DATA_BUCKET`, or a bad CKAN setting.
    pub fn report_worker(&self) -> Result<(AwsReportWorker, SqsQueue), AppError> {
        let (_, _, reports_bucket) = self.settings.require_reports()?;
        let (analytics_bucket, open_data_bucket) = self.settings.require_report_buckets()?;
        let r = &self.settings.reports;
        let settings = crate::services::reports::worker::WorkerSettings {
            threshold: u64::from(r.threshold),
            open_data_base_url: r.open_data_base_url.clone(),
            publisher: r.publisher.clone(),
            contact_email: r.contact_email.clone(),
            lake_max_age: chrono::Duration::hours(LAKE_MAX_AGE_HOURS),
        };
        let bucket = |name: &str| S3BlobStore::new(self.clients.s3.clone(), name);
        let worker = self.app.report_worker(
            bucket(analytics_bucket),
            bucket(reports_bucket),
            bucket(open_data_bucket),
            settings,
        );
        let worker = match &r.ckan {
            None => worker,
            #[cfg(feature = "exchange-http")]
            Some(ckan) => {
                worker.with_portal(std::sync::Arc::new(super::ckan_portal(ckan, CKAN_TIMEOUT)?))
            }
            #[cfg(not(feature = "exchange-http"))]
            Some(_) => {
                return Err(crate::config::ConfigError::Invalid {
                    name: "RAVIS_CKAN_URL",
                    reason: "this build has no HTTP client (feature exchange-http)".into(),
                }
                .into());
            }
        };
        Ok((worker, self.report_queue()?))
    }

    /// The `reports` function's monthly schedule: the lake writer over the analytics bucket,
    /// and the report use cases whose `schedule()` queues the open-data reports of the
    /// periods that ended.
    pub fn report_schedule(&self) -> Result<AwsReportSchedule, AppError> {
        let (_, _, reports_bucket) = self.settings.require_reports()?;
        let (analytics_bucket, _) = self.settings.require_report_buckets()?;
        let writer = self
            .app
            .lake_writer(S3BlobStore::new(self.clients.s3.clone(), analytics_bucket));
        let reports = self.app.reports(
            self.report_queue()?,
            S3BlobStore::new(self.clients.s3.clone(), reports_bucket),
        );
        Ok((writer, reports))
    }
}
