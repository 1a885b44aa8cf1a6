//! The education target: an allow-listed record ([`ViisRecord`]) per result that recommends
//! an education-relevant support measure, for a child linked to a school or pre-school.
//! Whether both hold is decided when the job is sent, from the data as it is then.

use super::results::{current_child, results_of};
use super::step::Step;
use crate::domain::export::{ExportJob, VIIS_VALID_MONTHS, ViisMeasure, ViisRecord};
use crate::domain::registry::{Organisation, OrganisationKind};
use crate::ports::{Clock, EducationReceiver, RecordStore};
use crate::scoring::RecommendationKind;
use crate::services::ServiceError;
use crate::services::care::links_of;
use crate::services::catalogue;
use crate::store::codec::from_data;
use crate::store::keys;
use crate::store::lookups::merged_ids;
use chrono::{Months, NaiveDate};
use std::sync::Arc;

/// The roles that may issue a support need, most specific first (the submitter's role).
const ISSUER_ROLES: [&str; 3] = [
    "health_specialist",
    "education_specialist",
    "programme_provider",
];

/// Builds and delivers the education records of a job.
pub struct EducationExporter<R, E> {
    records: R,
    clock: Arc<dyn Clock>,
    receiver: E,
}

impl<R: RecordStore, E: EducationReceiver> EducationExporter<R, E> {
    /// The exporter delivering to `receiver`.
    pub fn new(records: R, clock: Arc<dyn Clock>, receiver: E) -> Self {
        Self {
            records,
            clock,
            receiver,
        }
    }

    /// Sends the job's records (or says why there is nothing to send).
    pub async fn deliver(&self, job: &ExportJob) -> Result<Step, ServiceError> {
        match self.records_of(job).await? {
            Err(reason) => Ok(Step::Skip(reason)),
            Ok(records) => Ok(Step::Answer(
                self.receiver.deliver(&job.id.to_string(), &records).await,
            )),
        }
    }

    /// The records a job sends, or why none.
    pub async fn records_of(
        &self,
        job: &ExportJob,
    ) -> Result<Result<Vec<ViisRecord>, String>, ServiceError> {
        let Some(child) = current_child(&self.records, job.child_id).await? else {
            return Ok(Err("the child's record no longer exists".into()));
        };
        let Some(code) = &child.personal_code else {
            return Ok(Err(
                "the child has no personal code, by which VIIS identifies pupils".into(),
            ));
        };
        let mut records = Vec::new();
        for result in results_of(&self.records, job, &child).await? {
            let measures = self.measures(&result.stored.result.recommendations).await?;
            if measures.is_empty() {
                continue;
            }
            let Some(date) = result.submission["administered_on"]
                .as_str()
                .and_then(|d| d.parse::<NaiveDate>().ok())
            else {
                continue;
            };
            let submitted_by = &result.submission["submitted_by"];
            let organisation = submitted_by["organisation"].as_str().unwrap_or_default();
            let issuer_role = submitted_by["roles"]
                .as_array()
                .and_then(|roles| {
                    ISSUER_ROLES
                        .into_iter()
                        .find(|r| roles.iter().any(|x| x.as_str() == Some(r)))
                })
                .unwrap_or("health_specialist");
            records.push(ViisRecord {
                personal_code: code.as_str().to_owned(),
                support_need: true,
                measures,
                date,
                valid_until: date
                    .checked_add_months(Months::new(VIIS_VALID_MONTHS))
                    .unwrap_or(date),
                issuer_organisation: self.issuer(organisation).await?,
                issuer_role: issuer_role.to_owned(),
            });
        }
        if records.is_empty() {
            return Ok(Err(
                "no education-relevant support measure is recommended".into()
            ));
        }
        if !self.at_school(child.id).await? {
            return Ok(Err(
                "the child is not linked to a school or pre-school in RAVIS".into(),
            ));
        }
        Ok(Ok(records))
    }

    /// The education-relevant measures among the recommendations (catalogue entries that
    /// say so; retired ones too — the recommendation was made when it was active).
    async fn measures(
        &self,
        recommendations: &[crate::scoring::Recommendation],
    ) -> Result<Vec<ViisMeasure>, ServiceError> {
        let mut out: Vec<ViisMeasure> = Vec::new();
        for r in recommendations {
            let (RecommendationKind::ReferralProgramme, Some(programme)) = (r.kind, &r.programme)
            else {
                continue;
            };
            let Some((entry, _)) = catalogue::entry(&self.records, programme).await? else {
                continue;
            };
            if entry.education_relevant && !out.iter().any(|m| m.id == entry.id) {
                out.push(ViisMeasure {
                    id: entry.id,
                    name: entry.name,
                });
            }
        }
        Ok(out)
    }

    /// The issuing organisation as VIIS knows it: its registration number, else its code.
    async fn issuer(&self, code: &str) -> Result<String, ServiceError> {
        Ok(match self.records.get(&keys::organisation(code)).await? {
            Some(record) => from_data::<Organisation>(&record)?
                .registration_number
                .unwrap_or_else(|| code.to_owned()),
            None => code.to_owned(),
        })
    }

    /// Whether a school or pre-school cares for the child (or a child merged into it) now.
    async fn at_school(&self, child: crate::domain::ChildId) -> Result<bool, ServiceError> {
        let now = self.clock.now();
        let mut ids = vec![child];
        ids.extend(merged_ids(&self.records, child).await?);
        for id in ids {
            for link in links_of(&self.records, id).await? {
                if !link.counts_at(now) {
                    continue;
                }
                if let Some(record) = self
                    .records
                    .get(&keys::organisation(&link.organisation))
                    .await?
                {
                    let org: Organisation = from_data(&record)?;
                    if matches!(
                        org.kind,
                        OrganisationKind::School | OrganisationKind::Preschool
                    ) {
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }
}
