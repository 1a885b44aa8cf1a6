//! Registering and reading children (the first slice; the full registry is the intake issue).

use crate::domain::child::{ChildStatus, Sex, check_new_child};
use crate::domain::{Atvk, Child, ChildId, FieldError, KeyedHasher, PersonalCode, Principal, Role};
use crate::ports::{Clock, IdGenerator, Record, RecordStore, StoreError, WriteOp};
use crate::services::audit::{AuditAction, AuditEntity, AuditEvent, AuditOutcome, AuditTrail};
use crate::services::idempotency::{self, Committed, IdempotencyRequest};
use crate::services::{PERSON_READERS, Reply, ServiceError, keys, require_role};
use chrono::NaiveDate;
use serde::Deserialize;
use std::sync::Arc;

/// Roles that may register children.
pub const REGISTRARS: &[Role] = &[
    Role::RegistryAdministrator,
    Role::HealthSpecialist,
    Role::EducationSpecialist,
    Role::MunicipalitySocialService,
    Role::PartnerSystem,
];

/// Body of `POST /children`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChildInput {
    /// Personal code (either format, hyphen optional); absent for children without one.
    #[serde(default)]
    pub personal_code: Option<String>,
    /// Given name(s).
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Birth date, `YYYY-MM-DD`.
    pub birth_date: NaiveDate,
    /// `female` or `male`.
    pub sex: Sex,
    /// Completed weeks of gestation at birth.
    #[serde(default)]
    pub gestational_age_weeks: Option<u8>,
    /// Declared address territory (7-digit ATVK).
    #[serde(default)]
    pub atvk: Option<String>,
}

/// The children use cases.
pub struct ChildrenService<R> {
    records: R,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    code_index: KeyedHasher,
    audit: AuditTrail<R>,
}

/// Domain label of the keyed hash that indexes personal codes.
pub const CODE_INDEX_DOMAIN: &str = "ravis/personal-code-index/v1";

impl<R: RecordStore> ChildrenService<R> {
    /// Builds the service.
    pub fn new(
        records: R,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        identity_key: &[u8],
        audit: AuditTrail<R>,
    ) -> Self {
        Self {
            records,
            clock,
            ids,
            code_index: KeyedHasher::new(identity_key, CODE_INDEX_DOMAIN),
            audit,
        }
    }

    /// The audit trail every access of this service is recorded in.
    pub fn audit(&self) -> &AuditTrail<R> {
        &self.audit
    }

    /// The record store (shared with other services of the same host).
    pub fn records(&self) -> &R {
        &self.records
    }

    /// Registers a child; a personal code can be registered only once. The registration
    /// (or its replay) is recorded in the child's audit trail.
    pub async fn register(
        &self,
        principal: &Principal,
        request_id: &str,
        input: NewChildInput,
        idempotency: Option<IdempotencyRequest>,
    ) -> Result<Reply, ServiceError> {
        let reply = self
            .register_unaudited(principal, input, idempotency)
            .await?;
        let child: ChildId = serde_json::from_value(reply.body["id"].clone())
            .map_err(|e| StoreError::Invalid(format!("registration reply without id: {e}")))?;
        let outcome = if reply.replayed {
            AuditOutcome::Replayed
        } else {
            AuditOutcome::Success
        };
        let event =
            AuditEvent::all(child, AuditEntity::Child, AuditAction::Create).with_outcome(outcome);
        self.audit.record(principal, request_id, event).await?;
        Ok(reply)
    }

