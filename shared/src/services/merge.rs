//! Explicit merge and un-merge of two child records that are the same child (issue #4,
//! item 4): `POST /children/{id}/merge` and `POST /children/{id}/unmerge`, registry
//! administrator only, each with a mandatory reason recorded in BOTH children's audit chains.
//!
//! Merge (`{id}` survives, `duplicate` is merged into it), in ONE transaction:
//! - the duplicate gets status `merged`, `merged_into` and `merged_at`; reads of it answer
//!   410 `child-merged` naming the survivor (`merged_into`, `Location`);
//! - the survivor lists it in `merged_from`; the survivor's risk profile includes the
//!   screenings of every child in `merged_from` (looked up, nothing is re-indexed);
//! - every personal-code index entry of the duplicate (current code and the codes in its
//!   `identifier_history`) points at the survivor; a survivor without a code takes the
//!   duplicate's code and history;
//! - the duplicate leaves its `CHILDNAME#` index entry, and the `possible_duplicate_of`
//!   flags between the two are cleared;
//! - a merge record (`MERGE#<duplicate>`) keeps the previous content of every record it
//!   changed and the content it left, so un-merge restores them exactly.
//!
//! Un-merge restores every record to its content before the merge and deletes the merge
//! record, in ONE transaction; it is refused (409 `changed-since-merge`) when any of those
//! records no longer holds what the merge left (it changed after the merge), because
//! restoring would silently lose that change. Merges undone in reverse order restore the
//! state before the first. Versions keep increasing (a client's old `ETag` stays stale).
//!
//! Past merges: each merge record is indexed under `MERGES` (`gsi1`, newest first) in the
//! merge's own write; `GET /children/merges` pages through it (`merge_list.rs`), and an
//! un-merge, which deletes the record, takes it out.
//!
//! Listing: a child flagged `possible_duplicate_of` is indexed under `DUPFLAGS` (`gsi1`) from
//! its registration (API or file); `GET /children/duplicates` pages through that index, and
//! a merge takes the merged child (and the survivor, when no flag is left) out of it.
//!
//! Refused (422, field named): merging a child into itself, into a merged child, a merged
//! child again, or two children with different personal codes.

use crate::domain::export::ExportCause;
use crate::domain::{ChildId, ChildStatus, FieldError, Principal, Role};
use crate::ports::{IndexKey, Key, Record, RecordStore, StoreError, WriteOp};
use crate::services::audit::{AuditAction, AuditEntity, AuditEntry, AuditEvent};
use crate::services::children::ChildrenService;
pub use crate::services::children::refuse_merged;
use crate::services::registry::listing::{ListQuery, Listing, list_page};
use crate::services::{Reply, ServiceError, access, minimisation};
use crate::store::keys;
use crate::store::lookups::ids_in;
pub use crate::store::lookups::{merged_ids, merged_into};
use serde::Deserialize;
use serde_json::{Value, json};

/// Roles that may merge and un-merge children.
pub const MERGERS: &[Role] = &[Role::RegistryAdministrator];

/// Longest reason accepted (characters).
pub const MAX_REASON: usize = 1000;

/// How many times an operation is retried after losing a race (e.g. a concurrent audit append).
const ATTEMPTS: usize = 8;

/// Body of `POST /children/{id}/merge` and `POST /children/{id}/unmerge`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeInput {
    /// The id of the child merged into (or split off from) the child of the path.
    pub duplicate: String,
    /// Why (mandatory; recorded in both children's audit chains).
    pub reason: String,
}

/// One record a merge changed: its content before and the content the merge left
/// (`None`: the merge deleted it). Un-merge requires the record to still hold `after`.
struct Restore {
    before: Record,
    after: Option<Value>,
}

