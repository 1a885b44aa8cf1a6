//! Legal representatives of children: names, optional personal code under its own keyed
//! hash, contacts and the children they represent (visible children only, audited).

use super::{RegistryService, checked};
use crate::domain::registry::{Representative, RepresentedChild};
pub use crate::domain::registry_input::{
    NewRepresentativeInput, RepresentativeUpdateInput, ValidNewRepresentative, ValidRepresentative,
};
use crate::domain::{ChildId, FieldError, Principal, RepresentativeId, Role};
use crate::ports::{Record, RecordStore, StoreError, WriteOp};
use crate::services::audit::{AuditAction, AuditEntity, AuditEvent, AuditOutcome};
use crate::services::idempotency::{self, Committed, IdempotencyRequest};
use crate::services::registry::listing::{
    ListQuery, Listing, Pager, check_version, concurrent, decode, encode, reencoded,
    versioned_reply, view,
};
use crate::services::{PERSON_READERS, Reply, ServiceError, require_role, stored};
use crate::store::codec::corrupt;
use crate::store::keys;
use serde_json::{Value, json};

pub use crate::store::identity::REPRESENTATIVE_CODE_DOMAIN;

/// Roles that may register and change legal representatives (those that register children).
pub const REPRESENTATIVE_WRITERS: &[Role] = crate::services::children::REGISTRARS;
/// Roles that see a representative's personal code; other person-reading roles do not.
pub const REPRESENTATIVE_FULL_VIEW: &[Role] = &[
    Role::HealthSpecialist,
    Role::MunicipalitySocialService,
    Role::RegistryAdministrator,
    Role::PartnerSystem,
];

impl<R: RecordStore> RegistryService<R> {
    /// The violations of a representative's children: each is listed once and visible to
    /// the caller (reported after those of [`RepresentativeUpdateInput::validate`]).
    async fn check_children(
        &self,
        principal: &Principal,
        children: &[RepresentedChild],
    ) -> Result<Vec<FieldError>, ServiceError> {
        let mut errors = Vec::new();
        for (i, link) in children.iter().enumerate() {
            if children[..i].iter().any(|l| l.child_id == link.child_id) {
                errors.push(FieldError::new(
                    format!("children[{i}].child_id"),
                    "is listed twice",
                ));
            } else if self.sees(principal, link.child_id).await?.is_none() {
                errors.push(FieldError::new(
                    format!("children[{i}].child_id"),
                    "is not a registered child you may see",
                ));
            }
        }
        Ok(errors)
    }

    /// A representative as this caller may see it: only the links to children it may see,
    /// and the personal code only for [`REPRESENTATIVE_FULL_VIEW`] roles.
    fn representative_view(
        principal: &Principal,
        rep: &Representative,
        visible: &[ChildId],
        version: u64,
    ) -> Result<Value, ServiceError> {
        let mut data = view(&encode(rep)?, version);
        if let Some(obj) = data.as_object_mut() {
            let links: Vec<&RepresentedChild> = rep
                .children
                .iter()
                .filter(|l| visible.contains(&l.child_id))
                .collect();
            obj.insert("children".into(), encode(&links)?);
            if !principal.has_any(REPRESENTATIVE_FULL_VIEW) {
                obj.remove("personal_code");
            }
        }
        Ok(data)
    }

    async fn visible_children(
        &self,
        principal: &Principal,
        rep: &Representative,
    ) -> Result<Vec<ChildId>, ServiceError> {
        let mut out = Vec::new();
        for link in &rep.children {
            if self.sees(principal, link.child_id).await?.is_some() {
                out.push(link.child_id);
            }
        }
        Ok(out)
    }

    async fn audit_children(
        &self,
        principal: &Principal,
        request_id: &str,
        children: &[ChildId],
        action: AuditAction,
        rep: RepresentativeId,
        outcome: AuditOutcome,
    ) -> Result<(), ServiceError> {
        for child in children {
            self.record(
                principal,
                request_id,
                AuditEvent::all(*child, AuditEntity::LegalRepresentative, action)
                    .of(rep)
                    .with_outcome(outcome),
            )
            .await?;
        }
        Ok(())
    }

