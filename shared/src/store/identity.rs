//! The identity indexes: children's personal codes (`PCODE#`) and names with birth date
//! (`CHILDNAME#`), and representatives' personal codes, each under a keyed hash with its
//! own domain label (the three labels are here together, so none is reused by accident);
//! the child indexes are shared by `POST /children`, merges and partner files, so each
//! finds what the others registered.

use crate::domain::{ChildId, KeyedHasher};
use crate::ports::{Key, Record, RecordStore, StoreError, WriteOp};
use crate::store::codec::ids_of;
use crate::store::keys;
use chrono::NaiveDate;

/// Domain label of the keyed hash that indexes personal codes.
pub const CODE_INDEX_DOMAIN: &str = "ravis/personal-code-index/v1";
/// Domain label of the keyed hash of names and birth date (children without a code).
pub const NAME_INDEX_DOMAIN: &str = "ravis/child-name-index/v1";
/// Domain label of the keyed hash that indexes legal representatives' personal codes.
pub const REPRESENTATIVE_CODE_DOMAIN: &str = "ravis/representative-code-index/v1";

/// The names-and-birth-date key of the `CHILDNAME#` index (hashed before use): lower-cased
/// trimmed names and the birth date. Children without a personal code registered through
/// `POST /children` and through partner files share this index, so each finds the other.
pub fn name_index_key(given_name: &str, family_name: &str, birth_date: NaiveDate) -> String {
    format!(
        "{}\0{}\0{}",
        given_name.trim().to_lowercase(),
        family_name.trim().to_lowercase(),
        birth_date
    )
}

/// The key of the names-and-birth-date index entry (`CHILDNAME#<keyed hash>`) of these
/// details; `hasher` is keyed with the identity key under [`NAME_INDEX_DOMAIN`].
pub fn name_index_entry(
    hasher: &KeyedHasher,
    given_name: &str,
    family_name: &str,
    birth_date: NaiveDate,
) -> Key {
    keys::child_name_index(&hasher.hash(&name_index_key(given_name, family_name, birth_date)))
}

/// The write taking a child out of the names-and-birth-date index entry `key` (none if it
/// is not listed there, e.g. a coded child registered before coded children were indexed).
pub async fn name_index_leave<R: RecordStore>(
    records: &R,
    key: &Key,
    child: ChildId,
) -> Result<Option<WriteOp>, StoreError> {
    let Some(entry) = records.get(key).await? else {
        return Ok(None);
    };
    let mut ids = ids_of(&entry)?;
    if !ids.contains(&child) {
        return Ok(None);
    }
    ids.retain(|c| *c != child);
    Ok(Some(if ids.is_empty() {
        WriteOp::Delete {
            key: key.clone(),
            expected: entry.version,
        }
    } else {
        WriteOp::PutVersioned {
            record: Record::new(key.clone(), serde_json::json!({"child_ids": ids})),
            expected: entry.version,
        }
    }))
}

/// The write adding a child to the names-and-birth-date index entry `key`, and the children
/// already listed there (the candidates a new code-less child is flagged against).
pub async fn name_index_join<R: RecordStore>(
    records: &R,
    key: Key,
    child: ChildId,
) -> Result<(WriteOp, Vec<ChildId>), StoreError> {
    let existing = records.get(&key).await?;
    let already: Vec<ChildId> = match &existing {
        Some(record) => ids_of(record)?,
        None => Vec::new(),
    };
    let mut ids = already.clone();
    ids.push(child);
    let record = Record::new(key, serde_json::json!({"child_ids": ids}));
    let write = match existing {
        None => WriteOp::PutNew(record),
        Some(r) => WriteOp::PutVersioned {
            record,
            expected: r.version,
        },
    };
    Ok((write, already))
}
