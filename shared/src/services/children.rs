//! Registering and reading children (the first slice; the full registry is the intake issue).

use crate::domain::child::{ChildStatus, check_new_child};
use crate::domain::field_error::optional;
pub use crate::domain::new_child::{
    ChildUpdateInput, NewChildInput, NewChildRef, SearchInput, ValidNewChild, check_new_child_ref,
    validate_new_child, validate_new_child_ref,
};
use crate::domain::{Atvk, Child, ChildId, FieldError, KeyedHasher, PersonalCode, Principal, Role};
use crate::ports::{Clock, IdGenerator, Record, RecordStore, StoreError, WriteOp};
use crate::services::access::{Access, access_to};
use crate::services::audit::{AuditAction, AuditEntity, AuditEvent, AuditOutcome, AuditTrail};
use crate::services::break_glass::{self, BreakGlassInput};
use crate::services::care::{self, CareBasis};
use crate::services::idempotency::{self, Committed, IdempotencyRequest};
use crate::services::{PERSON_READERS, Reply, ServiceError, minimisation, require_role, stored};
use crate::store::codec::{corrupt, from_data};
pub use crate::store::identity::{
    CODE_INDEX_DOMAIN, NAME_INDEX_DOMAIN, name_index_entry, name_index_key,
};
use crate::store::identity::{name_index_join, name_index_leave};
use crate::store::keys;
pub use crate::store::lookups::load_child;
use std::sync::Arc;

/// Roles that may register children.
pub const REGISTRARS: &[Role] = &[
    Role::RegistryAdministrator,
    Role::HealthSpecialist,
    Role::EducationSpecialist,
    Role::MunicipalitySocialService,
    Role::PartnerSystem,
];