/// Records that a merge rewrites `before` as `after` (`None`: deletes it): the versioned
/// write, and what un-merge restores.
fn change(
    restores: &mut Vec<Restore>,
    ops: &mut Vec<WriteOp>,
    before: &Record,
    after: Option<Record>,
) {
    restores.push(Restore {
        before: before.clone(),
        after: after.as_ref().map(|r| r.data.clone()),
    });
    ops.push(match after {
        Some(record) => WriteOp::PutVersioned {
            record,
            expected: before.version,
        },
        None => WriteOp::Delete {
            key: before.key.clone(),
            expected: before.version,
        },
    });
}

fn checked_input(input: &MergeInput, survivor: ChildId) -> Result<(ChildId, String), ServiceError> {
    let mut errors = Vec::new();
    let duplicate = match input.duplicate.trim().parse::<ChildId>() {
        Ok(id) if id == survivor => {
            errors.push(FieldError::new(
                "duplicate",
                "is the child itself; a child cannot be merged into itself",
            ));
            None
        }
        Ok(id) => Some(id),
        Err(e) => {
            errors.push(FieldError::new("duplicate", e.to_string()));
            None
        }
    };
    let reason = input.reason.trim();
    if reason.is_empty() {
        errors.push(FieldError::new("reason", "is required"));
    } else if reason.chars().count() > MAX_REASON {
        errors.push(FieldError::new(
            "reason",
            format!("is longer than {MAX_REASON} characters"),
        ));
    }
    match duplicate {
        Some(id) if errors.is_empty() => Ok((id, reason.to_owned())),
        _ => Err(ServiceError::Validation(errors)),
    }
}

fn corrupt(record: &Record, reason: impl Into<String>) -> ServiceError {
    crate::store::codec::corrupt(record, &reason.into()).into()
}

fn child_of(record: &Record) -> Result<crate::domain::Child, ServiceError> {
    Ok(crate::store::codec::from_data(record)?)
}

/// The ids in a JSON array field of a record's data (empty when absent).
/// Removes `id` from the array `field`; drops the field when it becomes empty.
fn remove_id(data: &mut Value, field: &str, id: ChildId) {
    let rest: Vec<ChildId> = ids_in(data, field)
        .into_iter()
        .filter(|c| *c != id)
        .collect();
    if let Some(obj) = data.as_object_mut() {
        if rest.is_empty() {
            obj.remove(field);
        } else {
            obj.insert(field.into(), json!(rest));
        }
    }
}

fn restore_json(r: &Restore) -> Value {
    json!({
        "pk": r.before.key.pk,
        "sk": r.before.key.sk,
        "index": r.before.index.as_ref().map(|i| json!([i.pk, i.sk])),
        "expires_at": r.before.expires_at,
        "data": r.before.data,
        "after": r.after,
    })
}

fn restore_from_json(merge: &Record, v: &Value) -> Result<Restore, ServiceError> {
    let text = |f: &str| {
        v.get(f)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| corrupt(merge, format!("restore entry without {f}")))
    };
    let mut before = Record::new(
        Key::new(text("pk")?, text("sk")?),
        v.get("data").cloned().unwrap_or(Value::Null),
    );
    if let Some([pk, sk]) = v.get("index").and_then(Value::as_array).map(Vec::as_slice) {
        before.index = Some(IndexKey {
            pk: pk.as_str().unwrap_or_default().to_owned(),
            sk: sk.as_str().unwrap_or_default().to_owned(),
        });
    }
    before.expires_at = v.get("expires_at").and_then(Value::as_i64);
    Ok(Restore {
        before,
        after: v.get("after").filter(|a| !a.is_null()).cloned(),
    })
}

/// The 200 answer with the survivor's record as the caller may see it.
fn survivor_reply(principal: &Principal, data: &Value, version: u64) -> Reply {
    let mut view = data.clone();
    if let Some(obj) = view.as_object_mut() {
        obj.insert("version".into(), version.into());
    }
    let mut reply = Reply::ok(minimisation::child(principal, view));
    reply.etag = Some(format!("\"{version}\""));
    reply
}

