//! Registry use cases besides children (issue #4): organisations, specialists with their
//! certifications, and support episodes. Generic pieces (versions, list queries, cursors)
//! are in [`listing`]; each aggregate has its file: [`organisations`], [`specialists`]
//! (with certifications), [`episodes`] and [`representatives`].
//!
//! Access (the policy is written out in `tests/tests/access_matrix.rs`):
//! - organisations and specialists hold no child's data: every role reads them; registry
//!   administrators and partner systems write them; they are not in any child's audit trail;
//! - support episodes are a child's personal data: readers are
//!   [`PERSON_READERS`](crate::services::PERSON_READERS), the child must be visible to the
//!   caller ([`access::visible_child`]), every read and write is recorded in the child's
//!   audit trail, and education staff (and programme providers for episodes of other
//!   providers) see the minimised view [`EPISODE_SUMMARY_FIELDS`].

pub mod episodes;
pub mod listing;
pub mod organisations;
pub mod representatives;
pub mod specialists;

pub use episodes::*;
pub use listing::*;
pub use organisations::*;
pub use representatives::*;
pub use specialists::*;

use crate::domain::catalogue_entry::EntryKind;
use crate::domain::{ChildId, FieldError, KeyedHasher, Principal, Role};
use crate::ports::{Clock, IdGenerator, RecordStore};
use crate::services::audit::{AuditEvent, AuditTrail};
use crate::services::{ServiceError, access, catalogue};
use chrono::NaiveDate;
use std::sync::Arc;

/// Roles that may create and change organisations and specialists.
pub const REGISTRY_WRITERS: &[Role] = &[Role::RegistryAdministrator, Role::PartnerSystem];
/// Roles that may read organisations and specialists: every role (staff directory data).
pub const REGISTRY_READERS: &[Role] = &Role::ALL;

/// A validated input, or every violation in the order the API reports them: `before` (rules
/// that read the store and come first), the input's own rules (`valid`), then `after`.
fn checked<T>(
    before: Vec<FieldError>,
    valid: Result<T, Vec<FieldError>>,
    after: Vec<FieldError>,
) -> Result<T, ServiceError> {
    let mut errors = before;
    let valid = valid.map_err(|mut own| errors.append(&mut own)).ok();
    errors.extend(after);
    match valid {
        Some(valid) if errors.is_empty() => Ok(valid),
        _ => Err(ServiceError::Validation(errors)),
    }
}

/// The registry use cases.
pub struct RegistryService<R> {
    records: R,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    audit: AuditTrail<R>,
    code_index: KeyedHasher,
    worklist: Option<crate::services::worklist::Worklist<R>>,
}

impl<R: RecordStore> RegistryService<R> {
    /// Builds the service.
    pub fn new(
        records: R,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        audit: AuditTrail<R>,
        identity_key: &[u8],
    ) -> Self {
        Self {
            records,
            clock,
            ids,
            audit,
            code_index: KeyedHasher::new(identity_key, REPRESENTATIVE_CODE_DOMAIN),
            worklist: None,
        }
    }

    /// Keeps worklists in step with support episodes (`services/worklist/`).
    pub fn with_worklist(mut self, worklist: crate::services::worklist::Worklist<R>) -> Self {
        self.worklist = Some(worklist);
        self
    }

    /// The worklist pending marker to write with a change of `child`'s episodes, and its event id.
    fn work_marker(&self, child: ChildId) -> Option<(crate::ports::WriteOp, String)> {
        self.worklist.as_ref().map(|w| {
            let event = self.ids.new_id().to_string();
            (w.pending_marker(child, &event), event)
        })
    }

    /// After the commit of a change that wrote `marker`: reconcile the child's worklist.
    async fn settle_work(&self, child: ChildId, marker: Option<String>) {
        if let (Some(w), Some(event)) = (&self.worklist, marker) {
            w.settle(child, &event).await;
        }
    }

    /// How the caller may see `child` now (care link, break-the-glass grant or role within
    /// its territory), or `None` if it may not — the one check of [`access::visible_child`].
    async fn sees(
        &self,
        principal: &Principal,
        child: ChildId,
    ) -> Result<Option<access::Access>, ServiceError> {
        access::child_access(&self.records, principal, child, self.clock.now()).await
    }

    /// Records `event` in its child's audit trail; an access made under a break-the-glass
    /// grant carries the grant's reason, like the children use cases' entries. Only a
    /// care-scoped caller (a specialist) can hold a grant, so only for one is the basis of
    /// access looked up again here; every other caller's entry is written straight away.
    async fn record(
        &self,
        principal: &Principal,
        request_id: &str,
        event: AuditEvent,
    ) -> Result<crate::services::audit::AuditEntry, ServiceError> {
        let reason = if access::care_scoped(principal) {
            self.sees(principal, event.child)
                .await?
                .and_then(|access| access.break_glass_reason())
        } else {
            None
        };
        self.audit
            .record(principal, request_id, event.with_break_glass_reason(reason))
            .await
    }

    /// One read entry per child of a list page, in one batched append
    /// ([`AuditTrail::record_many`]); each carries the caller's break-the-glass reason for
    /// that child, as [`Self::record`] does.
    async fn record_reads(
        &self,
        principal: &Principal,
        request_id: &str,
        children: Vec<ChildId>,
        entity: crate::services::audit::AuditEntity,
    ) -> Result<(), ServiceError> {
        let mut events = Vec::with_capacity(children.len());
        for child in children {
            let event = AuditEvent::all(child, entity, crate::services::audit::AuditAction::Read);
            let reason = if access::care_scoped(principal) {
                self.sees(principal, child)
                    .await?
                    .and_then(|access| access.break_glass_reason())
            } else {
                None
            };
            events.push(event.with_break_glass_reason(reason));
        }
        self.audit.record_many(principal, request_id, events).await
    }

    /// The kind of the active catalogue entry `id` (instruments are seeded from the scoring
    /// definitions, programmes, therapies and services from the shipped catalogue), or `None`
    /// for an unknown or retired id — the one lookup of `services::catalogue::active_entry`.
    async fn catalogue_kind(&self, id: &str) -> Result<Option<EntryKind>, ServiceError> {
        Ok(catalogue::active_entry(&self.records, id)
            .await?
            .map(|e| e.kind))
    }

    /// Whether `id` is an active screening instrument of the catalogue.
    async fn is_instrument(&self, id: &str) -> Result<bool, ServiceError> {
        Ok(self.catalogue_kind(id).await? == Some(EntryKind::Instrument))
    }

    /// Whether `id` is an active programme, therapy or service of the catalogue.
    async fn is_programme(&self, id: &str) -> Result<bool, ServiceError> {
        Ok(self
            .catalogue_kind(id)
            .await?
            .is_some_and(|k| k != EntryKind::Instrument))
    }

    fn today(&self) -> NaiveDate {
        self.clock.now().date_naive()
    }

    // ------------------------------------------------------------------ organisations
}
