//! The audit trail (issue #5, item 4): one append-only, hash-chained log per child of every
//! read and write of that child's personal data, and the data protection officer's views
//! of it. Design and guarantees: `docs/SECURITY.md`, "Audit trail".
//!
//! Storage (through the [`RecordStore`] port, so both backends): partition
//! `AUDIT#<child pseudonym>`, one record per entry at `ENTRY#<seq, 20 digits>` and a head
//! record `HEAD` holding the last sequence number and hash. An append writes the new entry
//! (`PutNew`, so a sequence number can be taken once) and moves the head (versioned) in ONE
//! atomic write; two concurrent appends cannot both win, the loser re-reads the head and
//! retries, so the chain never forks.
//!
//! Each entry carries the hash of the previous entry and its own SHA-256 over a canonical
//! serialisation (the JSON of [`EntryBody`], fields in declaration order, no whitespace).
//! [`AuditTrail::verify`] walks the chain and names every entry that was modified,
//! removed or reordered.

use crate::domain::{ChildId, Principal, Pseudonym, Pseudonymizer, Role};
use crate::ports::{Clock, Record, RecordStore, SortKeyCondition, StoreError, WriteOp};
use crate::services::{Reply, ServiceError, require_role};
use crate::store::keys;
use crate::store::query::query_all;
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

mod entry;
mod group;
mod outbox;
mod verify;

pub use entry::*;
pub use group::{GroupCommit, MAX_GROUP};
pub use outbox::{ArchiveDrain, DRAIN_PAGE};
use verify::parse_head;
pub use verify::*;

/// How many times an append retries after losing a race for the next sequence number (also
/// a caller that commits [`AuditTrail::append_ops`] with its own writes).
pub const APPEND_ATTEMPTS: usize = 16;

/// A boxed future of an archive operation.
pub type ArchiveFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ServiceError>> + Send + 'a>>;

/// Where [`AuditTrail`] sends every appended entry, and what it compares its chains with
/// (object-safe, so the trail's type does not depend on the blob store).
pub trait ArchiveSink: Send + Sync {
    /// Archives one entry; an error means the entry is not known to be archived.
    fn archive<'a>(&'a self, entry: &'a AuditEntry) -> ArchiveFuture<'a, ()>;

    /// Archives several entries (of distinct chains) at once; by default one by one.
    fn archive_many<'a>(&'a self, entries: &'a [AuditEntry]) -> ArchiveFuture<'a, ()> {
        Box::pin(async move {
            for entry in entries {
                self.archive(entry).await?;
            }
            Ok(())
        })
    }

    /// Every difference between a chain's stored entries and its archived copies (see
    /// [`compare`](crate::services::audit_archive::compare)).
    fn differences<'a>(
        &'a self,
        child: &'a Pseudonym,
        stored: &'a [AuditEntry],
        expired_before: u64,
    ) -> ArchiveFuture<'a, Vec<ChainBreak>>;
}

/// The audit trail over a record store (a clone appends to the same chains and archive).
#[derive(Clone)]
pub struct AuditTrail<R> {
    records: R,
    pseudonyms: Pseudonymizer,
    clock: Arc<dyn Clock>,
    retention_days: Option<u32>,
    archive: Option<Arc<dyn ArchiveSink>>,
    /// Whether the archive copy is left to the drain (`outbox.rs`).
    deferred: bool,
    group: Option<GroupCommit>,
}

/// Roles that may read the audit trail.
pub const AUDIT_READERS: &[Role] = &[Role::DataProtectionOfficer];

/// Largest page of `GET /audit`.
pub const MAX_PAGE: usize = 1000;

impl<R: RecordStore> AuditTrail<R> {
    /// An audit trail keyed by `pseudonym_key`; entries expire after `retention_days` if set.
    pub fn new(
        records: R,
        pseudonym_key: &[u8],
        clock: Arc<dyn Clock>,
        retention_days: Option<u32>,
    ) -> Self {
        Self {
            records,
            pseudonyms: Pseudonymizer::new(pseudonym_key),
            clock,
            retention_days,
            archive: None,
            deferred: false,
            group: None,
        }
    }

