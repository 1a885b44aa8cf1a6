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
