//! The health target: one FHIR R4B transaction Bundle per job (a result, or every current
//! result of a child after a merge or a new personal code), signed in `X-Provenance`
//! (`crate::fhir`), handed to the e-health port.

use super::results::{ExportedResult, current_child, results_of};
use super::step::Step;
use crate::domain::export::ExportJob;
use crate::domain::registry::Organisation;
use crate::fhir::{
    ExportAnswer, ExportRecommendation, ExportScore, ExportStatus, FhirSettings, ProvenanceAgent,
    ProvenanceTarget, ResultExport, bundle_targets, result_bundle, result_bundle_json,
    result_bundle_targets,
};
use crate::ports::signer::JwsSigner;
use crate::ports::{Clock, HealthReceiver, HealthSubmission, ReceiverAnswer, RecordStore};
use crate::services::fhir_signing::signed_x_provenance;
use crate::services::{ServiceError, catalogue};
use crate::store::codec::from_data;
use crate::store::keys;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Builds, signs and delivers the Bundles of jobs.
pub struct HealthExporter<R, H, S> {
    records: R,
    clock: Arc<dyn Clock>,
    receiver: H,
    signer: S,
    settings: Arc<FhirSettings>,
    agent: ProvenanceAgent,
}

impl<R: RecordStore, H: HealthReceiver, S: JwsSigner> HealthExporter<R, H, S> {
    /// The exporter to `receiver`, signing with `signer`.
    pub fn new(
        records: R,
        clock: Arc<dyn Clock>,
        receiver: H,
        signer: S,
        settings: Arc<FhirSettings>,
    ) -> Self {
        Self {
            records,
            clock,
            receiver,
            signer,
            settings,
            agent: ProvenanceAgent {
                organisation_id: "ravis".into(),
                organisation_name: "RAVIS".into(),
            },
        }
    }

    /// Polls a job the receiver is working on.
    pub async fn poll(&self, remote: &str) -> ReceiverAnswer {
        self.receiver.poll(remote).await
    }

    /// Sends the job's Bundle (or says why there is nothing to send).
    pub async fn deliver(&self, job: &ExportJob) -> Result<Step, ServiceError> {
        let (bytes, targets) = match self.bundle(job).await? {
            Ok(built) => built,
            Err(reason) => return Ok(Step::Skip(reason)),
        };
        let header = match signed_x_provenance(
            &self.signer,
            &bytes,
            &targets,
            self.clock.now(),
            &self.agent,
            &self.settings,
        )
        .await
        {
            Ok(header) => header,
            // The key service is down or throttling: like a receiver's passing failure.
            Err(e) => {
                return Ok(Step::Answer(ReceiverAnswer::Retry {
                    status: None,
                    after: None,
                    reason: format!("signing the X-Provenance: {e}"),
                }));
            }
        };
        let submission = HealthSubmission {
            export_id: job.id.to_string(),
            bundle: bytes,
            provenance: header,
        };
        Ok(Step::Answer(self.receiver.submit(&submission).await))
    }

    /// The transaction Bundle of a job as the bytes to send (and sign) with the Provenance
    /// targets of its entries, or why there is none. One result is one Bundle exactly as
    /// `fhir::result_bundle_json` writes it; the results of a child (after a merge or a new
    /// personal code) go in one transaction, their entries in screening order.
    pub async fn bundle(
        &self,
        job: &ExportJob,
    ) -> Result<Result<(Vec<u8>, Vec<ProvenanceTarget>), String>, ServiceError> {
        let Some(child) = current_child(&self.records, job.child_id).await? else {
            return Ok(Err("the child's record no longer exists".into()));
        };
        let Some(code) = &child.personal_code else {
            return Ok(Err(
                "the child has no personal code, by which the e-health system identifies patients"
                    .into(),
            ));
        };
        let results = results_of(&self.records, job, &child).await?;
        let mut exports = Vec::with_capacity(results.len());
        for result in &results {
            exports.push(
                self.export_of(code.as_str(), &child.id.to_string(), result)
                    .await?,
            );
        }
        match exports.as_slice() {
            [] => Ok(Err("the child has no stored result to send".into())),
            [one] => Ok(Ok((
                result_bundle_json(one, &self.settings),
                result_bundle_targets(one, &self.settings),
            ))),
            many => {
                let mut entries = Vec::new();
                for export in many {
                    let bundle = result_bundle(export, &self.settings);
                    if let Some(list) = bundle["entry"].as_array() {
                        entries.extend(list.iter().cloned());
                    }
                }
                let bundle = json!({
                    "resourceType": "Bundle",
                    "type": "transaction",
                    "entry": entries,
                });
                let bytes =
                    serde_json::to_vec(&bundle).map_err(crate::ports::StoreError::Encode)?;
                Ok(Ok((bytes, bundle_targets(&bundle))))
            }
        }
    }

    async fn export_of(
        &self,
        personal_code: &str,
        child_id: &str,
        result: &ExportedResult,
    ) -> Result<ResultExport, ServiceError> {
        let r = &result.stored.result;
        let submission = &result.submission;
        let organisation_id = submission["submitted_by"]["organisation"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let organisation_name = match self
            .records
            .get(&keys::organisation(&organisation_id))
            .await?
        {
            Some(record) => from_data::<Organisation>(&record)?.name,
            None => organisation_id.clone(),
        };
        let mut recommendations = Vec::with_capacity(r.recommendations.len());
        for rec in &r.recommendations {
            let catalogue_name = match &rec.programme {
                Some(id) => catalogue::entry(&self.records, id)
                    .await?
                    .map(|(e, _)| e.name),
                None => None,
            };
            recommendations.push(ExportRecommendation {
                kind: rec.kind,
                catalogue_id: rec.programme.clone(),
                catalogue_name,
                due_on: rec.due_on,
            });
        }
        let answers: BTreeMap<String, Value> =
            serde_json::from_value(submission["answers"].clone()).unwrap_or_default();
        let administered_on = submission["administered_on"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .unwrap_or_else(|| self.clock.now().date_naive());
        let scored_at = submission["scored_at"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .unwrap_or_else(|| self.clock.now());
        Ok(ResultExport {
            personal_code: personal_code.to_owned(),
            child_id: child_id.to_owned(),
            screening_id: result.stored.screening_id.to_string(),
            result_id: result.stored.result_id.to_string(),
            instrument: r.instrument.clone(),
            instrument_version: r.instrument_version.clone(),
            administered_on,
            scored_at,
            organisation_id,
            organisation_name,
            specialist_id: None,
            status: if result.amended {
                ExportStatus::Amended
            } else {
                ExportStatus::Final
            },
            scores: ExportScore::from_result(r),
            risk_level: r.risk_level,
            flags: r.flags.clone(),
            recommendations,
            answers: ExportAnswer::from_submission(&answers),
        })
    }
}
