//! Specialists and their certifications (for an instrument or a programme), checked
//! against the registered organisations, the scoring definitions and the catalogue.

use super::{REGISTRY_READERS, REGISTRY_WRITERS, RegistryService, checked};
use crate::domain::catalogue_entry::EntryKind;
use crate::domain::registry::{
    Certification, OrganisationId, Specialist, parse_profession, parse_status,
};
pub use crate::domain::registry_input::{
    NewCertificationInput, NewSpecialistInput, SpecialistUpdateInput, ValidCertification,
    ValidSpecialist, check_certification_shape, check_specialist_fields,
};
use crate::domain::{FieldError, Principal, SpecialistId};
use crate::ports::{Record, RecordStore, StoreError};
use crate::services::registry::listing::{
    ListQuery, Listing, check_version, concurrent, decode, encode, list_page, reencoded,
    versioned_reply, view,
};
use crate::services::{Reply, ServiceError, catalogue, require_role};
use crate::store::keys;
use serde_json::{Value, json};

/// Reports every code of `codes` that is not a registered organisation as `field[i]`.
pub async fn check_organisations_exist<R: RecordStore>(
    records: &R,
    field: &str,
    codes: &[String],
    errors: &mut Vec<FieldError>,
) -> Result<(), ServiceError> {
    for (i, code) in codes.iter().enumerate() {
        let known = match OrganisationId::parse(code) {
            Ok(code) => records
                .get(&keys::organisation(code.as_str()))
                .await?
                .is_some(),
            Err(_) => false,
        };
        if !known {
            errors.push(FieldError::new(
                format!("{field}[{i}]"),
                format!(
                    "'{}' is not a registered organisation",
                    code.chars().take(64).collect::<String>()
                ),
            ));
        }
    }
    Ok(())
}

/// Every rule of a certification: the rule of the catalogue
/// ([`check_certification_subject`]), then [`check_certification_shape`].
pub async fn check_certification<R: RecordStore>(
    records: &R,
    input: &NewCertificationInput,
) -> Result<Vec<FieldError>, ServiceError> {
    let mut errors = check_certification_subject(records, input).await?;
    errors.extend(check_certification_shape(input));
    Ok(errors)
}

/// The rule of a certification that reads the store: the instrument is an active screening
/// instrument, or the programme an active programme, therapy or service, of the stored
/// catalogue (`services::catalogue::active_entry`).
pub async fn check_certification_subject<R: RecordStore>(
    records: &R,
    input: &NewCertificationInput,
) -> Result<Vec<FieldError>, ServiceError> {
    let mut errors = Vec::new();
    let kind = |id: &str| {
        let id = id.to_owned();
        async move {
            Ok::<_, ServiceError>(catalogue::active_entry(records, &id).await?.map(|e| e.kind))
        }
    };
    match (
        input.instrument.as_deref().map(str::trim),
        input.programme.as_deref().map(str::trim),
    ) {
        (Some(i), None) if kind(i).await? != Some(EntryKind::Instrument) => {
            errors.push(FieldError::new(
                "instrument",
                format!(
                    "'{}' is not a screening instrument of the scoring definitions",
                    i.chars().take(64).collect::<String>()
                ),
            ))
        }
        (None, Some(p)) if !kind(p).await?.is_some_and(|k| k != EntryKind::Instrument) => errors
            .push(FieldError::new(
                "programme",
                format!(
                    "'{}' is not a programme of the catalogue",
                    p.chars().take(64).collect::<String>()
                ),
            )),
        _ => {}
    }
    Ok(errors)
}

impl<R: RecordStore> RegistryService<R> {
    /// [`NewSpecialistInput::validate`], then every organisation is registered.
    async fn check_specialist_input(
        &self,
        input: NewSpecialistInput,
    ) -> Result<ValidSpecialist, ServiceError> {
        let mut unknown = Vec::new();
        let codes = input.organisation_codes();
        check_organisations_exist(&self.records, "organisations", &codes, &mut unknown).await?;
        checked(Vec::new(), input.validate(), unknown)
    }

    /// A specialist as the API shows it: each certification with `valid` (today).
    fn specialist_view(
        &self,
        specialist: &Specialist,
        version: u64,
    ) -> Result<Value, ServiceError> {
        let today = self.today();
        let mut data = encode(specialist)?;
        if let Some(certs) = data.get_mut("certifications").and_then(Value::as_array_mut) {
            for (c, stored) in certs.iter_mut().zip(&specialist.certifications) {
                if let Some(obj) = c.as_object_mut() {
                    obj.insert("valid".into(), stored.is_valid_on(today).into());
                }
            }
        }
        Ok(view(&data, version))
    }

    fn specialist_reply(
        &self,
        status: u16,
        specialist: &Specialist,
        version: u64,
    ) -> Result<Reply, ServiceError> {
        let mut reply = versioned_reply(status, &Value::Null, version);
        reply.body = self.specialist_view(specialist, version)?;
        Ok(reply)
    }

