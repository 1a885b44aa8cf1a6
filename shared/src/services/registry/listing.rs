//! What every registry entity (organisations, specialists, support episodes) shares:
//! `ETag`/`If-Match` versions, list query parameters (filters, `limit`, `cursor`) and cursor
//! pagination over the record store.
//!
//! Pagination contract (documented in `docs/openapi.json`): a list answers
//! `{"items": [...], "next": "<cursor>"|null}` in a stable order (the store's sort-key order);
//! pass `next` back as `cursor` with the SAME filters to continue. One page examines at most
//! [`SCAN_BUDGET`] stored records, so a selective filter may return fewer than `limit` items
//! (even none) while `next` is still set: keep following `next` until it is `null`. A cursor
//! is bound to its list and filters; any other cursor is refused with a problem naming
//! `cursor`.

use crate::ports::{Record, RecordStore, SortKeyCondition, StoreError};
use crate::services::{Reply, ServiceError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Page size when the caller sends no `limit`.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest `limit` a caller may ask for.
pub const MAX_LIMIT: usize = 100;
/// Most stored records one page examines (bounds the work of a selective filter).
pub const SCAN_BUDGET: usize = 1000;

/// The `ETag` of a record version (`"3"`).
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// A stored record's payload with its `version` added: what the API returns.
pub fn view(data: &Value, version: u64) -> Value {
    let mut v = data.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("version".into(), version.into());
    }
    v
}

/// A 200 reply carrying the record and its `ETag`.
pub fn versioned_reply(status: u16, data: &Value, version: u64) -> Reply {
    Reply {
        status,
        location: None,
        etag: Some(etag(version)),
        body: view(data, version),
        replayed: false,
        file: None,
    }
}

/// Refuses a write whose `If-Match` version is not the stored one.
pub fn check_version(what: &str, stored: u64, expected: u64) -> Result<(), ServiceError> {
    if stored == expected {
        Ok(())
    } else {
        Err(ServiceError::PreconditionFailed(format!(
            "the {what} is at version {stored} (you sent If-Match \"{expected}\"); read it again and re-apply your change"
        )))
    }
}

/// Maps a lost race of a versioned write to 412, keeping every other store error.
pub fn concurrent(what: &str, error: StoreError) -> ServiceError {
    match error {
        StoreError::Conflict { .. } | StoreError::TransactionCancelled { .. } => {
            ServiceError::PreconditionFailed(format!(
                "the {what} was changed concurrently; read it again and re-apply your change"
            ))
        }
        other => other.into(),
    }
}

/// Decodes a stored payload, naming the record when it is unreadable.
pub fn decode<T: serde::de::DeserializeOwned>(record: &Record) -> Result<T, ServiceError> {
    Ok(crate::store::codec::from_data(record)?)
}

/// Encodes a value as a record payload.
pub fn encode<T: Serialize>(value: &T) -> Result<Value, ServiceError> {
    Ok(crate::store::codec::to_data(value)?)
}

/// `record` with its data replaced by `value` (key, index and expiry kept), to write back.
pub fn reencoded<T: Serialize>(record: Record, value: &T) -> Result<Record, ServiceError> {
    Ok(Record {
        data: encode(value)?,
        ..record
    })
}

/// The query parameters of a list request, checked against the list's filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Items per page (1..=[`MAX_LIMIT`]).
    pub limit: usize,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// Filters given, by name (each at most once).
    pub filters: BTreeMap<String, String>,
}

