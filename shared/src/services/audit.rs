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
use crate::ports::{Clock, Key, Record, RecordStore, SortKeyCondition, StoreError, WriteOp};
use crate::services::{Reply, ServiceError, require_role};
use crate::store::keys;
use crate::store::query::query_all;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// `prev_hash` of the first entry of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How many times an append retries after losing a race for the next sequence number.
const APPEND_ATTEMPTS: usize = 16;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Token subject.
    pub subject: String,
    /// Roles the caller held.
    pub roles: Vec<Role>,
    /// Organisation the caller acted for.
    pub organisation: String,
}

/// What was done to the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// Personal data was returned to the caller.
    Read,
    /// Personal data was created.
    Create,
    /// Personal data was changed (or its processing re-run, e.g. a re-score).
    Update,
}

/// How the access ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// Done (data returned or stored).
    Success,
    /// An earlier response was returned again for the same `Idempotency-Key`.
    Replayed,
    /// Refused: the caller's role may not do this.
    Denied,
}

/// The kind of personal-data record accessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEntity {
    /// A child's registry record.
    Child,
    /// A screening submission with its result.
    Screening,
    /// A child's risk profile (all results).
    RiskProfile,
    /// A support episode (a child in a programme or service).
    SupportEpisode,
    /// A legal representative of the child (family link).
    LegalRepresentative,
    /// A break-the-glass grant for the child (its reason is the entry's `break_glass_reason`).
    BreakGlass,
    /// A child's audit trail, read by a data protection officer (entries of the DPO-access
    /// chain; `entity_id` is the pseudonym of the child whose trail was read).
    AuditTrail,
}

/// The reserved id whose chain is the DPO-access chain: every read of an audit trail
/// (`GET /audit`, `GET /audit/report`) is recorded there. The nil UUID is never a child's
/// id (ids are UUIDv7); a data protection officer reads this chain with
/// `GET /audit?child=00000000-0000-0000-0000-000000000000`, and that read is recorded too.
pub fn dpo_access_chain() -> ChildId {
    ChildId::from_uuid(uuid::Uuid::nil())
}

/// One access to record, as the use case describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// The child whose data it is.
    pub child: ChildId,
    /// The kind of record.
    pub entity: AuditEntity,
    /// The record's own id, when it is not the child (a screening id).
    pub entity_id: Option<String>,
    /// Read or write.
    pub action: AuditAction,
    /// The fields accessed, or `["all"]`.
    pub fields: Vec<String>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// The break-the-glass reason, when the access is made under a grant.
    pub break_glass_reason: Option<String>,
}

impl AuditEvent {
    /// A successful access to every field of a record.
    pub fn all(child: ChildId, entity: AuditEntity, action: AuditAction) -> Self {
        Self {
            child,
            entity,
            entity_id: None,
            action,
            fields: vec!["all".into()],
            outcome: AuditOutcome::Success,
            break_glass_reason: None,
        }
    }

    /// The same event made under break-the-glass with this reason (`None`: not).
    pub fn with_break_glass_reason(mut self, reason: Option<String>) -> Self {
        self.break_glass_reason = reason;
        self
    }

    /// The same event about a record with its own id.
    pub fn of(mut self, entity_id: impl ToString) -> Self {
        self.entity_id = Some(entity_id.to_string());
        self
    }

    /// The same event with another outcome.
    pub fn with_outcome(mut self, outcome: AuditOutcome) -> Self {
        self.outcome = outcome;
        self
    }
}

/// The hashed part of an entry; its JSON (fields in this order) is the canonical form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryBody {
    /// Position in the child's chain, from 1.
    pub seq: u64,
    /// When the access happened.
    pub at: DateTime<Utc>,
    /// The request it happened in.
    pub request_id: String,
    /// Who.
    pub actor: Actor,
    /// Read or write.
    pub action: AuditAction,
    /// Kind of record.
    pub entity: AuditEntity,
    /// The record's own id, if not the child.
    pub entity_id: Option<String>,
    /// The child, by pseudonym only.
    pub child: Pseudonym,
    /// Fields accessed, or `["all"]`.
    pub fields: Vec<String>,
    /// Declared purpose of processing (token claim `ravis:purpose`).
    pub purpose: Option<String>,
    /// Break-the-glass reason, when access was by break-the-glass.
    pub break_glass_reason: Option<String>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// Hash of the previous entry ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// The reason the actor gave (a merge or un-merge of children); absent otherwise, so
    /// entries written before this field existed hash exactly as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl EntryBody {
    /// SHA-256 of the canonical serialisation, lowercase hex.
    pub fn hash(&self) -> String {
        let bytes = serde_json::to_vec(self).expect("an entry body always serialises");
        hex::encode(Sha256::digest(bytes))
    }
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The hashed content.
    #[serde(flatten)]
    pub body: EntryBody,
    /// [`EntryBody::hash`] of `body`.
    pub hash: String,
}