    /// Registers a specialist; every organisation must be registered.
    pub async fn create_specialist(
        &self,
        principal: &Principal,
        input: NewSpecialistInput,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_WRITERS, "register specialists")?;
        let input = self.check_specialist_input(input).await?;
        let specialist = Specialist::new(
            SpecialistId::from_uuid(self.ids.new_id()),
            input,
            self.clock.now(),
        );
        self.records
            .put_new(Record::new(
                keys::specialist(specialist.id),
                encode(&specialist)?,
            ))
            .await?;
        let mut reply = self.specialist_reply(201, &specialist, 1)?;
        reply.location = Some(format!("/specialists/{}", specialist.id));
        Ok(reply)
    }

    async fn specialist_record(
        &self,
        id: SpecialistId,
    ) -> Result<(Record, Specialist), ServiceError> {
        let record = self
            .records
            .get(&keys::specialist(id))
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no specialist with id {id}")))?;
        let specialist = decode(&record)?;
        Ok((record, specialist))
    }

    /// Loads a specialist (for other use cases, e.g. with [`Specialist::is_certified`]).
    pub async fn load_specialist(
        &self,
        id: SpecialistId,
    ) -> Result<Option<Specialist>, ServiceError> {
        match self.specialist_record(id).await {
            Ok((_, s)) => Ok(Some(s)),
            Err(ServiceError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads a specialist with every certification (expired ones marked `valid: false`).
    pub async fn get_specialist(
        &self,
        principal: &Principal,
        id: SpecialistId,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_READERS, "read specialists")?;
        let (record, specialist) = self.specialist_record(id).await?;
        self.specialist_reply(200, &specialist, record.version)
    }

    /// Replaces a specialist's changeable fields at version `expected`; the certifications
    /// are kept.
    pub async fn update_specialist(
        &self,
        principal: &Principal,
        id: SpecialistId,
        expected: u64,
        input: SpecialistUpdateInput,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_WRITERS, "change specialists")?;
        let (record, mut specialist) = self.specialist_record(id).await?;
        check_version("specialist", record.version, expected)?;
        specialist.apply(self.check_specialist_input(input).await?);
        let version = self
            .records
            .put_versioned(reencoded(record, &specialist)?, expected)
            .await
            .map_err(|e| concurrent("specialist", e))?;
        self.specialist_reply(200, &specialist, version)
    }

    /// Adds a certification (no `If-Match`: adding commutes with other changes; a lost race
    /// re-reads and retries).
    pub async fn add_certification(
        &self,
        principal: &Principal,
        id: SpecialistId,
        input: NewCertificationInput,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_WRITERS, "certify specialists")?;
        let subject = check_certification_subject(&self.records, &input).await?;
        let input = checked(subject, input.validate(), Vec::new())?;
        let certification =
            Certification::new(self.ids.new_id().to_string(), input, self.clock.now());
        for _ in 0..8 {
            let (record, mut specialist) = self.specialist_record(id).await?;
            specialist.certifications.push(certification.clone());
            let expected = record.version;
            match self
                .records
                .put_versioned(reencoded(record, &specialist)?, expected)
                .await
            {
                Ok(version) => {
                    let mut reply = self.specialist_reply(201, &specialist, version)?;
                    reply.location = Some(format!("/specialists/{id}/certifications"));
                    return Ok(reply);
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::PreconditionFailed(
            "the specialist is being changed by others; retry".into(),
        ))
    }

    /// A specialist's certifications, expired ones included with `valid: false`.
    pub async fn list_certifications(
        &self,
        principal: &Principal,
        id: SpecialistId,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_READERS, "read specialists")?;
        let (record, specialist) = self.specialist_record(id).await?;
        let body = self.specialist_view(&specialist, record.version)?;
        let mut reply = Reply::ok(json!({"items": body["certifications"], "next": null}));
        reply.etag = Some(crate::services::registry::etag(record.version));
        Ok(reply)
    }

    /// Lists specialists in registration order; filters `organisation`, `profession`,
    /// `certified_for` (an instrument or programme id: only certifications valid today
    /// count) and `status`.
    pub async fn list_specialists(
        &self,
        principal: &Principal,
        query: &[(String, String)],
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRY_READERS, "list specialists")?;
        let q = ListQuery::parse(
            query,
            &["organisation", "profession", "certified_for", "status"],
        )?;
        let organisation = q.filter("organisation").map(str::to_owned);
        let profession = q.parsed("profession", parse_profession)?;
        let certified_for = q.filter("certified_for").map(str::to_owned);
        if let Some(c) = &certified_for
            && !self.is_instrument(c).await?
            && !self.is_programme(c).await?
        {
            return Err(ServiceError::invalid(
                "certified_for",
                "is neither an instrument nor a programme id",
            ));
        }
        let status = q.parsed("status", parse_status)?;
        let today = self.today();
        let listing = Listing {
            pk: keys::SPECIALISTS.into(),
            prefix: keys::SPECIALIST_PREFIX.into(),
            index: false,
        };
        list_page(&self.records, listing, &q, |record| {
            let s: Specialist = decode(record)?;
            let keep = organisation
                .as_ref()
                .is_none_or(|o| s.organisations.contains(o))
                && profession.is_none_or(|p| s.profession == p)
                && certified_for
                    .as_ref()
                    .is_none_or(|c| s.is_certified(c, today))
                && status.is_none_or(|st| s.status == st);
            keep.then(|| self.specialist_view(&s, record.version))
                .transpose()
        })
        .await
    }

    // ------------------------------------------------------------------ support episodes
}
