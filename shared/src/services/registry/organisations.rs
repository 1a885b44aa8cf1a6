//! Organisations: health and education institutions, programme providers and partner
//! systems, keyed by their code (the `ravis:org` of staff tokens). No child's data.

use super::{REGISTRY_READERS, REGISTRY_WRITERS, RegistryService};
use crate::domain::registry::{Organisation, OrganisationId, parse_status};
pub use crate::domain::registry_input::{
    NewOrganisationInput, OrganisationUpdateInput, ValidNewOrganisation, ValidOrganisationUpdate,
    check_organisation_fields, parse_kind,
};
use crate::domain::{Atvk, Principal};
use crate::ports::{Record, RecordStore, StoreError};
use crate::services::registry::listing::{
    ListQuery, Listing, check_version, concurrent, decode, encode, list_page, versioned_reply, view,
};
use crate::services::{Reply, ServiceError, require_role};
use crate::store::keys;

impl<R: RecordStore> RegistryService<R> {
    /// Registers an organisation under its code; a code can be registered once.
    pub async fn create_organisation(
        &self,
        principal: &Principal,
        input: NewOrganisationInput,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_WRITERS, "register organisations")?;
        let input = input.validate().map_err(ServiceError::Validation)?;
        let org = Organisation::new(input, self.clock.now());
        let data = encode(&org)?;
        match self
            .records
            .put_new(Record::new(keys::organisation(&org.id), data.clone()))
            .await
        {
            Ok(()) => {}
            Err(StoreError::AlreadyExists { .. }) => {
                return Err(ServiceError::Conflict {
                    slug: "organisation-exists",
                    detail: format!(
                        "an organisation with code '{}' is already registered",
                        org.id
                    ),
                    existing_id: Some(org.id),
                });
            }
            Err(e) => return Err(e.into()),
        }
        let mut reply = versioned_reply(201, &data, 1);
        reply.location = Some(format!("/organisations/{}", org.id));
        Ok(reply)
    }

    async fn organisation_record(&self, id: &str) -> Result<Option<Record>, ServiceError> {
        let Ok(id) = OrganisationId::parse(id) else {
            return Ok(None);
        };
        Ok(self.records.get(&keys::organisation(id.as_str())).await?)
    }

    /// Loads an organisation (for other use cases).
    pub async fn load_organisation(&self, id: &str) -> Result<Option<Organisation>, ServiceError> {
        self.organisation_record(id)
            .await?
            .map(|r| decode(&r))
            .transpose()
    }

    /// Reads an organisation.
    pub async fn get_organisation(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_READERS, "read organisations")?;
        let record = self.organisation_record(id).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "no organisation with code '{}'",
                id.chars().take(64).collect::<String>()
            ))
        })?;
        Ok(versioned_reply(200, &record.data, record.version))
    }

    /// Replaces the changeable fields of an organisation at version `expected`.
    pub async fn update_organisation(
        &self,
        principal: &Principal,
        id: &str,
        expected: u64,
        input: OrganisationUpdateInput,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_WRITERS, "change organisations")?;
        let record = self.organisation_record(id).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "no organisation with code '{}'",
                id.chars().take(64).collect::<String>()
            ))
        })?;
        check_version("organisation", record.version, expected)?;
        let mut org: Organisation = decode(&record)?;
        org.apply(input.validate().map_err(ServiceError::Validation)?);
        let data = encode(&org)?;
        let version = self
            .records
            .put_versioned(
                Record {
                    data: data.clone(),
                    ..record
                },
                expected,
            )
            .await
            .map_err(|e| concurrent("organisation", e))?;
        Ok(versioned_reply(200, &data, version))
    }

    /// Lists organisations in code order; filters `kind`, `atvk` (the subtree of a
    /// territory) and `status`.
    pub async fn list_organisations(
        &self,
        principal: &Principal,
        query: &[(String, String)],
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_READERS, "list organisations")?;
        let q = ListQuery::parse(query, &["kind", "atvk", "status"])?;
        let kind = q.parsed("kind", parse_kind)?;
        let atvk = q.parsed("atvk", Atvk::parse)?;
        let status = q.parsed("status", parse_status)?;
        let listing = Listing {
            pk: keys::ORGANISATIONS.into(),
            prefix: keys::ORGANISATION_PREFIX.into(),
            index: false,
        };
        list_page(&self.records, listing, &q, |record| {
            let org: Organisation = decode(record)?;
            let keep = kind.is_none_or(|k| org.kind == k)
                && atvk.as_ref().is_none_or(|a| org.atvk.is_within(a))
                && status.is_none_or(|s| org.status == s);
            Ok(keep.then(|| view(&record.data, record.version)))
        })
        .await
    }

    // ------------------------------------------------------------------ specialists
}
