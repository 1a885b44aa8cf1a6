//! `GET /children/merges`: the merges still in effect, newest first, for registry
//! administrators (so a merge made on any day can be undone with `POST
//! /children/{id}/unmerge`), and the backfill that indexes merge records written before
//! the index existed.
//!
//! Each merge record (`MERGE#<duplicate>`) is indexed under `MERGES` in `gsi1` by the merge
//! itself (`merge.rs`, same atomic write); an un-merge deletes the record and so takes it
//! out of the list. A territory-scoped administrator sees only merges whose survivor lies
//! in the territory (as `GET /children/duplicates`). The list names children (ids, the
//! reason typed at the merge), so each listed merge records a read in both children's
//! audit chains.

use crate::domain::{ChildId, Principal};
use crate::ports::{Record, RecordStore, StoreError};
use crate::services::audit::{AuditAction, AuditEntity, AuditEvent};
use crate::services::children::ChildrenService;
use crate::services::merge::MERGERS;
use crate::services::registry::listing::{ListQuery, Listing, Pager};
use crate::services::{Reply, ServiceError, access};
use crate::store::codec::corrupt;
use crate::store::keys;
use serde_json::{Value, json};

fn child_id(record: &Record, field: &str) -> Result<ChildId, ServiceError> {
    record.data[field]
        .as_str()
        .and_then(|raw| raw.parse().ok())
        .ok_or_else(|| corrupt(record, &format!("merge record without a valid {field}")).into())
}

/// The listed form of a merge record.
fn merge_item(record: &Record, survivor: ChildId, duplicate: ChildId) -> Value {
    json!({
        "survivor": survivor,
        "duplicate": duplicate,
        "reason": record.data["reason"],
        "merged_at": record.data["merged_at"],
        "merged_by": record.data["merged_by"],
    })
}

impl<R: RecordStore> ChildrenService<R> {
    /// `GET /children/merges` (`limit`, `cursor`): the merges in effect, newest first, each
    /// `{"survivor", "duplicate", "reason", "merged_at", "merged_by"}`.
    pub async fn list_merges(
        &self,
        principal: &Principal,
        request_id: &str,
        query: &[(String, String)],
    ) -> Result<Reply, ServiceError> {
        crate::services::require_role(principal, MERGERS, "list merges")?;
        let q = ListQuery::parse(query, &[])?;
        let listing = Listing {
            pk: keys::MERGES_INDEX.into(),
            prefix: String::new(),
            index: true,
        };
        let mut pager = Pager::new(self.records(), listing, &q)?;
        let mut items = Vec::new();
        let mut named = Vec::new();
        while let Some(batch) = pager.next_batch(q.limit - items.len()).await? {
            let mut pairs = Vec::with_capacity(batch.len());
            for record in &batch {
                pairs.push((
                    child_id(record, "survivor")?,
                    child_id(record, "duplicate")?,
                ));
            }
            let survivor_keys: Vec<_> = pairs.iter().map(|(s, _)| keys::child(*s)).collect();
            let survivors = self.records().get_many(&survivor_keys).await?;
            for ((record, (survivor, duplicate)), stored) in batch.iter().zip(pairs).zip(survivors)
            {
                let Some(stored) = stored else { continue };
                let child: crate::domain::Child =
                    crate::services::registry::listing::decode(&stored)?;
                if !access::within_territory(principal, &child) {
                    continue;
                }
                items.push(merge_item(record, survivor, duplicate));
                named.extend([survivor, duplicate]);
            }
        }
        let reply = pager.finish(items);
        for child in named {
            let event = AuditEvent::all(child, AuditEntity::Child, AuditAction::Read);
            self.audit().record(principal, request_id, event).await?;
        }
        Ok(reply)
    }
}

/// Indexes the merge records written before `GET /children/merges` existed (they lack the
/// `MERGES` entry): every merged child of the register whose merge record has no index
/// entry gets it, with the record's `merged_at`. Idempotent; a record changed meanwhile
/// (un-merged) is skipped. Returns how many records it indexed. `ravis migrate merges`
/// runs it on the embedded backend.
pub async fn backfill_merge_index<R: RecordStore>(records: &R) -> Result<u64, ServiceError> {
    let children: Vec<ChildId> = crate::store::register::every_child(records)
        .await?
        .into_iter()
        .collect();
    let mut indexed = 0;
    for chunk in children.chunks(100) {
        let merge_keys: Vec<_> = chunk.iter().map(|id| keys::merge(*id)).collect();
        for (id, found) in chunk.iter().zip(records.get_many(&merge_keys).await?) {
            let Some(record) = found else { continue };
            if record.index.is_some() {
                continue;
            }
            let merged_at = record.data["merged_at"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc))
                .ok_or_else(|| corrupt(&record, "merge record without merged_at"))?;
            let version = record.version;
            let indexed_record =
                record.with_index(keys::MERGES_INDEX, keys::merge_index(merged_at, *id));
            match records.put_versioned(indexed_record, version).await {
                Ok(_) => indexed += 1,
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(indexed)
}