    /// The same trail (keys, clock, retention) over other records, without an archive: for
    /// a dry run whose entries are never kept (strict partner-file imports).
    pub fn over<S: RecordStore>(&self, records: S) -> AuditTrail<S> {
        AuditTrail {
            records,
            pseudonyms: self.pseudonyms.clone(),
            clock: self.clock.clone(),
            retention_days: self.retention_days,
            archive: None,
            deferred: false,
            group: None,
        }
    }

    /// The same trail, copying every appended entry to a write-once archive right after the
    /// chain write (`services::audit_archive`); an append whose copy fails is an error.
    pub fn with_archive(mut self, archive: Arc<dyn ArchiveSink>) -> Self {
        self.archive = Some(archive);
        self
    }

    /// The same trail, appending single entries through `group` ([`GroupCommit`]: concurrent
    /// appends share one write and one archive copy).
    pub fn with_group_commit(mut self, group: GroupCommit) -> Self {
        self.group = Some(group);
        self
    }

    /// The pseudonym of a child under this trail's key.
    pub fn pseudonym(&self, child: ChildId) -> Pseudonym {
        self.pseudonyms.child(child)
    }

    /// Refuses the call unless the principal holds one of `roles`; a refusal about a known
    /// child is itself recorded (outcome `denied`) before the error is returned.
    pub async fn require_role(
        &self,
        principal: &Principal,
        request_id: &str,
        roles: &[Role],
        action: &str,
        event: Option<AuditEvent>,
    ) -> Result<(), ServiceError> {
        let refusal = match require_role(principal, roles, action) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if let Some(event) = event {
            self.record(
                principal,
                request_id,
                event.with_outcome(AuditOutcome::Denied),
            )
            .await?;
        }
        Err(refusal)
    }

    /// Appends one entry to the child's chain and returns it, once it is stored and
    /// archived. Fails (and the caller must not return personal data) if the entry cannot be
    /// stored. With a [`GroupCommit`] it shares its write with concurrent appends.
    pub async fn record(
        &self,
        principal: &Principal,
        request_id: &str,
        event: AuditEvent,
    ) -> Result<AuditEntry, ServiceError> {
        match &self.group {
            Some(group) => group.append(principal, request_id, event).await,
            None => self.record_now(principal, request_id, event).await,
        }
    }