    /// Registers a legal representative linked to one or more visible children; a personal
    /// code can be registered once. Audited in each linked child's trail.
    pub async fn create_representative(
        &self,
        principal: &Principal,
        request_id: &str,
        input: NewRepresentativeInput,
        idempotency: Option<IdempotencyRequest>,
    ) -> Result<Reply, ServiceError> {
        require_role(
            principal,
            REPRESENTATIVE_WRITERS,
            "register legal representatives",
        )?;
        if let Some(reply) = idempotency::replay(&self.records, idempotency.as_ref()).await? {
            let rep: Representative = serde_json::from_value(reply.body.clone())
                .map_err(|e| StoreError::Invalid(format!("stored reply: {e}")))?;
            let children: Vec<ChildId> = rep.children.iter().map(|l| l.child_id).collect();
            self.audit_children(
                principal,
                request_id,
                &children,
                AuditAction::Create,
                rep.id,
                AuditOutcome::Replayed,
            )
            .await?;
            return Ok(reply);
        }
        let children = self.check_children(principal, &input.children).await?;
        let input = checked(Vec::new(), input.validate(), children)?;
        let rep = Representative::new(
            RepresentativeId::from_uuid(self.ids.new_id()),
            input,
            self.clock.now(),
        );
        let mut writes = vec![WriteOp::PutNew(Record::new(
            keys::representative(rep.id),
            encode(&rep)?,
        ))];
        let code_hash = rep
            .personal_code
            .as_ref()
            .map(|c| self.code_index.hash(c.as_str()));
        if let Some(hash) = &code_hash {
            writes.push(WriteOp::PutNew(Record::new(
                keys::representative_code(hash),
                json!({"representative_id": rep.id}),
            )));
        }
        for link in &rep.children {
            writes.push(WriteOp::PutNew(
                Record::new(
                    keys::representative_link(rep.id, link.child_id),
                    json!({"representative_id": rep.id, "child_id": link.child_id}),
                )
                .with_index(
                    keys::child_index(link.child_id),
                    keys::child_representative_index(rep.id),
                ),
            ));
        }
        // The stored reply is the full record (a replay re-derives the audited children
        // from it); the caller's own view is returned below.
        let mut stored = versioned_reply(201, &encode(&rep)?, 1);
        stored.location = Some(format!("/representatives/{}", rep.id));
        let children: Vec<ChildId> = rep.children.iter().map(|l| l.child_id).collect();
        match idempotency::commit(
            &self.records,
            writes,
            idempotency.as_ref(),
            stored,
            self.clock.now().timestamp(),
        )
        .await
        {
            Ok(Committed::Applied(_)) => {}
            Ok(Committed::Replayed(r)) => return Ok(r),
            Err(ServiceError::Store(StoreError::TransactionCancelled { index: 1 }))
                if code_hash.is_some() =>
            {
                let existing = match &code_hash {
                    Some(h) => self
                        .records
                        .get(&keys::representative_code(h))
                        .await?
                        .and_then(|r| {
                            r.data
                                .get("representative_id")
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                        }),
                    None => None,
                };
                return Err(ServiceError::Conflict {
                    slug: "representative-already-registered",
                    detail: "a representative with this personal code is already registered; link the child to it with PUT".into(),
                    existing_id: existing,
                });
            }
            Err(e) => return Err(e),
        }
        self.audit_children(
            principal,
            request_id,
            &children,
            AuditAction::Create,
            rep.id,
            AuditOutcome::Success,
        )
        .await?;
        let mut reply = versioned_reply(201, &Value::Null, 1);
        reply.body = Self::representative_view(principal, &rep, &children, 1)?;
        reply.location = Some(format!("/representatives/{}", rep.id));
        Ok(reply)
    }

    async fn representative_record(
        &self,
        principal: &Principal,
        id: RepresentativeId,
    ) -> Result<(Record, Representative, Vec<ChildId>), ServiceError> {
        let not_found = || ServiceError::NotFound(format!("no legal representative with id {id}"));
        let record = stored(&self.records, &keys::representative(id), not_found).await?;
        let rep: Representative = decode(&record)?;
        let visible = self.visible_children(principal, &rep).await?;
        // A representative of no child the caller may see looks exactly like a missing one.
        if visible.is_empty() {
            return Err(not_found());
        }
        Ok((record, rep, visible))
    }