    async fn register_unaudited(
        &self,
        principal: &Principal,
        input: NewChildInput,
        idempotency: Option<IdempotencyRequest>,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REGISTRARS, "register children")?;
        if let Some(reply) = idempotency::replay(&self.records, idempotency.as_ref()).await? {
            return Ok(reply);
        }
        let now = self.clock.now();
        let mut errors = Vec::new();
        let code = match input.personal_code.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => match PersonalCode::parse(raw) {
                Ok(c) => Some(c),
                Err(e) => {
                    errors.push(FieldError::new("personal_code", e.to_string()));
                    None
                }
            },
        };
        let atvk = match input.atvk.as_deref() {
            None => None,
            Some(raw) => match Atvk::parse(raw) {
                Ok(a) => Some(a),
                Err(e) => {
                    errors.push(FieldError::new("atvk", e.to_string()));
                    None
                }
            },
        };
        errors.extend(
            check_new_child(
                code.as_ref(),
                &input.given_name,
                &input.family_name,
                input.birth_date,
                input.gestational_age_weeks,
                now.date_naive(),
            )
            .into_iter()
            .map(|v| FieldError::new(v.field, v.reason)),
        );
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let child = Child {
            id: ChildId::from_uuid(self.ids.new_id()),
            personal_code: code.clone(),
            given_name: input.given_name.trim().to_owned(),
            family_name: input.family_name.trim().to_owned(),
            birth_date: input.birth_date,
            sex: input.sex,
            gestational_age_weeks: input.gestational_age_weeks,
            atvk,
            status: ChildStatus::Active,
            created_at: now,
            registered_by_org: principal.organisation.clone(),
        };
        let data = serde_json::to_value(&child).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut writes = vec![WriteOp::PutNew(Record::new(
            keys::child(child.id),
            data.clone(),
        ))];
        let code_hash = code.as_ref().map(|c| self.code_index.hash(c.as_str()));
        if let Some(hash) = &code_hash {
            writes.push(WriteOp::PutNew(Record::new(
                keys::personal_code(hash),
                serde_json::json!({"child_id": child.id}),
            )));
        }
        let reply = Reply {
            status: 201,
            location: Some(format!("/children/{}", child.id)),
            etag: Some(etag(1)),
            body: view(&data, 1),
            replayed: false,
        };
        match idempotency::commit(
            &self.records,
            writes,
            idempotency.as_ref(),
            reply,
            now.timestamp(),
        )
        .await
        {
            Ok(Committed::Applied(r) | Committed::Replayed(r)) => Ok(r),
            Err(ServiceError::Store(StoreError::TransactionCancelled { index: 1 }))
                if code_hash.is_some() =>
            {
                let existing = match &code_hash {
                    Some(h) => self
                        .records
                        .get(&keys::personal_code(h))
                        .await?
                        .and_then(|r| {
                            r.data
                                .get("child_id")
                                .and_then(|v| v.as_str())
                                .map(str::to_owned)
                        }),
                    None => None,
                };
                Err(ServiceError::Conflict {
                    slug: "child-already-registered",
                    detail: "a child with this personal code is already registered".into(),
                    existing_id: existing,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Reads a child; the read (or the refusal) is recorded in the child's audit trail
    /// before anything is returned.
    pub async fn get(
        &self,
        principal: &Principal,
        request_id: &str,
        id: ChildId,
    ) -> Result<Reply, ServiceError> {
        let event = AuditEvent::all(id, AuditEntity::Child, AuditAction::Read);
        self.audit
            .require_role(
                principal,
                request_id,
                PERSON_READERS,
                "read a child's record",
                Some(event.clone()),
            )
            .await?;
        let record = self
            .records
            .get(&keys::child(id))
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no child with id {id}")))?;
        let mut reply = Reply::ok(view(&record.data, record.version));
        reply.etag = Some(etag(record.version));
        self.audit.record(principal, request_id, event).await?;
        Ok(reply)
    }

    /// Loads a child as a domain value (for other use cases).
    pub async fn load(&self, id: ChildId) -> Result<Option<Child>, ServiceError> {
        load_child(&self.records, id).await
    }
}

/// Loads a child from any record store.
pub async fn load_child<R: RecordStore>(
    records: &R,
    id: ChildId,
) -> Result<Option<Child>, ServiceError> {
    let Some(record) = records.get(&keys::child(id)).await? else {
        return Ok(None);
    };
    serde_json::from_value(record.data).map(Some).map_err(|e| {
        StoreError::Corrupt {
            pk: record.key.pk,
            sk: record.key.sk,
            reason: e.to_string(),
        }
        .into()
    })
}

fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

fn view(data: &serde_json::Value, version: u64) -> serde_json::Value {
    let mut v = data.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("version".into(), version.into());
    }
    v
}