impl<R: RecordStore> ChildrenService<R> {
    /// Refuses callers that may not merge (recorded as a denied update of `id`), then loads
    /// the child of the path if the caller may see it.
    async fn merge_target(
        &self,
        principal: &Principal,
        request_id: &str,
        id: ChildId,
    ) -> Result<Record, ServiceError> {
        let event = AuditEvent::all(id, AuditEntity::Child, AuditAction::Update);
        self.audit()
            .require_role(
                principal,
                request_id,
                MERGERS,
                "merge children",
                Some(event),
            )
            .await?;
        let not_found = || ServiceError::NotFound(format!("no child with id {id}"));
        if access::visible_child(self.records(), principal, id, self.now())
            .await?
            .is_none()
        {
            return Err(not_found());
        }
        self.records()
            .get(&keys::child(id))
            .await?
            .ok_or_else(not_found)
    }

    /// The writes that append the merge (or un-merge) to both children's audit chains, each
    /// entry naming the other child by pseudonym and carrying the reason.
    async fn merge_audit_ops(
        &self,
        principal: &Principal,
        request_id: &str,
        survivor: ChildId,
        duplicate: ChildId,
        reason: &str,
    ) -> Result<(Vec<AuditEntry>, Vec<WriteOp>), ServiceError> {
        let mut ops = Vec::new();
        let mut entries = Vec::new();
        for (child, other) in [(survivor, duplicate), (duplicate, survivor)] {
            let event = AuditEvent::all(child, AuditEntity::Child, AuditAction::Update)
                .of(self.audit().pseudonym(other).as_str());
            let (entry, mut append) = self
                .audit()
                .append_ops_with_reason(principal, request_id, &event, Some(reason))
                .await?;
            ops.append(&mut append);
            entries.push(entry);
        }
        Ok((entries, ops))
    }

    /// Copies committed entries to the write-once archive (like every other append).
    async fn archive_entries(&self, entries: &[AuditEntry]) -> Result<(), ServiceError> {
        for entry in entries {
            self.audit().archive(entry).await?;
        }
        Ok(())
    }