impl ListQuery {
    /// Parses `limit`, `cursor` and the filters named in `allowed`; an unknown or repeated
    /// parameter, a bad `limit` or an empty filter value is a validation error naming it.
    pub fn parse(query: &[(String, String)], allowed: &[&str]) -> Result<Self, ServiceError> {
        let mut limit = DEFAULT_LIMIT;
        let mut cursor = None;
        let mut filters = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        for (name, value) in query {
            let shown: String = name.chars().take(64).collect();
            if !seen.insert(name.as_str()) {
                return Err(ServiceError::invalid(shown, "is given more than once"));
            }
            match name.as_str() {
                "limit" => {
                    limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|l| (1..=MAX_LIMIT).contains(l))
                        .ok_or_else(|| {
                            ServiceError::invalid(
                                "limit",
                                format!("must be a whole number from 1 to {MAX_LIMIT}"),
                            )
                        })?;
                }
                "cursor" => cursor = Some(value.clone()),
                known if allowed.contains(&known) => {
                    if value.trim().is_empty() {
                        return Err(ServiceError::invalid(shown, "must not be empty"));
                    }
                    filters.insert(name.clone(), value.trim().to_owned());
                }
                _ => {
                    return Err(ServiceError::invalid(
                        shown,
                        format!(
                            "is not a parameter of this list (filters: {}; and limit, cursor)",
                            allowed.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(Self {
            limit,
            cursor,
            filters,
        })
    }

    /// A filter's value, if given.
    pub fn filter(&self, name: &str) -> Option<&str> {
        self.filters.get(name).map(String::as_str)
    }

    /// A filter parsed with `parse`; a value it refuses is a validation error naming the filter.
    pub fn parsed<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ServiceError> {
        self.filter(name)
            .map(|raw| parse(raw).map_err(|e| ServiceError::invalid(name, e.to_string())))
            .transpose()
    }
}

/// Where a list's records are stored: a partition of the table or of index `gsi1`, and a
/// sort-key prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Partition key.
    pub pk: String,
    /// Sort-key prefix of the listed records.
    pub prefix: String,
    /// Whether the partition is of the secondary index.
    pub index: bool,
}

/// What our cursors carry: the store's cursor and a fingerprint of the list and filters.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    q: String,
    s: String,
}

/// Walks a list page by page within [`SCAN_BUDGET`]; the caller filters each batch.
pub struct Pager<'a, R> {
    records: &'a R,
    listing: Listing,
    fingerprint: String,
    store_cursor: Option<String>,
    started: bool,
    scanned: usize,
}

impl<'a, R: RecordStore> Pager<'a, R> {
    /// Starts (or, with the query's cursor, resumes) a list; a cursor that is not ours or
    /// belongs to another list or other filters is refused.
    pub fn new(records: &'a R, listing: Listing, query: &ListQuery) -> Result<Self, ServiceError> {
        let fingerprint = fingerprint(&listing, &query.filters);
        let store_cursor = query
            .cursor
            .as_deref()
            .map(|raw| decode_cursor(raw, &fingerprint))
            .transpose()?;
        Ok(Self {
            records,
            listing,
            fingerprint,
            started: store_cursor.is_some(),
            store_cursor,
            scanned: 0,
        })
    }

    /// The next batch of at most `wanted` records, or `None` when the list is exhausted or
    /// this page's scan budget is spent.
    pub async fn next_batch(&mut self, wanted: usize) -> Result<Option<Vec<Record>>, ServiceError> {
        if wanted == 0
            || self.scanned >= SCAN_BUDGET
            || (self.started && self.store_cursor.is_none())
        {
            return Ok(None);
        }
        let limit = wanted.min(SCAN_BUDGET - self.scanned);
        let condition = SortKeyCondition::Prefix(self.listing.prefix.clone());
        let cursor = self.store_cursor.as_deref();
        let page = if self.listing.index {
            self.records
                .query_index(&self.listing.pk, &condition, limit, false, cursor)
                .await
        } else {
            self.records
                .query(&self.listing.pk, &condition, limit, false, cursor)
                .await
        }
        .map_err(|e| match e {
            StoreError::Invalid(reason) => ServiceError::invalid("cursor", reason),
            other => other.into(),
        })?;
        self.started = true;
        self.scanned += page.records.len();
        self.store_cursor = page.next;
        Ok(Some(page.records))
    }

    /// The list reply: the items and the cursor of the next page (`null` at the end).
    pub fn finish(self, items: Vec<Value>) -> Reply {
        let next = self
            .store_cursor
            .map(|s| encode_cursor(self.fingerprint, s));
        Reply::ok(json!({"items": items, "next": next}))
    }
}

/// Our cursor: the store's cursor `s` bound to the list and filters of `fingerprint`.
fn encode_cursor(fingerprint: String, s: String) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&Cursor { q: fingerprint, s }).unwrap_or_default())
}

