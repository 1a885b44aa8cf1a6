//! Record data ↔ values: the one place that reads and writes `Record.data` generically,
//! and names a record that breaks its layout as corrupt.

use crate::domain::ChildId;
use crate::ports::{Record, StoreError};
use serde::Serialize;
use serde_json::Value;

/// A value as a record's data.
pub fn to_data<T: Serialize>(child: &T) -> Result<Value, StoreError> {
    serde_json::to_value(child).map_err(StoreError::Encode)
}

/// A record's data as a value; a record that does not parse is corrupt.
pub fn from_data<T: serde::de::DeserializeOwned>(record: &Record) -> Result<T, StoreError> {
    serde_json::from_value(record.data.clone()).map_err(|e| corrupt(record, &e.to_string()))
}

/// The error of a stored record that breaks its layout.
pub fn corrupt(record: &Record, reason: &str) -> StoreError {
    StoreError::Corrupt {
        pk: record.key.pk.clone(),
        sk: record.key.sk.clone(),
        reason: reason.into(),
    }
}

/// The child id in field `field` of a record.
pub fn child_id_of(record: &Record, field: &str) -> Result<ChildId, StoreError> {
    record
        .data
        .get(field)
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| corrupt(record, "no valid child_id"))
}

/// The children an index entry lists (`child_ids`).
pub fn ids_of(record: &Record) -> Result<Vec<ChildId>, StoreError> {
    record
        .data
        .get("child_ids")
        .and_then(Value::as_array)
        .ok_or_else(|| corrupt(record, "no child_ids"))?
        .iter()
        .map(|v| {
            v.as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| corrupt(record, "a child id is invalid"))
        })
        .collect()
}
