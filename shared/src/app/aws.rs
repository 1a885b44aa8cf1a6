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
        if let Some(bucket) = &settings.audit_archive_bucket {
            // Every audit entry is also copied to the write-once archive (S3 Object Lock).
            app = app.with_archive(Arc::new(AuditArchive::new(S3BlobStore::new(
                clients.s3.clone(),
                bucket,
            ))));
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

    /// `children-api`: children, audit views and the registry.
    pub fn children_routes(&self) -> Result<super::ChildrenRoutes<DynamoRecordStore>, AppError> {
        Ok(self.audited()?.children_routes())
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
        self.audited()?.screenings_routes(queue)
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