/// The children use cases.
pub struct ChildrenService<R> {
    records: R,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    code_index: KeyedHasher,
    name_index: KeyedHasher,
    audit: AuditTrail<R>,
    break_glass_ttl: chrono::Duration,
    outbox: Option<crate::services::exports::Outbox>,
}

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
            name_index: KeyedHasher::new(identity_key, NAME_INDEX_DOMAIN),
            audit,
            break_glass_ttl: chrono::Duration::minutes(i64::from(break_glass::DEFAULT_TTL_MINUTES)),
            outbox: None,
        }
    }

    /// Records export jobs with merges and un-merges (the receivers learn whose results
    /// they are now; `services/exports/`).
    pub fn with_outbox(mut self, outbox: crate::services::exports::Outbox) -> Self {
        self.outbox = Some(outbox);
        self
    }

    /// The outbox, if exports are recorded.
    pub(crate) fn outbox(&self) -> Option<&crate::services::exports::Outbox> {
        self.outbox.as_ref()
    }

    /// The same service with break-the-glass grants lasting `minutes` (at least 1).
    pub fn with_break_glass_minutes(mut self, minutes: u32) -> Self {
        self.break_glass_ttl = chrono::Duration::minutes(i64::from(minutes.max(1)));
        self
    }

    /// `POST /children/{id}/break-the-glass`: a time-limited grant for a specialist without
    /// a care link (rules in `services/break_glass.rs`).
    pub async fn break_glass(
        &self,
        principal: &Principal,
        request_id: &str,
        id: ChildId,
        input: BreakGlassInput,
    ) -> Result<Reply, ServiceError> {
        break_glass::grant(
            &self.records,
            &self.audit,
            principal,
            request_id,
            id,
            input,
            self.ids.new_id().to_string(),
            self.clock.now(),
            self.break_glass_ttl,
        )
        .await
    }

    /// The current time of this service's clock.
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The keyed hash of a personal code (its `PCODE#` index entry).
    pub(crate) fn code_hash(&self, code: &str) -> String {
        self.code_index.hash(code)
    }

    /// The audit trail every access of this service is recorded in.
    pub fn audit(&self) -> &AuditTrail<R> {
        &self.audit
    }

    /// The record store (shared with other services of the same host).
    pub fn records(&self) -> &R {
        &self.records
    }

    /// Registers a child; a personal code can be registered only once. The registering
    /// organisation gets a care link (`registered`, also on a replay, so a retry repairs a
    /// link lost in between). The registration (or its replay) is recorded in the child's
    /// audit trail; the answer is minimised for the caller's role.
    pub async fn register(
        &self,
        principal: &Principal,
        request_id: &str,
        input: NewChildInput,
        idempotency: Option<IdempotencyRequest>,
    ) -> Result<Reply, ServiceError> {
        let mut reply = self
            .register_unaudited(principal, input, idempotency)
            .await?;
        let child: ChildId = serde_json::from_value(reply.body["id"].clone())
            .map_err(|e| StoreError::Invalid(format!("registration reply without id: {e}")))?;
        care::record_link(
            &self.records,
            child,
            &principal.organisation,
            CareBasis::Registered,
            self.clock.now(),
        )
        .await?;
        reply.body = minimisation::child(principal, reply.body);
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
        let valid =
            validate_new_child(input, now.date_naive()).map_err(ServiceError::Validation)?;
        // A territory-scoped caller registers only children it will be able to see.
        if let Some(scope) = &principal.territory {
            match &valid.atvk {
                Some(a) if a.is_within(scope) => {}
                Some(_) => {
                    return Err(ServiceError::invalid(
                        "atvk",
                        format!("is outside your territory scope {scope}"),
                    ));
                }
                None => {
                    return Err(ServiceError::invalid(
                        "atvk",
                        format!("is required for a caller scoped to territory {scope}"),
                    ));
                }
            }
        }
        let code = valid.personal_code.clone();
        let child = Child {
            id: ChildId::from_uuid(self.ids.new_id()),
            personal_code: valid.personal_code,
            given_name: valid.given_name,
            family_name: valid.family_name,
            birth_date: valid.birth_date,
            sex: valid.sex,
            gestational_age_weeks: valid.gestational_age_weeks,
            atvk: valid.atvk,
            status: ChildStatus::Active,
            created_at: now,
            registered_by_org: principal.organisation.clone(),
        };
        let mut data = serde_json::to_value(&child).map_err(StoreError::Encode)?;
        let code_hash = code.as_ref().map(|c| self.code_index.hash(c.as_str()));
        // Every child joins the index of its names and birth date; one without a code is
        // flagged as a possible duplicate of the children already there (from the API or
        // from files, with or without a code).
        let name_write = self
            .name_index_write(&child, &mut data, code_hash.is_none())
            .await?;
        let mut record = Record::new(keys::child(child.id), data.clone());
        if data.get("possible_duplicate_of").is_some() {
            record = record.with_index(keys::DUPLICATE_FLAGS, keys::duplicate_flag_index(child.id));
        }
        let mut writes = vec![WriteOp::PutNew(record)];
        if let Some(hash) = &code_hash {
            writes.push(WriteOp::PutNew(Record::new(
                keys::personal_code(hash),
                serde_json::json!({"child_id": child.id}),
            )));
        }
        writes.push(name_write);
        writes.push(crate::store::register::new_entry(&child));
        let reply = Reply {
            status: 201,
            location: Some(format!("/children/{}", child.id)),
            etag: Some(etag(1)),
            body: view(&data, 1),
            replayed: false,
            file: None,
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
                                .and_then(|v| v.parse::<ChildId>().ok())
                        }),
                    None => None,
                };
                // The existing child's id only to a caller who may see that child: a
                // specialist without a care link learns that the code is taken (uniqueness
                // cannot be hidden) but not which child has it.
                let existing = match existing {
                    Some(id) => match load_child(&self.records, id).await? {
                        Some(child)
                            if access_to(&self.records, principal, &child, now)
                                .await?
                                .is_some() =>
                        {
                            Some(id.to_string())
                        }
                        _ => None,
                    },
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

    /// The key of the child's `CHILDNAME#` index entry (by its current names and birth date).
    pub(crate) fn name_index_record_key(&self, child: &Child) -> crate::ports::Key {
        name_index_entry(
            &self.name_index,
            &child.given_name,
            &child.family_name,
            child.birth_date,
        )
    }

    /// The write adding a child to its `CHILDNAME#` index entry; with `flag`, marks the child
    /// `possible_duplicate_of` the children already there.
    async fn name_index_write(
        &self,
        child: &Child,
        data: &mut serde_json::Value,
        flag: bool,
    ) -> Result<WriteOp, ServiceError> {
        let (write, already) =
            name_index_join(&self.records, self.name_index_record_key(child), child.id).await?;
        if flag && !already.is_empty() {
            data["possible_duplicate_of"] = serde_json::json!(already);
        }
        Ok(write)
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
        let (record, _, access) = self.visible_record(principal, id).await?;
        let event = event.with_break_glass_reason(access.break_glass_reason());
        if let Err(merged) = refuse_merged(&record) {
            // The answer names the survivor only: recorded as a read of the merged child.
            self.audit.record(principal, request_id, event).await?;
            return Err(merged);
        }
        let mut reply = Reply::ok(minimisation::child(
            principal,
            view(&record.data, record.version),
        ));
        reply.etag = Some(etag(record.version));
        self.audit.record(principal, request_id, event).await?;
        Ok(reply)
    }

    /// The stored child with its record and the basis of access, if it exists and the
    /// caller may see it (`access::access_to`); "not found" otherwise (the two look the same
    /// to the caller on purpose).
    async fn visible_record(
        &self,
        principal: &Principal,
        id: ChildId,
    ) -> Result<(Record, Child, Access), ServiceError> {
        let not_found = || ServiceError::NotFound(format!("no child with id {id}"));
        let record = stored(&self.records, &keys::child(id), not_found).await?;
        let child: Child = from_data(&record)?;
        match access_to(&self.records, principal, &child, self.clock.now()).await? {
            Some(access) => Ok((record, child, access)),
            None => Err(not_found()),
        }
    }

    /// Replaces the changeable fields of a child whose current version is `expected`.
    pub async fn update(
        &self,
        principal: &Principal,
        request_id: &str,
        id: ChildId,
        expected: u64,
        input: ChildUpdateInput,
    ) -> Result<Reply, ServiceError> {
        let event = AuditEvent::all(id, AuditEntity::Child, AuditAction::Update);
        self.audit
            .require_role(
                principal,
                request_id,
                REGISTRARS,
                "change children",
                Some(event.clone()),
            )
            .await?;
        let (record, mut child, access) = self.visible_record(principal, id).await?;
        let event = event.with_break_glass_reason(access.break_glass_reason());
        refuse_merged(&record)?;
        if record.version != expected {
            return Err(ServiceError::PreconditionFailed(format!(
                "the child is at version {} (you sent If-Match \"{expected}\"); read it again and re-apply your change",
                record.version
            )));
        }
        let mut errors = Vec::new();
        let atvk = optional("atvk", input.atvk.as_deref(), &mut errors, Atvk::parse);
        if let Some(scope) = &principal.territory
            && !atvk.as_ref().is_some_and(|a| a.is_within(scope))
            && !errors.iter().any(|e| e.field == "atvk")
        {
            errors.push(FieldError::new(
                "atvk",
                format!("must stay within your territory scope {scope}"),
            ));
        }
        // A role that may not see the gestational age (a health datum) may not change it
        // either: it keeps the stored value unless a value is sent, which is refused.
        let gestational_age_weeks = if minimisation::child_view(principal).shows_health() {
            input.gestational_age_weeks
        } else {
            if input.gestational_age_weeks.is_some() {
                errors.push(FieldError::new(
                    "gestational_age_weeks",
                    "is a health datum your role may not change; leave it out",
                ));
            }
            child.gestational_age_weeks
        };
        let today = self.clock.now().date_naive();
        errors.extend(
            check_new_child(
                child.personal_code.as_ref(),
                &input.given_name,
                &input.family_name,
                input.birth_date,
                gestational_age_weeks,
                today,
            )
            .into_iter()
            .map(|v| FieldError::new(v.field, v.reason)),
        );
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let old_name_key = self.name_index_record_key(&child);
        let before = child.clone();
        child.given_name = input.given_name.trim().to_owned();
        child.family_name = input.family_name.trim().to_owned();
        child.birth_date = input.birth_date;
        child.sex = input.sex;
        child.gestational_age_weeks = gestational_age_weeks;
        child.atvk = atvk;
        // Keep the fields this struct does not model (identifier history, duplicate flags).
        let mut data = record.data_with(&child)?;
        // New names or birth date move the child to its new names-and-birth-date index entry
        // in the same atomic write, so possible duplicates keep being found by what is current.
        let mut writes = Vec::new();
        if self.name_index_record_key(&child) != old_name_key {
            writes.extend(name_index_leave(&self.records, &old_name_key, id).await?);
            writes.push(self.name_index_write(&child, &mut data, false).await?);
        }
        // A move to another territory moves the child's register entry in the same write.
        writes.extend(crate::store::register::moved(&self.records, &before, &child).await?);
        let version = record.version + 1;
        writes.insert(
            0,
            WriteOp::PutVersioned {
                record: Record {
                    data: data.clone(),
                    ..record
                },
                expected,
            },
        );
        let version = match self.records.transact(writes).await {
            Ok(()) => version,
            Err(StoreError::Conflict { .. } | StoreError::TransactionCancelled { .. }) => {
                return Err(ServiceError::PreconditionFailed(
                    "the child was changed concurrently; read it again and re-apply your change"
                        .into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let mut reply = Reply::ok(minimisation::child(principal, view(&data, version)));
        reply.etag = Some(etag(version));
        self.audit.record(principal, request_id, event).await?;
        Ok(reply)
    }

    /// Finds a child by personal code (either format, hyphen optional) through the keyed-hash
    /// index; an old code that the population register replaced still finds the child (its
    /// index entry keeps pointing at the child). Not found and not visible look the same.
    pub async fn find_by_personal_code(
        &self,
        principal: &Principal,
        request_id: &str,
        input: SearchInput,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, PERSON_READERS, "search children")?;
        let code = PersonalCode::parse(input.personal_code.trim())
            .map_err(|e| ServiceError::invalid("personal_code", e.to_string()))?;
        let not_found = || ServiceError::NotFound("no child with this personal code".into());
        let index = stored(
            &self.records,
            &keys::personal_code(&self.code_index.hash(code.as_str())),
            not_found,
        )
        .await?;
        let id: ChildId = serde_json::from_value(index.data["child_id"].clone())
            .map_err(|e| corrupt(&index, &e.to_string()))?;
        // The read of the found child is audited by `get`, as one entry.
        match self.get(principal, request_id, id).await {
            Err(ServiceError::NotFound(_)) => Err(not_found()),
            other => other,
        }
    }

    /// Loads a child as a domain value (for other use cases).
    pub async fn load(&self, id: ChildId) -> Result<Option<Child>, ServiceError> {
        Ok(load_child(&self.records, id).await?)
    }
}

/// [`ServiceError::Merged`] when the stored child (`record`) was merged into another one.
pub fn refuse_merged(record: &Record) -> Result<(), ServiceError> {
    if record.data.get("status") == Some(&serde_json::json!(ChildStatus::Merged))
        && let Some(into) = crate::store::lookups::merged_into(&record.data)
    {
        return Err(ServiceError::Merged {
            detail: format!("this child was merged into child {into}; use that child"),
            into,
        });
    }
    Ok(())
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