    /// `POST /children/{id}/merge`: merges `duplicate` into the child `id`, whose current
    /// version must be `expected` (`If-Match`). Rules in the module documentation.
    pub async fn merge(
        &self,
        principal: &Principal,
        request_id: &str,
        id: ChildId,
        expected: u64,
        input: MergeInput,
    ) -> Result<Reply, ServiceError> {
        self.merge_target(principal, request_id, id).await?;
        let (duplicate, reason) = checked_input(&input, id)?;
        for _ in 0..ATTEMPTS {
            let survivor = self.merge_target(principal, request_id, id).await?;
            if survivor.version != expected {
                return Err(ServiceError::PreconditionFailed(format!(
                    "the child is at version {} (you sent If-Match \"{expected}\"); read it again",
                    survivor.version
                )));
            }
            let (mut ops, data, entries) = self
                .merge_ops(principal, request_id, &survivor, duplicate, &reason)
                .await?;
            // The receivers learn that the duplicate's results are the survivor's now.
            let jobs = self.export_jobs(&[id], ExportCause::Merge, &mut ops)?;
            match self.records().transact(ops).await {
                Ok(()) => {
                    self.archive_entries(&entries).await?;
                    self.queue_exports(&jobs).await;
                    return Ok(survivor_reply(principal, &data, survivor.version + 1));
                }
                // A concurrent write (an audit append, a change of either child): re-read.
                Err(StoreError::TransactionCancelled { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Store(StoreError::Conflict {
            pk: keys::child(id).pk,
            sk: keys::child(id).sk,
            expected,
        }))
    }

    /// The writes of one merge attempt and the survivor's new content.
    async fn merge_ops(
        &self,
        principal: &Principal,
        request_id: &str,
        survivor_record: &Record,
        duplicate: ChildId,
        reason: &str,
    ) -> Result<(Vec<WriteOp>, Value, Vec<AuditEntry>), ServiceError> {
        let survivor = child_of(survivor_record)?;
        if survivor.status == ChildStatus::Merged {
            return Err(ServiceError::invalid(
                "id",
                "this child was itself merged into another child; merge into the survivor",
            ));
        }
        let invisible =
            || ServiceError::invalid("duplicate", "is not a child you can see in the registry");
        if access::visible_child(self.records(), principal, duplicate, self.now())
            .await?
            .is_none()
        {
            return Err(invisible());
        }
        let dup_record = self
            .records()
            .get(&keys::child(duplicate))
            .await?
            .ok_or_else(invisible)?;
        let dup = child_of(&dup_record)?;
        if dup.status == ChildStatus::Merged {
            return Err(ServiceError::invalid(
                "duplicate",
                "is already merged into another child",
            ));
        }
        if let (Some(a), Some(b)) = (&survivor.personal_code, &dup.personal_code)
            && a != b
        {
            return Err(ServiceError::invalid(
                "duplicate",
                "has another personal code than this child; children with different personal codes are different children",
            ));
        }
        let now = self.now();
        let mut restores = Vec::new();
        let mut ops = Vec::new();

        // The survivor: lists the duplicate, loses the flag naming it, takes its code.
        let mut s_data = survivor_record.data.clone();
        let mut merged_from = ids_in(&s_data, "merged_from");
        merged_from.push(duplicate);
        s_data["merged_from"] = json!(merged_from);
        remove_id(&mut s_data, "possible_duplicate_of", duplicate);
        if survivor.personal_code.is_none() && dup.personal_code.is_some() {
            s_data["personal_code"] = dup_record.data["personal_code"].clone();
            if let Some(history) = dup_record.data.get("identifier_history") {
                s_data["identifier_history"] = history.clone();
            }
        }
        // The duplicate: merged, pointing at the survivor, without its flag.
        let mut d_data = dup_record.data.clone();
        d_data["status"] = json!(ChildStatus::Merged);
        d_data["merged_into"] = json!(survivor.id);
        d_data["merged_at"] = json!(now);
        if let Some(obj) = d_data.as_object_mut() {
            obj.remove("possible_duplicate_of");
        }
        for (record, data) in [(survivor_record, &s_data), (&dup_record, &d_data)] {
            // A child without open flags leaves the list of `GET /children/duplicates`.
            let index = if data.get("possible_duplicate_of").is_some() {
                record.index.clone()
            } else {
                None
            };
            let after = Record {
                data: data.clone(),
                index,
                ..record.clone()
            };
            change(&mut restores, &mut ops, record, Some(after));
        }

        // Every personal-code index entry of the duplicate points at the survivor.
        let mut codes: Vec<String> = dup
            .personal_code
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        if let Some(history) = dup_record
            .data
            .get("identifier_history")
            .and_then(Value::as_array)
        {
            codes.extend(
                history
                    .iter()
                    .filter_map(|h| h.get("personal_code").and_then(Value::as_str))
                    .filter_map(|c| crate::domain::PersonalCode::parse(c).ok())
                    .map(|c| c.as_str().to_owned()),
            );
        }
        codes.dedup();
        for code in codes {
            let key = keys::personal_code(&self.code_hash(&code));
            let Some(entry) = self.records().get(&key).await? else {
                continue;
            };
            if entry.data["child_id"].as_str() != Some(&duplicate.to_string()) {
                continue;
            }
            let mut data = entry.data.clone();
            data["child_id"] = json!(survivor.id);
            let after = Record {
                data,
                ..entry.clone()
            };
            change(&mut restores, &mut ops, &entry, Some(after));
        }

        // The duplicate leaves its names-and-birth-date index entry.
        let name_key = self.name_index_record_key(&dup);
        if let Some(entry) = self.records().get(&name_key).await? {
            let ids = ids_in(&entry.data, "child_ids");
            if ids.contains(&duplicate) {
                let mut data = entry.data.clone();
                remove_id(&mut data, "child_ids", duplicate);
                let after = data.get("child_ids").is_some().then(|| Record {
                    data,
                    ..entry.clone()
                });
                change(&mut restores, &mut ops, &entry, after);
            }
            // Other children flagged as possible duplicates of the duplicate (they share its
            // index entry) are now flagged against the survivor, the same person.
            for other in ids {
                if other == duplicate || other == survivor.id {
                    continue;
                }
                let Some(record) = self.records().get(&keys::child(other)).await? else {
                    continue;
                };
                let flags = ids_in(&record.data, "possible_duplicate_of");
                if !flags.contains(&duplicate) {
                    continue;
                }
                let mut renamed: Vec<ChildId> = Vec::new();
                for id in flags {
                    let id = if id == duplicate { survivor.id } else { id };
                    if !renamed.contains(&id) {
                        renamed.push(id);
                    }
                }
                let mut data = record.data.clone();
                data["possible_duplicate_of"] = json!(renamed);
                let after = Record {
                    data,
                    ..record.clone()
                };
                change(&mut restores, &mut ops, &record, Some(after));
            }
        }

        let merge_record = json!({
            "survivor": survivor.id,
            "duplicate": duplicate,
            "reason": reason,
            "merged_at": now,
            "merged_by": {"subject": principal.subject, "organisation": principal.organisation},
            "restore": restores.iter().map(restore_json).collect::<Vec<_>>(),
        });
        // Indexed with the merge itself (one write), so `GET /children/merges` lists it.
        ops.push(WriteOp::PutNew(
            Record::new(keys::merge(duplicate), merge_record)
                .with_index(keys::MERGES_INDEX, keys::merge_index(now, duplicate)),
        ));
        let (entries, audit_ops) = self
            .merge_audit_ops(principal, request_id, survivor.id, duplicate, reason)
            .await?;
        ops.extend(audit_ops);
        if ops.len() > 100 {
            return Err(ServiceError::invalid(
                "duplicate",
                "has too many identifiers to merge in one transaction",
            ));
        }
        Ok((ops, s_data, entries))
    }

    /// `POST /children/{id}/unmerge`: restores the child `id` and `duplicate` exactly as
    /// they were before their merge. Rules in the module documentation.
    pub async fn unmerge(
        &self,
        principal: &Principal,
        request_id: &str,
        id: ChildId,
        input: MergeInput,
    ) -> Result<Reply, ServiceError> {
        self.merge_target(principal, request_id, id).await?;
        let (duplicate, reason) = checked_input(&input, id)?;
        let not_merged = || ServiceError::invalid("duplicate", "is not merged into this child");
        for _ in 0..ATTEMPTS {
            let merge = self
                .records()
                .get(&keys::merge(duplicate))
                .await?
                .ok_or_else(not_merged)?;
            if merge.data["survivor"].as_str() != Some(&id.to_string()) {
                return Err(not_merged());
            }
            let restores = merge.data["restore"]
                .as_array()
                .ok_or_else(|| corrupt(&merge, "no restore list"))?
                .iter()
                .map(|v| restore_from_json(&merge, v))
                .collect::<Result<Vec<_>, _>>()?;
            let mut ops = Vec::new();
            let mut survivor_data = None;
            for r in restores {
                let current = self.records().get(&r.before.key).await?;
                let changed = match (&current, &r.after) {
                    (Some(c), Some(after)) => c.data != *after,
                    (None, None) => false,
                    _ => true,
                };
                if changed {
                    return Err(ServiceError::Conflict {
                        slug: "changed-since-merge",
                        detail: format!(
                            "{} was changed after the merge; un-merging would lose that change",
                            if r.before.key.pk.starts_with("CHILD#") {
                                "a merged child's record"
                            } else {
                                "an index entry of the merged children"
                            }
                        ),
                        existing_id: None,
                    });
                }
                if r.before.key == keys::child(id) {
                    survivor_data = Some(r.before.data.clone());
                }
                ops.push(match current {
                    Some(c) => WriteOp::PutVersioned {
                        record: r.before,
                        expected: c.version,
                    },
                    None => WriteOp::PutNew(r.before),
                });
            }
            let survivor_data = survivor_data.ok_or_else(|| corrupt(&merge, "no survivor"))?;
            ops.push(WriteOp::Delete {
                key: merge.key.clone(),
                expected: merge.version,
            });
            let (entries, audit_ops) = self
                .merge_audit_ops(principal, request_id, id, duplicate, &reason)
                .await?;
            ops.extend(audit_ops);
            // Each child's results go again under its own identity.
            let jobs = self.export_jobs(&[id, duplicate], ExportCause::Unmerge, &mut ops)?;
            match self.records().transact(ops).await {
                Ok(()) => {
                    self.archive_entries(&entries).await?;
                    self.queue_exports(&jobs).await;
                    let version = self
                        .records()
                        .get(&keys::child(id))
                        .await?
                        .map_or(0, |r| r.version);
                    return Ok(survivor_reply(principal, &survivor_data, version));
                }
                Err(StoreError::TransactionCancelled { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Store(StoreError::Conflict {
            pk: keys::merge(duplicate).pk,
            sk: keys::merge(duplicate).sk,
            expected: 0,
        }))
    }
}

impl<R: RecordStore> ChildrenService<R> {
    /// `GET /children/duplicates`: registry administrators page through the children
    /// flagged as possible duplicates that no merge has cleared, in id order, each as
    /// `{"child_id", "possible_duplicate_of": [ids]}` (within the caller's territory scope).
    /// Each listed child's audit chain records the read.
    pub async fn list_duplicates(
        &self,
        principal: &Principal,
        request_id: &str,
        query: &[(String, String)],
    ) -> Result<Reply, ServiceError> {
        crate::services::require_role(principal, MERGERS, "list possible duplicates")?;
        let q = ListQuery::parse(query, &[])?;
        let listing = Listing {
            pk: keys::DUPLICATE_FLAGS.into(),
            prefix: keys::duplicate_flag_index_prefix().into(),
            index: true,
        };
        let mut listed = Vec::new();
        let reply = list_page(self.records(), listing, &q, |record| {
            let child = child_of(record)?;
            let candidates = ids_in(&record.data, "possible_duplicate_of");
            if candidates.is_empty()
                || child.status == ChildStatus::Merged
                || !access::within_territory(principal, &child)
            {
                return Ok(None);
            }
            listed.push(child.id);
            Ok(Some(
                json!({"child_id": child.id, "possible_duplicate_of": candidates}),
            ))
        })
        .await?;
        for child in listed {
            let event = AuditEvent::all(child, AuditEntity::Child, AuditAction::Read);
            self.audit().record(principal, request_id, event).await?;
        }
        Ok(reply)
    }
}

impl<R: RecordStore> ChildrenService<R> {
    /// Adds the export jobs that send these children's results again to `ops` (the merge's
    /// own atomic write); refused when the write would grow past the store's limit.
    fn export_jobs(
        &self,
        children: &[ChildId],
        cause: ExportCause,
        ops: &mut Vec<WriteOp>,
    ) -> Result<Vec<crate::domain::ExportId>, ServiceError> {
        let Some(outbox) = self.outbox() else {
            return Ok(Vec::new());
        };
        let mut ids = Vec::new();
        for child in children {
            let jobs = outbox.for_child(*child, cause)?;
            ops.extend(jobs.writes);
            ids.extend(jobs.ids);
        }
        if ops.len() > crate::ports::records::MAX_TRANSACTION_OPS {
            return Err(ServiceError::invalid(
                "duplicate",
                "has too many identifiers to merge in one transaction",
            ));
        }
        Ok(ids)
    }

    async fn queue_exports(&self, ids: &[crate::domain::ExportId]) {
        if let Some(outbox) = self.outbox() {
            outbox.queue(ids).await;
        }
    }
}