    /// [`Self::record`] in a write of its own.
    async fn record_now(
        &self,
        principal: &Principal,
        request_id: &str,
        event: AuditEvent,
    ) -> Result<AuditEntry, ServiceError> {
        let head_key = keys::audit_head(&self.pseudonyms.child(event.child));
        for _ in 0..APPEND_ATTEMPTS {
            let (entry, ops) = self.append_ops(principal, request_id, &event).await?;
            match self.records.transact(ops).await {
                Ok(()) => {
                    self.archive(&entry).await?;
                    return Ok(entry);
                }
                // Another append took this sequence number first: read the new head, retry.
                Err(StoreError::TransactionCancelled { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict {
            pk: head_key.pk,
            sk: head_key.sk,
            expected: 0,
        }
        .into())
    }

    /// Appends one entry per event, for a page that shows many children (lists): the
    /// entries of distinct children go into one atomic write (up to 50 chains per write,
    /// each entry with its head moved), then to the archive concurrently — one durable
    /// write per page instead of one per child. A lost race for any chain cancels that
    /// write as a whole, and its events are then appended one by one ([`Self::record`]);
    /// a second event of the same child is appended after the first.
    pub async fn record_many(
        &self,
        principal: &Principal,
        request_id: &str,
        events: Vec<AuditEvent>,
    ) -> Result<(), ServiceError> {
        let mut first: Vec<AuditEvent> = Vec::new();
        let mut again: Vec<AuditEvent> = Vec::new();
        for event in events {
            if first.iter().any(|e| e.child == event.child) {
                again.push(event);
            } else {
                first.push(event);
            }
        }
        for chunk in first.chunks(crate::ports::records::MAX_TRANSACTION_OPS / 2) {
            let mut entries = Vec::with_capacity(chunk.len());
            let mut ops = Vec::with_capacity(chunk.len() * 2);
            for event in chunk {
                let (entry, append) = self.append_ops(principal, request_id, event).await?;
                entries.push(entry);
                ops.extend(append);
            }
            match self.records.transact(ops).await {
                Ok(()) => {
                    if let Some(archive) = self.archive_inline() {
                        archive.archive_many(&entries).await?;
                    }
                }
                Err(StoreError::TransactionCancelled { .. }) => {
                    for event in chunk {
                        self.record(principal, request_id, event.clone()).await?;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        for event in again {
            self.record(principal, request_id, event).await?;
        }
        Ok(())
    }

    /// Copies a committed entry to the write-once archive, if this trail has one (see
    /// `services/audit_archive.rs`); idempotent. [`Self::record`] calls it itself; a caller
    /// of [`Self::append_ops`] calls it once its own transaction has committed. With the
    /// deferred archive ([`Self::with_deferred_archive`]) it does nothing: the entry was
    /// written pending, and the drain archives it.
    pub async fn archive(&self, entry: &AuditEntry) -> Result<(), ServiceError> {
        match self.archive_inline() {
            Some(archive) => archive.archive(entry).await,
            None => Ok(()),
        }
    }

    /// Copies the stored entry `seq` of a child's chain to the archive again (idempotent: a
    /// no-op when it is there), for a caller whose first copy failed after its transaction
    /// committed (the exports worker, on the redelivery of the message). `false` when the
    /// chain has no such entry.
    pub async fn rearchive(&self, child: ChildId, seq: u64) -> Result<bool, ServiceError> {
        let Some(record) = self
            .records
            .get(&keys::audit_entry(&self.pseudonyms.child(child), seq))
            .await?
        else {
            return Ok(false);
        };
        let entry: AuditEntry = crate::store::codec::from_data(&record)?;
        self.archive(&entry).await?;
        Ok(true)
    }

    /// The two writes that append `event` to its child's chain after the current head (the
    /// entry, and the head moved with a version check), for a caller that commits them
    /// atomically with its own changes (partner-file intake). Two appends to one chain must
    /// not share a transaction; a lost race cancels the whole transaction.
    pub async fn append_ops(
        &self,
        principal: &Principal,
        request_id: &str,
        event: &AuditEvent,
    ) -> Result<(AuditEntry, Vec<WriteOp>), ServiceError> {
        self.append_ops_with_reason(principal, request_id, event, None)
            .await
    }

    /// [`Self::append_ops`] for an entry that carries the reason the actor gave (merge).
    pub async fn append_ops_with_reason(
        &self,
        principal: &Principal,
        request_id: &str,
        event: &AuditEvent,
        reason: Option<&str>,
    ) -> Result<(AuditEntry, Vec<WriteOp>), ServiceError> {
        let child = self.pseudonyms.child(event.child);
        let head_key = keys::audit_head(&child);
        let head = self.records.get(&head_key).await?;
        let (last_seq, last_hash, version) = match &head {
            None => (0, GENESIS_HASH.to_owned(), 0),
            Some(r) => {
                let (seq, hash) = parse_head(r)?;
                (seq, hash, r.version)
            }
        };
        let now = self.clock.now();
        let body = EntryBody {
            seq: last_seq + 1,
            at: now,
            request_id: request_id.to_owned(),
            actor: Actor {
                subject: principal.subject.clone(),
                roles: principal.roles.clone(),
                organisation: principal.organisation.clone(),
            },
            action: event.action,
            entity: event.entity,
            entity_id: event.entity_id.clone(),
            child: child.clone(),
            fields: event.fields.clone(),
            purpose: principal.purpose.clone(),
            break_glass_reason: event.break_glass_reason.clone(),
            outcome: event.outcome,
            prev_hash: last_hash,
            reason: reason.map(str::to_owned),
            recipient: event.recipient.clone(),
        };
        let entry = AuditEntry {
            hash: body.hash(),
            body,
        };
        let data = serde_json::to_value(&entry).map_err(StoreError::Encode)?;
        let mut record = self.mark_pending(
            Record::new(keys::audit_entry(&child, entry.body.seq), data),
            &entry,
        );
        if let Some(days) = self.retention_days {
            record = record.with_expiry(now.timestamp() + i64::from(days) * 86_400);
        }
        let head_record = Record::new(head_key, json!({"seq": entry.body.seq, "hash": entry.hash}));
        let head_op = if version == 0 {
            WriteOp::PutNew(head_record)
        } else {
            WriteOp::PutVersioned {
                record: head_record,
                expected: version,
            }
        };
        Ok((entry, vec![WriteOp::PutNew(record), head_op]))
    }

    /// One page of a child's stored entries in chain order, exactly as stored.
    pub async fn page(
        &self,
        child: ChildId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<Value>, Option<String>), ServiceError> {
        let page = self
            .records
            .query(
                &keys::audit_partition(&self.pseudonyms.child(child)),
                &SortKeyCondition::Prefix(keys::AUDIT_ENTRY_PREFIX.into()),
                limit,
                false,
                cursor,
            )
            .await?;
        Ok((
            page.records.into_iter().map(|r| r.data).collect(),
            page.next,
        ))
    }

    async fn all_records(&self, child: &Pseudonym) -> Result<Vec<Record>, ServiceError> {
        Ok(query_all(
            &self.records,
            &keys::audit_partition(child),
            &SortKeyCondition::Prefix(keys::AUDIT_ENTRY_PREFIX.into()),
        )
        .await?)
    }

    /// Every stored, readable entry of a child's chain in order.
    pub async fn entries(&self, child: ChildId) -> Result<Vec<AuditEntry>, ServiceError> {
        let records = self.all_records(&self.pseudonyms.child(child)).await?;
        Ok(records
            .iter()
            .filter_map(|r| serde_json::from_value(r.data.clone()).ok())
            .collect())
    }

    /// Every stored, readable entry of the chain with this pseudonym, in order.
    pub async fn stored_entries(&self, child: &Pseudonym) -> Result<Vec<AuditEntry>, ServiceError> {
        let records = self.all_records(child).await?;
        Ok(records
            .iter()
            .filter_map(|r| serde_json::from_value(r.data.clone()).ok())
            .collect())
    }

    /// [`AuditTrail::verify`] of the chain with this pseudonym.
    pub async fn verify_pseudonym(&self, child: &Pseudonym) -> Result<Verification, ServiceError> {
        let records = self.all_records(child).await?;
        let head = self.records.get(&keys::audit_head(child)).await?;
        Ok(verify_chain(
            child,
            &records,
            head.as_ref(),
            self.retention_days.is_some(),
        ))
    }

    /// [`AuditTrail::verify`], and, when the trail has an archive, the comparison of the
    /// stored entries with their archived copies: every difference is a break too, so a
    /// chain rewritten in the store with recomputed hashes is not `intact`.
    pub async fn verify_with_archive(&self, child: ChildId) -> Result<Verification, ServiceError> {
        let mut verification = self.verify(child).await?;
        if let Some(archive) = &self.archive {
            let pseudonym = self.pseudonyms.child(child);
            self.archive_pending_of(&pseudonym, archive.as_ref())
                .await?;
            let stored = self.stored_entries(&pseudonym).await?;
            let differences = archive
                .differences(
                    &pseudonym,
                    &stored,
                    verification.expired_before.unwrap_or(0),
                )
                .await?;
            if !differences.is_empty() {
                verification.intact = false;
                verification.breaks.extend(differences);
                verification.breaks.sort_by_key(|b| b.seq);
            }
        }
        Ok(verification)
    }

    /// Walks a child's chain and reports every modified, removed or reordered entry.
    pub async fn verify(&self, child: ChildId) -> Result<Verification, ServiceError> {
        let pseudonym = self.pseudonyms.child(child);
        let records = self.all_records(&pseudonym).await?;
        let head = self.records.get(&keys::audit_head(&pseudonym)).await?;
        Ok(verify_chain(
            &pseudonym,
            &records,
            head.as_ref(),
            self.retention_days.is_some(),
        ))
    }

    /// Records a data protection officer's read of a child's trail in the DPO-access chain
    /// ([`dpo_access_chain`]); `view` names what was read (`entries` or `report`).
    async fn record_dpo_read(
        &self,
        principal: &Principal,
        request_id: &str,
        child: ChildId,
        view: &str,
    ) -> Result<(), ServiceError> {
        let subject = self.pseudonyms.child(child).to_string();
        self.record_dpo_view(principal, request_id, subject, view)
            .await
    }

    /// Records a data protection officer's read of an audit view in the DPO-access chain
    /// ([`dpo_access_chain`]): `subject` names what the view was about (a child's pseudonym,
    /// or the period of the break-the-glass report), `view` which view it was. Call it after
    /// the view is computed and before it is returned.
    pub async fn record_dpo_view(
        &self,
        principal: &Principal,
        request_id: &str,
        subject: String,
        view: &str,
    ) -> Result<(), ServiceError> {
        let event = AuditEvent {
            child: dpo_access_chain(),
            entity: AuditEntity::AuditTrail,
            entity_id: Some(subject),
            action: AuditAction::Read,
            fields: vec![view.to_owned()],
            outcome: AuditOutcome::Success,
            break_glass_reason: None,
            recipient: None,
        };
        self.record(principal, request_id, event).await.map(|_| ())
    }

    /// `GET /audit?child=…`: a page of the child's entries and the chain's verification.
    /// The read is recorded in the DPO-access chain before anything is returned.
    pub async fn dpo_entries(
        &self,
        principal: &Principal,
        request_id: &str,
        child: ChildId,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, AUDIT_READERS, "read the audit trail")?;
        let limit = limit.unwrap_or(100);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ServiceError::invalid(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        let (entries, next) = self.page(child, limit, cursor).await.map_err(|e| match e {
            ServiceError::Store(StoreError::Invalid(reason)) => {
                ServiceError::invalid("cursor", reason)
            }
            other => other,
        })?;
        let verification = self.verify_with_archive(child).await?;
        self.record_dpo_read(principal, request_id, child, "entries")
            .await?;
        tracing::info!(subject = %principal.subject, org = %principal.organisation,
            child = %self.pseudonyms.child(child), intact = verification.intact, "audit trail read");
        Ok(Reply::ok(json!({
            "child": self.pseudonyms.child(child),
            "entries": entries,
            "next_cursor": next,
            "verification": verification,
        })))
    }

    /// `GET /audit/report?child=…`: who has seen the child's data, by organisation, role
    /// and day, with the chain's verification. The read is recorded in the DPO-access chain.
    pub async fn dpo_report(
        &self,
        principal: &Principal,
        request_id: &str,
        child: ChildId,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, AUDIT_READERS, "read the audit trail")?;
        let entries = self.entries(child).await?;
        let verification = self.verify_with_archive(child).await?;
        self.record_dpo_read(principal, request_id, child, "report")
            .await?;
        tracing::info!(subject = %principal.subject, org = %principal.organisation,
            child = %self.pseudonyms.child(child), intact = verification.intact, "access report read");
        Ok(Reply::ok(json!({
            "child": self.pseudonyms.child(child),
            "accesses": summarise(&entries),
            "verification": verification,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono::Utc;
    use sha2::{Digest, Sha256};

    fn body(seq: u64, prev_hash: &str) -> EntryBody {
        EntryBody {
            seq,
            at: Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap(),
            request_id: "req-1".into(),
            actor: Actor {
                subject: "nurse-1".into(),
                roles: vec![Role::HealthSpecialist],
                organisation: "clinic-1".into(),
            },
            action: AuditAction::Read,
            entity: AuditEntity::Child,
            entity_id: None,
            child: Pseudonymizer::new(b"pseudonym-key-pseudonym-key-0001")
                .child("0190a4a8-8f3e-7b1c-9d2e-3f4a5b6c7d8e".parse().unwrap()),
            fields: vec!["all".into()],
            purpose: Some("care".into()),
            break_glass_reason: None,
            outcome: AuditOutcome::Success,
            prev_hash: prev_hash.into(),
            reason: None,
            recipient: None,
        }
    }

    /// The canonical form is pinned: reordering or renaming a field would make every
    /// stored entry fail verification, so it must show up here first.
    #[test]
    fn the_canonical_serialisation_is_stable() {
        let b = body(1, GENESIS_HASH);
        let text = String::from_utf8(serde_json::to_vec(&b).unwrap()).unwrap();
        assert!(text.starts_with(r#"{"seq":1,"at":"2026-11-23T09:00:00Z","request_id":"req-1","actor":{"subject":"nurse-1","roles":["health_specialist"],"organisation":"clinic-1"},"action":"read","entity":"child","entity_id":null,"child":""#), "{text}");
        assert!(text.ends_with(&format!(r#","fields":["all"],"purpose":"care","break_glass_reason":null,"outcome":"success","prev_hash":"{GENESIS_HASH}"}}"#)), "{text}");
        assert_eq!(b.hash(), hex::encode(Sha256::digest(text.as_bytes())));
        let mut other = b.clone();
        other.actor.organisation = "clinic-2".into();
        assert_ne!(other.hash(), b.hash());
    }

    #[test]
    fn a_stored_entry_round_trips_with_its_hash() {
        let b = body(1, GENESIS_HASH);
        let entry = AuditEntry {
            hash: b.hash(),
            body: b,
        };
        let value = serde_json::to_value(&entry).unwrap();
        assert_eq!(value["hash"], entry.hash);
        let back: AuditEntry = serde_json::from_value(value).unwrap();
        assert_eq!(back, entry);
        assert_eq!(back.body.hash(), back.hash);
    }

    #[test]
    fn the_report_groups_by_organisation_roles_and_day() {
        let mut entries = Vec::new();
        for (org, action, outcome) in [
            ("clinic-1", AuditAction::Create, AuditOutcome::Success),
            ("clinic-1", AuditAction::Read, AuditOutcome::Success),
            ("clinic-1", AuditAction::Read, AuditOutcome::Success),
            ("ministry", AuditAction::Read, AuditOutcome::Denied),
            ("RAVIS", AuditAction::Disclose, AuditOutcome::Success),
            ("RAVIS", AuditAction::Disclose, AuditOutcome::Success),
        ] {
            let mut b = body(1, GENESIS_HASH);
            b.actor.organisation = org.into();
            b.action = action;
            b.outcome = outcome;
            if action == AuditAction::Disclose {
                b.recipient = Some("E-veselība".into());
            }
            if action == AuditAction::Create {
                b.break_glass_reason = Some("child in the emergency room".into());
            }
            entries.push(AuditEntry {
                hash: b.hash(),
                body: b,
            });
        }
        let lines = summarise(&entries);
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[1],
            json!({"organisation": "clinic-1", "roles": ["health_specialist"], "date": "2026-11-23",
                   "reads": 2, "writes": 1, "denied": 0, "break_glass": 1, "disclosures": 0,
                   "sent_to": [], "entities": ["child"]})
        );
        assert_eq!(lines[2]["denied"], 1);
        assert_eq!(lines[2]["reads"], 0);
        // Disclosures to other systems are counted apart, with their recipients.
        assert_eq!(lines[0]["organisation"], "RAVIS");
        assert_eq!(
            (
                &lines[0]["disclosures"],
                &lines[0]["sent_to"],
                &lines[0]["reads"]
            ),
            (&json!(2), &json!(["E-veselība"]), &json!(0))
        );
    }
}
