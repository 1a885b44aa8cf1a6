//! Entry points for the fuzz targets (`fuzz/`) and the property runs
//! (`tests/tests/properties.rs`) into parsers that are private to their module: the page
//! cursors of the stores and of the registry lists. Each function calls the very code its
//! module runs; nothing is copied. Not an API (hidden from the documentation): it may
//! change with the fuzz targets. The other parsers under test are public already
//! (`PersonalCode::parse`, `Atvk::parse`, `intake::reader::open_rows`,
//! `Engine::score_lines`, `inbound::http::parse_json` and `parse_if_match`,
//! `Authenticator::authenticate`, the catalogue's `ListQuery::from_params`).

use crate::services::ServiceError;
use crate::services::registry::listing::{self, Listing};
use std::collections::BTreeMap;

/// The cursor a registry list of `listing` filtered by `filters` gives for the store's
/// cursor `store_cursor` (the `next` of a page).
pub fn registry_list_cursor(
    listing: &Listing,
    filters: &BTreeMap<String, String>,
    store_cursor: &str,
) -> String {
    listing::issued_cursor(listing, filters, store_cursor)
}

/// The store's cursor inside a registry list's `cursor` parameter `raw`, or the validation
/// error the list answers.
pub fn registry_list_cursor_decode(
    raw: &str,
    listing: &Listing,
    filters: &BTreeMap<String, String>,
) -> Result<String, ServiceError> {
    listing::read_cursor(raw, listing, filters)
}

/// The embedded record store's cursor after `record` in a query of partition `part` (on the
/// index when `on_index`).
#[cfg(feature = "embedded")]
pub fn embedded_record_cursor(record: &crate::ports::Record, on_index: bool, part: &str) -> String {
    crate::adapters::embedded::records::Cursor::encoded_after(record, on_index, part)
}

/// The last record's key and index sort key in an embedded record store's cursor, read for
/// a query of partition `part` (on the index when `on_index`).
#[cfg(feature = "embedded")]
pub fn embedded_record_cursor_decode(
    raw: &str,
    on_index: bool,
    part: &str,
) -> Result<(crate::ports::Key, Option<String>), crate::ports::StoreError> {
    crate::adapters::embedded::records::Cursor::decoded(raw, on_index, part)
}

/// The directory blob store's listing cursor after object key `after`.
#[cfg(feature = "embedded")]
pub fn dir_blob_cursor(after: &str) -> String {
    crate::adapters::embedded::blobs::ListCursor::encode(after)
}

/// The object key inside a directory blob store's listing cursor.
#[cfg(feature = "embedded")]
pub fn dir_blob_cursor_decode(raw: &str) -> Result<String, crate::ports::BlobError> {
    crate::adapters::embedded::blobs::ListCursor::decode(raw)
}

/// The DynamoDB store's cursor after `record` (on the index when `on_index`).
#[cfg(feature = "aws")]
pub fn dynamodb_cursor(record: &crate::ports::Record, on_index: bool) -> String {
    crate::adapters::aws::dynamodb::Cursor::encoded_after(record, on_index)
}

/// The `ExclusiveStartKey` a DynamoDB store's cursor gives for a query of partition `pk` (on
/// the index when `on_index`): its string attributes, sorted by name.
#[cfg(feature = "aws")]
pub fn dynamodb_cursor_start_key(
    raw: &str,
    on_index: bool,
    pk: &str,
) -> Result<Vec<(String, String)>, crate::ports::StoreError> {
    crate::adapters::aws::dynamodb::Cursor::start_key(raw, on_index, pk)
}

/// The S3 blob store's listing cursor wrapping S3's continuation token `token`.
#[cfg(feature = "aws")]
pub fn s3_cursor(token: &str) -> String {
    crate::adapters::aws::s3::encode_cursor(token)
}

/// The continuation token inside an S3 blob store's listing cursor.
#[cfg(feature = "aws")]
pub fn s3_cursor_decode(raw: &str) -> Result<String, crate::ports::BlobError> {
    crate::adapters::aws::s3::decode_cursor(raw)
}
