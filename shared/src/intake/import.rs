//! Picks a file's kind and runs the shared pipeline (`pipeline.rs`) with that kind's rules
//! (`kinds/children.rs`, `kinds/population_register.rs`, …): the one module that knows
//! every kind, so the pipeline and the kinds need not know each other.

use crate::intake::Kind;
use crate::intake::kinds::certifications::CertificationsKind;
use crate::intake::kinds::children::ChildrenKind;
use crate::intake::kinds::organisations::OrganisationsKind;
use crate::intake::kinds::population_register::PopulationRegisterKind;
use crate::intake::kinds::specialists::SpecialistsKind;
use crate::intake::kinds::support_episodes::SupportEpisodesKind;
use crate::intake::pipeline::IntakeService;
use crate::intake::summary::{ImportOutcome, ImportRequest, IntakeError};
use crate::ports::{BlobReader, RecordStore};
use std::future::Future;

impl<R: RecordStore> IntakeService<R> {
    /// Imports one input; `open` opens a fresh read of it (called once per pass).
    pub async fn import<F, Fut>(
        &self,
        request: &ImportRequest,
        open: F,
    ) -> Result<ImportOutcome, IntakeError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<BlobReader, IntakeError>>,
    {
        match request.kind {
            Kind::Children => self.import_kind(ChildrenKind, request, open).await,
            Kind::PopulationRegister => {
                if self.ctx.audit.is_none() {
                    return Err(IntakeError::NoAuditTrail(
                        "population-register imports record every change in the audit trail, and none is configured".into(),
                    ));
                }
                self.import_kind(PopulationRegisterKind, request, open)
                    .await
            }
            Kind::Organisations => self.import_kind(OrganisationsKind, request, open).await,
            Kind::Specialists => self.import_kind(SpecialistsKind, request, open).await,
            Kind::Certifications => self.import_kind(CertificationsKind, request, open).await,
            Kind::SupportEpisodes => {
                if self.ctx.audit.is_none() {
                    return Err(IntakeError::NoAuditTrail(
                        "support-episodes imports record every episode in the child's audit trail, and none is configured".into(),
                    ));
                }
                self.import_kind(SupportEpisodesKind, request, open).await
            }
        }
    }
}