/// One problem found by [`AuditTrail::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    /// The entry concerned (for a removed entry: the sequence number that is missing).
    pub seq: u64,
    /// What is wrong.
    pub problem: String,
}

/// The result of verifying a child's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Whether no problem was found.
    pub intact: bool,
    /// How many entries are stored.
    pub entries: u64,
    /// Entries before this sequence number expired under the retention setting (if any).
    pub expired_before: Option<u64>,
    /// Every problem, in chain order.
    pub breaks: Vec<ChainBreak>,
}

/// A boxed future of an archive operation.
pub type ArchiveFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ServiceError>> + Send + 'a>>;

/// Where [`AuditTrail`] sends every appended entry, and what it compares its chains with
/// (object-safe, so the trail's type does not depend on the blob store).
pub trait ArchiveSink: Send + Sync {
    /// Archives one entry; an error means the entry is not known to be archived.
    fn archive<'a>(&'a self, entry: &'a AuditEntry) -> ArchiveFuture<'a, ()>;

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
        }
    }

    /// The same trail, copying every appended entry to a write-once archive right after the
    /// chain write (`services::audit_archive`); an append whose copy fails is an error.
    pub fn with_archive(mut self, archive: Arc<dyn ArchiveSink>) -> Self {
        self.archive = Some(archive);
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

    /// Appends one entry to the child's chain and returns it. Fails (and the caller must
    /// not return personal data) if the entry cannot be stored.
    pub async fn record(
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

    /// Copies a committed entry to the write-once archive, if this trail has one (see
    /// `services/audit_archive.rs`); idempotent. [`Self::record`] calls it itself; a caller
    /// of [`Self::append_ops`] calls it once its own transaction has committed.
    pub async fn archive(&self, entry: &AuditEntry) -> Result<(), ServiceError> {
        match &self.archive {
            Some(archive) => archive.archive(entry).await,
            None => Ok(()),
        }
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
        };
        let entry = AuditEntry {
            hash: body.hash(),
            body,
        };
        let data = serde_json::to_value(&entry).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut record = Record::new(keys::audit_entry(&child, entry.body.seq), data);
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

/// Groups entries by organisation, roles and day, counting reads, writes, refusals and the
/// accesses made under break-the-glass (the grant included).
pub fn summarise(entries: &[AuditEntry]) -> Vec<Value> {
    #[derive(Default)]
    struct Counts {
        reads: u64,
        writes: u64,
        denied: u64,
        break_glass: u64,
        entities: std::collections::BTreeSet<String>,
    }
    let mut groups: BTreeMap<(String, String, String), Counts> = BTreeMap::new();
    for e in entries {
        let roles = e
            .body
            .actor
            .roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let key = (
            e.body.actor.organisation.clone(),
            roles,
            e.body.at.date_naive().to_string(),
        );
        let c = groups.entry(key).or_default();
        match (e.body.outcome, e.body.action) {
            (AuditOutcome::Denied, _) => c.denied += 1,
            (_, AuditAction::Read) => c.reads += 1,
            (_, AuditAction::Create | AuditAction::Update) => c.writes += 1,
        }
        if e.body.break_glass_reason.is_some() {
            c.break_glass += 1;
        }
        if let Ok(Value::String(s)) = serde_json::to_value(e.body.entity) {
            c.entities.insert(s);
        }
    }
    groups
        .into_iter()
        .map(|((organisation, roles, date), c)| {
            json!({
                "organisation": organisation,
                "roles": roles.split(',').collect::<Vec<_>>(),
                "date": date,
                "reads": c.reads,
                "writes": c.writes,
                "denied": c.denied,
                "break_glass": c.break_glass,
                "entities": c.entities,
            })
        })
        .collect()
}

fn parse_head(r: &Record) -> Result<(u64, String), StoreError> {
    match (r.data["seq"].as_u64(), r.data["hash"].as_str()) {
        (Some(seq), Some(hash)) => Ok((seq, hash.to_owned())),
        _ => Err(StoreError::Corrupt {
            pk: r.key.pk.clone(),
            sk: r.key.sk.clone(),
            reason: "audit head without seq and hash".into(),
        }),
    }
}

fn seq_of_key(key: &Key) -> Option<u64> {
    key.sk.strip_prefix(keys::AUDIT_ENTRY_PREFIX)?.parse().ok()
}

/// Checks stored entries (in sort-key order) and the head of one chain.
pub fn verify_chain(
    child: &Pseudonym,
    records: &[Record],
    head: Option<&Record>,
    retention: bool,
) -> Verification {
    let mut breaks = Vec::new();
    let mut expired_before = None;
    // (seq, stored hash) of the previous entry whose position is known.
    let mut prev: Option<(u64, String)> = None;
    for record in records {
        let Some(seq) = seq_of_key(&record.key) else {
            breaks.push(ChainBreak {
                seq: 0,
                problem: format!("entry with an invalid sort key '{}'", record.key.sk),
            });
            continue;
        };
        let expected = prev.as_ref().map_or(1, |(s, _)| s + 1);
        if seq > expected {
            if prev.is_none() && retention {
                // Older entries expired under the retention setting.
                expired_before = Some(seq);
            } else {
                for missing in expected..seq {
                    breaks.push(ChainBreak {
                        seq: missing,
                        problem: "entry is missing (removed)".into(),
                    });
                }
            }
        }
        let entry: AuditEntry = match serde_json::from_value(record.data.clone()) {
            Ok(e) => e,
            Err(e) => {
                breaks.push(ChainBreak {
                    seq,
                    problem: format!("entry is unreadable (modified): {e}"),
                });
                prev = Some((seq, String::new()));
                continue;
            }
        };
        if entry.body.seq != seq {
            breaks.push(ChainBreak {
                seq,
                problem: format!(
                    "entry stored at position {seq} says it is entry {} (moved or reordered)",
                    entry.body.seq
                ),
            });
        }
        if &entry.body.child != child {
            breaks.push(ChainBreak {
                seq,
                problem: "entry belongs to another child's chain (moved)".into(),
            });
        }
        if entry.body.hash() != entry.hash {
            breaks.push(ChainBreak {
                seq,
                problem: "content does not match its hash (modified)".into(),
            });
        }
        match &prev {
            // After a gap the missing entry is the break; the link cannot be checked.
            Some((p, hash)) if *p + 1 == seq && !hash.is_empty() && *hash != entry.body.prev_hash => {
                breaks.push(ChainBreak {
                    seq,
                    problem: format!(
                        "prev_hash does not match entry {p} (entry {p} was replaced, or this one was)"
                    ),
                })
            }
            None if seq == 1 && entry.body.prev_hash != GENESIS_HASH => breaks
                .push(ChainBreak {
                    seq,
                    problem: "first entry does not start the chain".into(),
                }),
            _ => {}
        }
        prev = Some((seq, entry.hash.clone()));
    }
    match (head.map(parse_head), &prev) {
        (None, None) => {}
        (None, Some((seq, _))) => breaks.push(ChainBreak {
            seq: *seq,
            problem: "the chain's head record is missing".into(),
        }),
        (Some(Err(e)), _) => breaks.push(ChainBreak {
            seq: 0,
            problem: e.to_string(),
        }),
        (Some(Ok((head_seq, _))), None) => {
            if !(retention && head_seq > 0) {
                for missing in 1..=head_seq {
                    breaks.push(ChainBreak {
                        seq: missing,
                        problem: "entry is missing (removed)".into(),
                    });
                }
            }
        }
        (Some(Ok((head_seq, head_hash))), Some((last, last_hash))) => {
            if head_seq > *last {
                for missing in last + 1..=head_seq {
                    breaks.push(ChainBreak {
                        seq: missing,
                        problem: "entry is missing (removed from the end)".into(),
                    });
                }
            } else if head_seq < *last {
                breaks.push(ChainBreak {
                    seq: *last,
                    problem: format!("entry is beyond the chain's head ({head_seq}) (inserted)"),
                });
            } else if head_hash != *last_hash && !last_hash.is_empty() {
                breaks.push(ChainBreak {
                    seq: *last,
                    problem: "hash does not match the chain's head (replaced)".into(),
                });
            }
        }
    }
    Verification {
        intact: breaks.is_empty(),
        entries: records.len() as u64,
        expired_before,
        breaks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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
        ] {
            let mut b = body(1, GENESIS_HASH);
            b.actor.organisation = org.into();
            b.action = action;
            b.outcome = outcome;
            if action == AuditAction::Create {
                b.break_glass_reason = Some("child in the emergency room".into());
            }
            entries.push(AuditEntry {
                hash: b.hash(),
                body: b,
            });
        }
        let lines = summarise(&entries);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            json!({"organisation": "clinic-1", "roles": ["health_specialist"], "date": "2026-11-23",
                   "reads": 2, "writes": 1, "denied": 0, "break_glass": 1, "entities": ["child"]})
        );
        assert_eq!(lines[1]["denied"], 1);
        assert_eq!(lines[1]["reads"], 0);
    }
}
