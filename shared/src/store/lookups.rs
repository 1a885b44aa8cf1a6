//! Lookups every use case shares: a child by id, the children merged into one, a caller's
//! live break-the-glass grant. They return store errors; the use cases decide what a
//! missing record means.

use crate::domain::registry::SupportEpisode;
use crate::domain::{Child, ChildId, Principal, Role};
use crate::ports::{RecordStore, SortKeyCondition, StoreError};
use crate::store::codec::from_data;
use crate::store::keys;
use crate::store::query::query_index_all;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Loads a child from any record store.
pub async fn load_child<R: RecordStore>(
    records: &R,
    id: ChildId,
) -> Result<Option<Child>, StoreError> {
    let Some(record) = records.get(&keys::child(id)).await? else {
        return Ok(None);
    };
    serde_json::from_value(record.data)
        .map(Some)
        .map_err(|e| StoreError::Corrupt {
            pk: record.key.pk,
            sk: record.key.sk,
            reason: e.to_string(),
        })
}

/// The support episodes of a child (its own, not those of children merged into it), read
/// through the child's index (`CHILD#<id>`, sort keys `EPISODE#…`), in id order.
pub async fn child_episodes<R: RecordStore>(
    records: &R,
    id: ChildId,
) -> Result<Vec<SupportEpisode>, StoreError> {
    query_index_all(
        records,
        &keys::child_index(id),
        &SortKeyCondition::Prefix(keys::EPISODE_PREFIX.into()),
    )
    .await?
    .iter()
    .map(from_data)
    .collect()
}

/// The children merged into `id`, transitively (a merged child may itself have been the
/// survivor of an earlier merge); the risk profile of `id` includes their screenings.
pub async fn merged_ids<R: RecordStore>(
    records: &R,
    id: ChildId,
) -> Result<Vec<ChildId>, StoreError> {
    let mut found = Vec::new();
    let mut pending = vec![id];
    while let Some(next) = pending.pop() {
        let Some(record) = records.get(&keys::child(next)).await? else {
            continue;
        };
        for merged in ids_in(&record.data, "merged_from") {
            if merged != id && !found.contains(&merged) {
                found.push(merged);
                pending.push(merged);
            }
        }
    }
    Ok(found)
}

/// The child ids in the array `field` of a record's data (none if absent).
pub fn ids_in(data: &Value, field: &str) -> Vec<ChildId> {
    data.get(field)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default()
}

/// The survivor a merged child points at, for the 410 answer of reads of it.
pub fn merged_into(data: &Value) -> Option<String> {
    data.get("merged_into")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A stored grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Id of the grant.
    pub grant_id: String,
    /// The child.
    pub child_id: ChildId,
    /// Token subject of the holder.
    pub subject: String,
    /// Organisation of the holder.
    pub organisation: String,
    /// Roles the holder had when breaking the glass.
    pub roles: Vec<Role>,
    /// The reason given (trimmed).
    pub reason: String,
    /// When the glass was broken.
    pub granted_at: DateTime<Utc>,
    /// When the grant ends.
    pub expires_at: DateTime<Utc>,
    /// The request that broke the glass.
    pub request_id: String,
}

/// The holder part of a grant's key: unambiguous for any organisation and subject.
pub fn holder_hash(organisation: &str, subject: &str) -> String {
    let canonical = serde_json::to_vec(&[organisation, subject]).unwrap_or_default();
    hex::encode(Sha256::digest(canonical))
}

/// The caller's grant for the child, if it is still live at `now`.
pub async fn live_grant<R: RecordStore>(
    records: &R,
    principal: &Principal,
    child: ChildId,
    now: DateTime<Utc>,
) -> Result<Option<Grant>, StoreError> {
    let key = keys::break_glass_grant(
        child,
        &holder_hash(&principal.organisation, &principal.subject),
    );
    let Some(record) = records.get(&key).await? else {
        return Ok(None);
    };
    let grant: Grant = serde_json::from_value(record.data).map_err(|e| StoreError::Corrupt {
        pk: key.pk.clone(),
        sk: key.sk.clone(),
        reason: format!("break-the-glass grant: {e}"),
    })?;
    let holder = grant.subject == principal.subject
        && grant.organisation == principal.organisation
        && grant.child_id == child;
    Ok((holder && grant.expires_at > now).then_some(grant))
}
