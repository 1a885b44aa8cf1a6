//! The register of children by territory: one entry per child under the territory it lives
//! in (`keys::register_entry`), written in the same atomic write as the child and moved when
//! its address moves to another territory. Every write of a child's record goes with
//! [`new_entry`] (a new child) or [`moved`] (a changed one).

use crate::domain::Child;
use crate::ports::{Record, RecordStore, StoreError, WriteOp};
use crate::store::keys;
use serde_json::json;

/// The entry of a new child.
pub fn new_entry(child: &Child) -> WriteOp {
    WriteOp::PutNew(Record::new(
        keys::register_entry(child.atvk.as_ref(), child.id),
        json!({"child_id": child.id}),
    ))
}

/// The writes that move a child's entry when `after` lives in another territory than
/// `before`: none if it does not; the old entry deleted if it is there (children registered
/// before the register have none) and the new one created if it is not.
pub async fn moved<R: RecordStore>(
    records: &R,
    before: &Child,
    after: &Child,
) -> Result<Vec<WriteOp>, StoreError> {
    let old = keys::register_entry(before.atvk.as_ref(), before.id);
    let new = keys::register_entry(after.atvk.as_ref(), after.id);
    if old == new {
        return Ok(Vec::new());
    }
    let mut ops = Vec::new();
    if let Some(stored) = records.get(&old).await? {
        ops.push(WriteOp::Delete {
            key: old,
            expected: stored.version,
        });
    }
    if records.get(&new).await?.is_none() {
        ops.push(new_entry(after));
    }
    Ok(ops)
}

/// Every child in the register: the entries of `REGISTER#none` and of every possible
/// territory code (`0000`–`9999`), queried a few partitions at a time. The port has no scan,
/// so this is how a batch job (the analytics lake, `services::lake`) enumerates children on
/// either backend: 10,001 queries, nearly all of empty partitions. A child appears once
/// (its entry moves with its address); merged children are still listed (callers skip them
/// by status). Children registered before the register was introduced and not written
/// since have no entry and are not listed.
pub async fn every_child<R: RecordStore>(
    records: &R,
) -> Result<std::collections::BTreeSet<crate::domain::ChildId>, StoreError> {
    use futures::{StreamExt, TryStreamExt};
    let entries: Vec<Vec<Record>> = futures::stream::iter(keys::register_partitions())
        .map(|pk| async move {
            crate::store::query::query_all(
                records,
                &pk,
                &crate::ports::SortKeyCondition::Prefix(keys::REGISTER_CHILD_PREFIX.into()),
            )
            .await
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    let mut children = std::collections::BTreeSet::new();
    for record in entries.iter().flatten() {
        children.insert(crate::store::codec::child_id_of(record, "child_id")?);
    }
    Ok(children)
}