/// The store's cursor inside one of ours, refused unless it was issued for the list and
/// filters of `fingerprint`.
fn decode_cursor(raw: &str, fingerprint: &str) -> Result<String, ServiceError> {
    let bad = || {
        ServiceError::invalid(
            "cursor",
            "is not a cursor this list issued for these filters; start again without it",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if cursor.q != fingerprint {
        return Err(bad());
    }
    Ok(cursor.s)
}

/// The cursor a list of `listing` filtered by `filters` issues for the store's cursor
/// `store_cursor`; for [`crate::fuzzing`].
pub(crate) fn issued_cursor(
    listing: &Listing,
    filters: &BTreeMap<String, String>,
    store_cursor: &str,
) -> String {
    encode_cursor(fingerprint(listing, filters), store_cursor.to_owned())
}

/// The store's cursor inside `raw`, as [`Pager::new`] reads it for `listing` and
/// `filters`; for [`crate::fuzzing`].
pub(crate) fn read_cursor(
    raw: &str,
    listing: &Listing,
    filters: &BTreeMap<String, String>,
) -> Result<String, ServiceError> {
    decode_cursor(raw, &fingerprint(listing, filters))
}

fn fingerprint(listing: &Listing, filters: &BTreeMap<String, String>) -> String {
    let text = serde_json::to_string(&json!({
        "pk": listing.pk, "prefix": listing.prefix, "index": listing.index, "filters": filters
    }))
    .unwrap_or_default();
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

/// Collects one page of a list: each record is turned into an item (or skipped) by `keep`.
pub async fn list_page<R: RecordStore>(
    records: &R,
    listing: Listing,
    query: &ListQuery,
    mut keep: impl FnMut(&Record) -> Result<Option<Value>, ServiceError>,
) -> Result<Reply, ServiceError> {
    let mut pager = Pager::new(records, listing, query)?;
    let mut items = Vec::new();
    while let Some(batch) = pager.next_batch(query.limit - items.len()).await? {
        for record in &batch {
            if let Some(item) = keep(record)? {
                items.push(item);
            }
        }
    }
    Ok(pager.finish(items))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    fn field_of(e: ServiceError) -> String {
        match e {
            ServiceError::Validation(errors) => errors[0].field.clone(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn list_queries_are_checked() {
        let ok = ListQuery::parse(&q(&[("kind", "school"), ("limit", "7")]), &["kind"]).unwrap();
        assert_eq!(ok.limit, 7);
        assert_eq!(ok.filter("kind"), Some("school"));
        assert_eq!(
            ListQuery::parse(&[], &["kind"]).unwrap().limit,
            DEFAULT_LIMIT
        );
        for bad in ["0", "101", "-1", "ten", ""] {
            assert_eq!(
                field_of(ListQuery::parse(&q(&[("limit", bad)]), &[]).unwrap_err()),
                "limit"
            );
        }
        assert_eq!(
            field_of(ListQuery::parse(&q(&[("colour", "red")]), &["kind"]).unwrap_err()),
            "colour"
        );
        assert_eq!(
            field_of(ListQuery::parse(&q(&[("kind", "a"), ("kind", "b")]), &["kind"]).unwrap_err()),
            "kind"
        );
        assert_eq!(
            field_of(ListQuery::parse(&q(&[("kind", " ")]), &["kind"]).unwrap_err()),
            "kind"
        );
        let parsed = ListQuery::parse(&q(&[("n", "x")]), &["n"]).unwrap();
        assert_eq!(
            field_of(parsed.parsed("n", str::parse::<u8>).unwrap_err()),
            "n"
        );
    }

    #[test]
    fn versions_are_checked() {
        assert!(check_version("organisation", 3, 3).is_ok());
        assert!(matches!(
            check_version("organisation", 3, 2),
            Err(ServiceError::PreconditionFailed(_))
        ));
        assert_eq!(etag(4), "\"4\"");
        assert_eq!(view(&json!({"a": 1}), 2), json!({"a": 1, "version": 2}));
    }
}