    /// Reads a representative; audited in each visible linked child's trail.
    pub async fn get_representative(
        &self,
        principal: &Principal,
        request_id: &str,
        id: RepresentativeId,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, PERSON_READERS, "read legal representatives")?;
        let (record, rep, visible) = self.representative_record(principal, id).await?;
        let mut reply = versioned_reply(200, &Value::Null, record.version);
        reply.body = Self::representative_view(principal, &rep, &visible, record.version)?;
        self.audit_children(
            principal,
            request_id,
            &visible,
            AuditAction::Read,
            id,
            AuditOutcome::Success,
        )
        .await?;
        Ok(reply)
    }

    /// Replaces a representative's names, contact and links at version `expected`. Links to
    /// children the caller may not see are kept as they are; the personal code is fixed.
    pub async fn update_representative(
        &self,
        principal: &Principal,
        request_id: &str,
        id: RepresentativeId,
        expected: u64,
        input: RepresentativeUpdateInput,
    ) -> Result<Reply, ServiceError> {
        require_role(
            principal,
            REPRESENTATIVE_WRITERS,
            "change legal representatives",
        )?;
        let (record, mut rep, visible) = self.representative_record(principal, id).await?;
        check_version("legal representative", record.version, expected)?;
        let children = self.check_children(principal, &input.children).await?;
        let input = checked(Vec::new(), input.validate(), children)?;
        let kept: Vec<RepresentedChild> = rep
            .children
            .iter()
            .filter(|l| !visible.contains(&l.child_id))
            .copied()
            .collect();
        let before = rep.apply(input, kept);
        let mut writes = Vec::new();
        for old in &before {
            if !rep.children.iter().any(|l| l.child_id == old.child_id) {
                let key = keys::representative_link(id, old.child_id);
                if let Some(link) = self.records.get(&key).await? {
                    writes.push(WriteOp::Delete {
                        key,
                        expected: link.version,
                    });
                }
            }
        }
        for new in &rep.children {
            if !before.iter().any(|l| l.child_id == new.child_id) {
                writes.push(WriteOp::PutNew(
                    Record::new(
                        keys::representative_link(id, new.child_id),
                        json!({"representative_id": id, "child_id": new.child_id}),
                    )
                    .with_index(
                        keys::child_index(new.child_id),
                        keys::child_representative_index(id),
                    ),
                ));
            }
        }
        writes.insert(
            0,
            WriteOp::PutVersioned {
                record: reencoded(record, &rep)?,
                expected,
            },
        );
        self.records
            .transact(writes)
            .await
            .map_err(|e| concurrent("legal representative", e))?;
        let version = expected + 1;
        let now_visible = self.visible_children(principal, &rep).await?;
        let mut audited = visible.clone();
        audited.extend(now_visible.iter().filter(|c| !visible.contains(c)));
        self.audit_children(
            principal,
            request_id,
            &audited,
            AuditAction::Update,
            id,
            AuditOutcome::Success,
        )
        .await?;
        let mut reply = versioned_reply(200, &Value::Null, version);
        reply.body = Self::representative_view(principal, &rep, &now_visible, version)?;
        Ok(reply)
    }

    /// A child's legal representatives (`GET /children/{id}/representatives`), from the
    /// child's index partition, paged; one read entry in the child's trail.
    pub async fn child_representatives(
        &self,
        principal: &Principal,
        request_id: &str,
        child: ChildId,
        query: &[(String, String)],
    ) -> Result<Reply, ServiceError> {
        require_role(principal, PERSON_READERS, "read legal representatives")?;
        let q = ListQuery::parse(query, &[])?;
        if self.sees(principal, child).await?.is_none() {
            return Err(ServiceError::NotFound(format!("no child with id {child}")));
        }
        let listing = Listing {
            pk: keys::child_index(child),
            prefix: keys::REPRESENTATIVE_PREFIX.into(),
            index: true,
        };
        let mut pager = Pager::new(&self.records, listing, &q)?;
        let mut items = Vec::new();
        while let Some(batch) = pager.next_batch(q.limit - items.len()).await? {
            for link in &batch {
                let rep_id: RepresentativeId =
                    serde_json::from_value(link.data["representative_id"].clone())
                        .map_err(|e| corrupt(link, &e.to_string()))?;
                let Some(record) = self.records.get(&keys::representative(rep_id)).await? else {
                    continue;
                };
                let rep: Representative = decode(&record)?;
                let visible = self.visible_children(principal, &rep).await?;
                items.push(Self::representative_view(
                    principal,
                    &rep,
                    &visible,
                    record.version,
                )?);
            }
        }
        self.record(
            principal,
            request_id,
            AuditEvent::all(child, AuditEntity::LegalRepresentative, AuditAction::Read),
        )
        .await?;
        Ok(pager.finish(items))
    }
}
