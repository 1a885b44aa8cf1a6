//! DynamoDB record store: the single table behind [`RecordStore`].
//!
//! Item layout (documented in `docs/DATA_MODEL.md`, "Storage mapping"):
//! `pk` (S, hash key), `sk` (S, range key), `gsi1pk`/`gsi1sk` (S, keys of the sparse
//! index `gsi1`, present only on indexed records), `version` (N), `expires_at` (N, the
//! table's TTL attribute, present only on expiring records), `data` (M, the JSON payload
//! as native DynamoDB types).
//!
//! Numbers: JSON integers map to N exactly within i64/u64. Floats are written in their
//! shortest round-trip form and read back as the same `f64`; DynamoDB stores numbers as
//! decimals, so a float with an integral value (`2.0`) may come back as the integer `2`.
//! Finite floats outside DynamoDB's range (magnitude below 1e-130 or from 1e126 up) are
//! rejected as [`StoreError::Invalid`]. Strings, booleans, nulls, arrays and objects map
//! to S, BOOL, NULL, L and M; DynamoDB limits nesting to 32 levels and items to 400 KB.
//!
//! Expiry: DynamoDB's TTL deletes expired items lazily (up to days later), so every read
//! and every condition treats an item with `expires_at < now` as absent.

use super::opaque;
use crate::ports::clock::{Clock, SystemClock};
use crate::ports::records::{
    IndexKey, Key, MAX_TRANSACTION_OPS, Page, Record, RecordStore, SortKeyCondition, StoreError,
    WriteOp,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put,
    ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A DynamoDB item as the SDK represents it.
pub type Item = HashMap<String, AttributeValue>;

/// Name of the secondary index.
pub const INDEX_NAME: &str = "gsi1";

/// Attribute names of the single-table layout.
pub mod attr {
    /// Partition key (table hash key).
    pub const PK: &str = "pk";
    /// Sort key (table range key).
    pub const SK: &str = "sk";
    /// Secondary index partition key.
    pub const GSI1PK: &str = "gsi1pk";
    /// Secondary index sort key.
    pub const GSI1SK: &str = "gsi1sk";
    /// Optimistic-concurrency version.
    pub const VERSION: &str = "version";
    /// Expiry in Unix seconds; the table's TTL attribute.
    pub const EXPIRES_AT: &str = "expires_at";
    /// The payload.
    pub const DATA: &str = "data";
}

// Condition fragments. Attribute names go through placeholders because `data` and
// other short words are DynamoDB reserved words.
const LIVE: &str = "(attribute_not_exists(#exp) OR #exp >= :now)";
const ABSENT_OR_EXPIRED: &str = "attribute_not_exists(#pk) OR #exp < :now";

/// Keys per `BatchGetItem` request (DynamoDB's limit).
const BATCH_GET_KEYS: usize = 100;
/// Requests for one chunk of keys before [`RecordStore::get_many`] gives up on the keys
/// DynamoDB keeps answering as `UnprocessedKeys` (throttled; the caller retries later).
const BATCH_GET_ROUNDS: u32 = 8;

/// The pause before asking again for unprocessed keys: 25 ms doubling per round, at most 1 s
/// (the SDK's own retries of a failed request come on top).
fn batch_get_pause(round: u32) -> Duration {
    Duration::from_millis((25u64 << round.min(6)).min(1000))
}

/// The [`RecordStore`] on one DynamoDB table.
#[derive(Clone)]
pub struct DynamoRecordStore {
    client: super::Lazy<Client>,
    table: String,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for DynamoRecordStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoRecordStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl DynamoRecordStore {
    /// A store on `table`, judging expiry by the system clock.
    pub fn new(client: impl Into<super::Lazy<Client>>, table: impl Into<String>) -> Self {
        Self {
            client: client.into(),
            table: table.into(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Judges expiry by this clock instead (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    async fn run_query(
        &self,
        on_index: bool,
        pk: &str,
        condition: &SortKeyCondition,
        limit: usize,
        descending: bool,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        crate::ports::records::check_page_limit(limit)?;
        let (pk_attr, sk_attr) = if on_index {
            (attr::GSI1PK, attr::GSI1SK)
        } else {
            (attr::PK, attr::SK)
        };
        let mut names = HashMap::from([
            ("#pk".to_owned(), pk_attr.to_owned()),
            ("#exp".to_owned(), attr::EXPIRES_AT.to_owned()),
        ]);
        let mut values = HashMap::from([
            (":pk".to_owned(), AttributeValue::S(pk.to_owned())),
            (":now".to_owned(), number(self.now())),
        ]);
        let key_condition = match condition {
            SortKeyCondition::All => "#pk = :pk",
            // begins_with rejects an empty operand; every key begins with "".
            SortKeyCondition::Prefix(prefix) if prefix.is_empty() => "#pk = :pk",
            SortKeyCondition::Prefix(prefix) => {
                names.insert("#sk".to_owned(), sk_attr.to_owned());
                values.insert(":prefix".to_owned(), AttributeValue::S(prefix.clone()));
                "#pk = :pk AND begins_with(#sk, :prefix)"
            }
            // DynamoDB rejects an inverted BETWEEN; the range is simply empty.
            SortKeyCondition::Between(low, high) if low > high => {
                return Ok(Page {
                    records: Vec::new(),
                    next: None,
                });
            }
            // Every key sorts at or after "": DynamoDB takes no empty key value, so an
            // empty lower bound is only an upper bound (as the embedded store reads it).
            SortKeyCondition::Between(low, high) if low.is_empty() => {
                names.insert("#sk".to_owned(), sk_attr.to_owned());
                values.insert(":high".to_owned(), AttributeValue::S(high.clone()));
                "#pk = :pk AND #sk <= :high"
            }
            SortKeyCondition::Between(low, high) => {
                names.insert("#sk".to_owned(), sk_attr.to_owned());
                values.insert(":low".to_owned(), AttributeValue::S(low.clone()));
                values.insert(":high".to_owned(), AttributeValue::S(high.clone()));
                "#pk = :pk AND #sk BETWEEN :low AND :high"
            }
        };
        let mut start = cursor
            .map(|c| Cursor::decode(c)?.into_start_key(on_index, pk))
            .transpose()?;

        // Ask for one record more than the page so that `next` is only set when another
        // live record really follows. The expiry filter runs after `Limit`, so a response
        // may be short with a `LastEvaluatedKey`: keep reading until the page is full or
        // the partition ends.
        let mut records = Vec::new();
        loop {
            let wanted = limit + 1 - records.len();
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(on_index.then(|| INDEX_NAME.to_owned()))
                .key_condition_expression(key_condition)
                .filter_expression(LIVE)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(!descending)
                .limit(i32::try_from(wanted).unwrap_or(i32::MAX))
                // Global secondary indexes only offer eventually consistent reads.
                .consistent_read(!on_index)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| fail(classify(e)))?;
            for item in output.items.unwrap_or_default() {
                records.push(Record::try_from(item)?);
            }
            match output.last_evaluated_key {
                Some(key) if records.len() <= limit => start = Some(key),
                _ => break,
            }
        }
        let next = if records.len() > limit {
            records.truncate(limit);
            records
                .last()
                .map(|last| Cursor::after(last, on_index).encode())
        } else {
            None
        };
        Ok(Page { records, next })
    }
}

impl RecordStore for DynamoRecordStore {
    async fn get(&self, key: &Key) -> Result<Option<Record>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| fail(classify(e)))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let record = Record::try_from(item)?;
        Ok(record
            .expires_at
            .is_none_or(|at| at >= self.now())
            .then_some(record))
    }

    /// `BatchGetItem`, 100 distinct keys a request, strongly consistent; keys answered as
    /// `UnprocessedKeys` are asked for again after a pause that doubles each round.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Record>>, StoreError> {
        if let Some(key) = keys.iter().find(|k| k.pk.is_empty() || k.sk.is_empty()) {
            return Err(StoreError::Invalid(format!(
                "key parts are not empty strings ({:?}/{:?})",
                key.pk, key.sk
            )));
        }
        // DynamoDB refuses a request that names a key twice.
        let mut seen = HashSet::with_capacity(keys.len());
        let distinct: Vec<&Key> = keys.iter().filter(|k| seen.insert(*k)).collect();
        let now = self.now();
        let mut found: HashMap<Key, Record> = HashMap::with_capacity(distinct.len());
        for chunk in distinct.chunks(BATCH_GET_KEYS) {
            let mut pending: Vec<Item> = chunk.iter().map(|k| key_item(k)).collect();
            let mut round = 0;
            while !pending.is_empty() {
                if round == BATCH_GET_ROUNDS {
                    return Err(StoreError::Unavailable(
                        format!(
                            "{} key(s) still unprocessed after {BATCH_GET_ROUNDS} BatchGetItem requests",
                            pending.len()
                        )
                        .into(),
                    ));
                }
                if round > 0 {
                    tokio::time::sleep(batch_get_pause(round - 1)).await;
                }
                round += 1;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Invalid(format!("incomplete batch read: {e}")))?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| fail(classify(e)))?;
                let items = output
                    .responses
                    .and_then(|mut tables| tables.remove(&self.table))
                    .unwrap_or_default();
                for item in items {
                    let record = Record::try_from(item)?;
                    if record.expires_at.is_none_or(|at| at >= now) {
                        found.insert(record.key.clone(), record);
                    }
                }
                pending = output
                    .unprocessed_keys
                    .and_then(|mut tables| tables.remove(&self.table))
                    .map(|unprocessed| unprocessed.keys)
                    .unwrap_or_default();
            }
        }
        Ok(keys.iter().map(|key| found.get(key).cloned()).collect())
    }

    async fn put_new(&self, mut record: Record) -> Result<(), StoreError> {
        record.version = 1;
        let item = Item::try_from(&record)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(ABSENT_OR_EXPIRED)
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#exp", attr::EXPIRES_AT)
            .expression_attribute_values(":now", number(self.now()))
            .send()
            .await;
        match result.map_err(classify) {
            Ok(_) => Ok(()),
            Err(Failure::ConditionFailed) => Err(StoreError::AlreadyExists {
                pk: record.key.pk,
                sk: record.key.sk,
            }),
            Err(other) => Err(fail(other)),
        }
    }

    async fn put_versioned(&self, mut record: Record, expected: u64) -> Result<u64, StoreError> {
        record.version = next_version(expected)?;
        let item = Item::try_from(&record)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(format!("#v = :expected AND {LIVE}"))
            .set_expression_attribute_names(Some(versioned_names()))
            .set_expression_attribute_values(Some(versioned_values(expected, self.now())))
            .send()
            .await;
        match result.map_err(classify) {
            Ok(_) => Ok(record.version),
            Err(Failure::ConditionFailed) => Err(StoreError::Conflict {
                pk: record.key.pk,
                sk: record.key.sk,
                expected,
            }),
            Err(other) => Err(fail(other)),
        }
    }

    async fn query(
        &self,
        pk: &str,
        condition: &SortKeyCondition,
        limit: usize,
        descending: bool,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        self.run_query(false, pk, condition, limit, descending, cursor)
            .await
    }

    async fn query_index(
        &self,
        pk: &str,
        condition: &SortKeyCondition,
        limit: usize,
        descending: bool,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        self.run_query(true, pk, condition, limit, descending, cursor)
            .await
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        if ops.len() > MAX_TRANSACTION_OPS {
            return Err(StoreError::Invalid(format!(
                "an atomic write holds at most {MAX_TRANSACTION_OPS} operations, not {}",
                ops.len()
            )));
        }
        let mut seen = HashSet::new();
        for op in &ops {
            let key = op.key();
            if !seen.insert(key) {
                return Err(StoreError::Invalid(format!(
                    "an atomic write names {}/{} more than once",
                    key.pk, key.sk
                )));
            }
        }
        let now = self.now();
        let items = ops
            .into_iter()
            .map(|op| self.transact_item(op, now))
            .collect::<Result<Vec<_>, _>>()?;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                    err.as_service_error()
                {
                    // Reasons come in operation order; `None` marks operations that were fine.
                    let failed = cancelled
                        .cancellation_reasons()
                        .iter()
                        .position(|r| r.code() == Some("ConditionalCheckFailed"));
                    if let Some(index) = failed {
                        return Err(StoreError::TransactionCancelled { index });
                    }
                }
                // Conflicts with concurrent transactions and throttling are retryable.
                Err(fail(classify(err)))
            }
        }
    }
}

impl DynamoRecordStore {
    fn transact_item(&self, op: WriteOp, now: i64) -> Result<TransactWriteItem, StoreError> {
        let built = match op {
            WriteOp::PutNew(mut record) => {
                record.version = 1;
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(Item::try_from(&record)?))
                    .condition_expression(ABSENT_OR_EXPIRED)
                    .expression_attribute_names("#pk", attr::PK)
                    .expression_attribute_names("#exp", attr::EXPIRES_AT)
                    .expression_attribute_values(":now", number(now))
                    .build();
                put.map(|p| TransactWriteItem::builder().put(p).build())
            }
            WriteOp::PutVersioned {
                mut record,
                expected,
            } => {
                record.version = next_version(expected)?;
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(Item::try_from(&record)?))
                    .condition_expression(format!("#v = :expected AND {LIVE}"))
                    .set_expression_attribute_names(Some(versioned_names()))
                    .set_expression_attribute_values(Some(versioned_values(expected, now)))
                    .build();
                put.map(|p| TransactWriteItem::builder().put(p).build())
            }
            WriteOp::Delete { key, expected } => {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_item(&key)))
                    .condition_expression(format!("#v = :expected AND {LIVE}"))
                    .set_expression_attribute_names(Some(versioned_names()))
                    .set_expression_attribute_values(Some(versioned_values(expected, now)))
                    .build();
                delete.map(|d| TransactWriteItem::builder().delete(d).build())
            }
            WriteOp::Check { key, expected } => {
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_item(&key)))
                    .condition_expression(format!("#v = :expected AND {LIVE}"))
                    .set_expression_attribute_names(Some(versioned_names()))
                    .set_expression_attribute_values(Some(versioned_values(expected, now)))
                    .build();
                check.map(|c| TransactWriteItem::builder().condition_check(c).build())
            }
        };
        // The builders only fail when a required field is missing, which the code above sets.
        built.map_err(|e| StoreError::Invalid(format!("incomplete transaction item: {e}")))
    }
}

/// Creates the single table with its index and TTL, and waits until it is active.
/// For tests and local tooling; deployed tables come from the infrastructure template.
pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
    let key = |attribute: &str, key_type| {
        KeySchemaElement::builder()
            .attribute_name(attribute)
            .key_type(key_type)
            .build()
    };
    let string_attr = |attribute: &str| {
        AttributeDefinition::builder()
            .attribute_name(attribute)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let incomplete = |e: aws_sdk_dynamodb::error::BuildError| {
        StoreError::Invalid(format!("incomplete table definition: {e}"))
    };
    let index = GlobalSecondaryIndex::builder()
        .index_name(INDEX_NAME)
        .key_schema(key(attr::GSI1PK, KeyType::Hash).map_err(incomplete)?)
        .key_schema(key(attr::GSI1SK, KeyType::Range).map_err(incomplete)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(incomplete)?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(attr::PK, KeyType::Hash).map_err(incomplete)?)
        .key_schema(key(attr::SK, KeyType::Range).map_err(incomplete)?)
        .attribute_definitions(string_attr(attr::PK).map_err(incomplete)?)
        .attribute_definitions(string_attr(attr::SK).map_err(incomplete)?)
        .attribute_definitions(string_attr(attr::GSI1PK).map_err(incomplete)?)
        .attribute_definitions(string_attr(attr::GSI1SK).map_err(incomplete)?)
        .global_secondary_indexes(index)
        .send()
        .await
        .map_err(|e| fail(classify(e)))?;
    // TTL can only be switched on once the table is active.
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(Duration::from_secs(300))
        .await
        .map_err(|e| StoreError::Unavailable(opaque(e)))?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(attr::EXPIRES_AT)
                .build()
                .map_err(incomplete)?,
        )
        .send()
        .await
        .map_err(|e| fail(classify(e)))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Item mapping

impl TryFrom<&Record> for Item {
    type Error = StoreError;

    /// The item for a record, at the version the record carries.
    fn try_from(record: &Record) -> Result<Self, Self::Error> {
        let Value::Object(data) = &record.data else {
            return Err(StoreError::Invalid(format!(
                "the payload of {}/{} must be a JSON object",
                record.key.pk, record.key.sk
            )));
        };
        let data = object_to_attr(data).map_err(|reason| {
            StoreError::Invalid(format!(
                "the payload of {}/{} cannot be stored: {reason}",
                record.key.pk, record.key.sk
            ))
        })?;
        let mut item = key_item(&record.key);
        item.insert(attr::VERSION.to_owned(), number(record.version));
        item.insert(attr::DATA.to_owned(), data);
        if let Some(index) = &record.index {
            item.insert(attr::GSI1PK.to_owned(), AttributeValue::S(index.pk.clone()));
            item.insert(attr::GSI1SK.to_owned(), AttributeValue::S(index.sk.clone()));
        }
        if let Some(at) = record.expires_at {
            item.insert(attr::EXPIRES_AT.to_owned(), number(at));
        }
        Ok(item)
    }
}

impl TryFrom<Item> for Record {
    type Error = StoreError;

    /// Reads a stored item back; anything that this adapter would not have written is `Corrupt`.
    fn try_from(mut item: Item) -> Result<Self, Self::Error> {
        let pk = take_string(&mut item, attr::PK).unwrap_or_default();
        let sk = take_string(&mut item, attr::SK).unwrap_or_default();
        let corrupt = |reason: String| StoreError::Corrupt {
            pk: pk.clone(),
            sk: sk.clone(),
            reason,
        };
        if pk.is_empty() || sk.is_empty() {
            return Err(corrupt("missing or non-string key attribute".to_owned()));
        }
        let version = match item.remove(attr::VERSION) {
            Some(AttributeValue::N(n)) => n
                .parse::<u64>()
                .map_err(|e| corrupt(format!("version '{n}' is not a u64: {e}")))?,
            _ => return Err(corrupt("missing or non-numeric version".to_owned())),
        };
        let expires_at = match item.remove(attr::EXPIRES_AT) {
            None => None,
            Some(AttributeValue::N(n)) => Some(
                n.parse::<i64>()
                    .map_err(|e| corrupt(format!("expires_at '{n}' is not an i64: {e}")))?,
            ),
            Some(_) => return Err(corrupt("non-numeric expires_at".to_owned())),
        };
        let index = match (
            take_string(&mut item, attr::GSI1PK),
            take_string(&mut item, attr::GSI1SK),
        ) {
            (Some(pk), Some(sk)) => Some(IndexKey { pk, sk }),
            (None, None) => None,
            _ => return Err(corrupt("only half of the index key is present".to_owned())),
        };
        let data = match item.remove(attr::DATA) {
            Some(value @ AttributeValue::M(_)) => {
                attr_to_json(&value).map_err(|e| corrupt(e.to_string()))?
            }
            _ => return Err(corrupt("missing or non-map data".to_owned())),
        };
        Ok(Record {
            key: Key { pk, sk },
            version,
            index,
            expires_at,
            data,
        })
    }
}

fn take_string(item: &mut Item, name: &str) -> Option<String> {
    match item.remove(name) {
        Some(AttributeValue::S(s)) => Some(s),
        _ => None,
    }
}

fn key_item(key: &Key) -> Item {
    HashMap::from([
        (attr::PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (attr::SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn next_version(expected: u64) -> Result<u64, StoreError> {
    expected
        .checked_add(1)
        .ok_or_else(|| StoreError::Invalid(format!("version {expected} cannot be incremented")))
}

fn versioned_names() -> HashMap<String, String> {
    HashMap::from([
        ("#v".to_owned(), attr::VERSION.to_owned()),
        ("#exp".to_owned(), attr::EXPIRES_AT.to_owned()),
    ])
}

fn versioned_values(expected: u64, now: i64) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (":expected".to_owned(), number(expected)),
        (":now".to_owned(), number(now)),
    ])
}

// ---------------------------------------------------------------------------
// JSON <-> AttributeValue

/// Why a value has no DynamoDB counterpart (or an attribute no JSON one).
#[derive(Debug, thiserror::Error)]
enum AttrError {
    /// A float DynamoDB's N cannot hold.
    #[error("the number {0} is outside DynamoDB's range")]
    OutOfRange(Number),
    /// An N that is not a finite number.
    #[error("'{0}' is not a finite number")]
    NotFinite(String),
    /// A set or a binary (never written by this adapter).
    #[error("unsupported attribute type {0:?}")]
    Unsupported(AttributeValue),
}

/// Converts a JSON object to an M attribute.
fn object_to_attr(object: &Map<String, Value>) -> Result<AttributeValue, AttrError> {
    object
        .iter()
        .map(|(k, v)| Ok((k.clone(), json_to_attr(v)?)))
        .collect::<Result<HashMap<_, _>, AttrError>>()
        .map(AttributeValue::M)
}

/// Converts any JSON value to its native DynamoDB counterpart.
fn json_to_attr(value: &Value) -> Result<AttributeValue, AttrError> {
    Ok(match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(number_to_attr(n)?),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(
            items
                .iter()
                .map(json_to_attr)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Value::Object(object) => object_to_attr(object)?,
    })
}

/// Converts a DynamoDB attribute back to JSON; sets and binaries are never written by this adapter.
fn attr_to_json(value: &AttributeValue) -> Result<Value, AttrError> {
    Ok(match value {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => Value::Number(attr_to_number(n)?),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::L(items) => Value::Array(
            items
                .iter()
                .map(attr_to_json)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), attr_to_json(v)?)))
                .collect::<Result<Map<_, _>, AttrError>>()?,
        ),
        other => return Err(AttrError::Unsupported(other.clone())),
    })
}

/// The N string for a JSON number: integers exactly, floats in shortest round-trip form.
fn number_to_attr(n: &Number) -> Result<String, AttrError> {
    if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
        let magnitude = f.abs();
        if magnitude != 0.0 && !(1e-130..1e126).contains(&magnitude) {
            return Err(AttrError::OutOfRange(n.clone()));
        }
    }
    Ok(n.to_string())
}

/// The JSON number for an N string: i64, else u64, else the nearest finite f64.
fn attr_to_number(n: &str) -> Result<Number, AttrError> {
    if let Ok(i) = n.parse::<i64>() {
        return Ok(i.into());
    }
    if let Ok(u) = n.parse::<u64>() {
        return Ok(u.into());
    }
    n.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .ok_or_else(|| AttrError::NotFinite(n.to_owned()))
}

// ---------------------------------------------------------------------------
// Cursors

/// The position after the last record of a page: DynamoDB's `ExclusiveStartKey`, which
/// for the index also needs the table key. Callers see it as base64url of its JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Cursor {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ipk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    isk: Option<String>,
}

impl Cursor {
    /// The cursor after `record` (on the index when `on_index`), encoded; for
    /// [`crate::fuzzing`].
    pub(crate) fn encoded_after(record: &Record, on_index: bool) -> String {
        Self::after(record, on_index).encode()
    }

    /// [`Cursor::decode`] then [`Cursor::into_start_key`] for a query of partition `pk`:
    /// the start key's string attributes, sorted by name; for [`crate::fuzzing`].
    pub(crate) fn start_key(
        raw: &str,
        on_index: bool,
        pk: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let item = Self::decode(raw)?.into_start_key(on_index, pk)?;
        let mut attributes: Vec<_> = item
            .into_iter()
            .filter_map(|(name, value)| value.as_s().ok().map(|s| (name, s.clone())))
            .collect();
        attributes.sort();
        Ok(attributes)
    }

    fn after(record: &Record, on_index: bool) -> Self {
        let index = record.index.as_ref().filter(|_| on_index);
        Self {
            pk: record.key.pk.clone(),
            sk: record.key.sk.clone(),
            ipk: index.map(|i| i.pk.clone()),
            isk: index.map(|i| i.sk.clone()),
        }
    }

    fn encode(&self) -> String {
        // Serializing a struct of strings cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(cursor: &str) -> Result<Self, StoreError> {
        let bad = |why: String| StoreError::Invalid(format!("bad cursor: {why}"));
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|e| bad(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))
    }

    /// The start key for a query of partition `pk`, refusing a cursor from another query.
    fn into_start_key(self, on_index: bool, pk: &str) -> Result<Item, StoreError> {
        let mut item = key_item(&Key::new(self.pk, self.sk));
        match (on_index, self.ipk, self.isk) {
            (false, None, None)
                if item.get(attr::PK) == Some(&AttributeValue::S(pk.to_owned())) =>
            {
                Ok(item)
            }
            (true, Some(ipk), Some(isk)) if ipk == pk => {
                item.insert(attr::GSI1PK.to_owned(), AttributeValue::S(ipk));
                item.insert(attr::GSI1SK.to_owned(), AttributeValue::S(isk));
                Ok(item)
            }
            _ => Err(StoreError::Invalid(
                "bad cursor: it belongs to another query".to_owned(),
            )),
        }
    }
}

// ---------------------------------------------------------------------------
// Errors

/// An SDK error sorted into what the port can say about it.
enum Failure {
    /// A condition expression was false.
    ConditionFailed,
    /// The request was malformed for DynamoDB (validation error).
    Invalid(String),
    /// Anything else: network, throttling, service faults, missing table.
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
}

fn classify<E, R>(err: SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    match err.code() {
        Some("ConditionalCheckFailedException") => Failure::ConditionFailed,
        Some("ValidationException") => Failure::Invalid(
            err.message()
                .unwrap_or("rejected by DynamoDB validation")
                .to_owned(),
        ),
        _ => Failure::Unavailable(opaque(err)),
    }
}

/// The store error for a failure that has no more specific meaning in context.
fn fail(failure: Failure) -> StoreError {
    match failure {
        Failure::ConditionFailed => StoreError::Invalid("unexpected condition failure".to_owned()),
        Failure::Invalid(message) => StoreError::Invalid(message),
        Failure::Unavailable(source) => StoreError::Unavailable(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip(value: Value) -> Value {
        attr_to_json(&json_to_attr(&value).expect("to attr")).expect("to json")
    }

    #[test]
    fn payload_maps_to_native_types() {
        let attr = json_to_attr(&json!({
            "s": "x", "n": 7, "b": true, "z": null, "l": [1, "a"], "m": {"k": -1.5}
        }))
        .expect("convertible");
        let AttributeValue::M(map) = attr else {
            panic!("an object maps to M");
        };
        assert_eq!(map["s"], AttributeValue::S("x".into()));
        assert_eq!(map["n"], AttributeValue::N("7".into()));
        assert_eq!(map["b"], AttributeValue::Bool(true));
        assert_eq!(map["z"], AttributeValue::Null(true));
        assert_eq!(
            map["l"],
            AttributeValue::L(vec![
                AttributeValue::N("1".into()),
                AttributeValue::S("a".into())
            ])
        );
        assert_eq!(
            map["m"],
            AttributeValue::M(HashMap::from([(
                "k".to_owned(),
                AttributeValue::N("-1.5".into())
            )]))
        );
    }

    #[test]
    fn integers_round_trip_exactly_at_the_limits() {
        for value in [
            json!(0),
            json!(i64::MIN),
            json!(i64::MAX),
            json!(u64::MAX),
            json!(-1),
        ] {
            assert_eq!(roundtrip(value.clone()), value);
        }
        assert_eq!(
            json_to_attr(&json!(u64::MAX)).expect("convertible"),
            AttributeValue::N("18446744073709551615".into())
        );
    }

    #[test]
    fn floats_round_trip_to_the_same_f64() {
        for f in [
            0.1,
            -2.5,
            1e-7,
            1.5e300 / 1e200,
            std::f64::consts::PI,
            f64::EPSILON,
            -0.0,
        ] {
            let back = roundtrip(json!(f));
            assert_eq!(back.as_f64(), Some(f), "{f}");
        }
    }

    #[test]
    fn numbers_as_dynamodb_normalises_them_are_read() {
        assert_eq!(attr_to_number("2").expect("integer"), Number::from(2));
        assert_eq!(
            attr_to_number("1000000000000000000000")
                .expect("large")
                .as_f64(),
            Some(1e21)
        );
        assert_eq!(
            attr_to_number("1.5E+3").expect("exponent").as_f64(),
            Some(1500.0)
        );
        assert!(attr_to_number("NaN").is_err());
        assert!(attr_to_number("inf").is_err());
        assert!(attr_to_number("abc").is_err());
    }

    #[test]
    fn floats_outside_dynamodb_range_are_refused() {
        assert!(json_to_attr(&json!(1e300)).is_err());
        assert!(json_to_attr(&json!(-1e126)).is_err());
        assert!(json_to_attr(&json!(1e-200)).is_err());
        assert!(json_to_attr(&json!(9.9e125)).is_ok());
        assert!(json_to_attr(&json!(0.0)).is_ok());
    }

    fn sample() -> Record {
        Record {
            key: Key::new("CHILD#1", "PROFILE"),
            version: 3,
            index: Some(IndexKey {
                pk: "ATVK#0001000".into(),
                sk: "CHILD#1".into(),
            }),
            expires_at: Some(1_900_000_000),
            data: json!({"name": "Anna", "scores": [1, 2], "nested": {"ok": true}}),
        }
    }

    #[test]
    fn record_round_trips_through_an_item() {
        let record = sample();
        let item = Item::try_from(&record).expect("storable");
        assert_eq!(item[attr::PK], AttributeValue::S("CHILD#1".into()));
        assert_eq!(item[attr::SK], AttributeValue::S("PROFILE".into()));
        assert_eq!(item[attr::GSI1PK], AttributeValue::S("ATVK#0001000".into()));
        assert_eq!(item[attr::GSI1SK], AttributeValue::S("CHILD#1".into()));
        assert_eq!(item[attr::VERSION], AttributeValue::N("3".into()));
        assert_eq!(
            item[attr::EXPIRES_AT],
            AttributeValue::N("1900000000".into())
        );
        assert!(matches!(item[attr::DATA], AttributeValue::M(_)));
        assert_eq!(Record::try_from(item).expect("readable"), record);
    }

    #[test]
    fn optional_attributes_are_omitted() {
        let record = Record::new(Key::new("a", "b"), json!({}));
        let item = Item::try_from(&record).expect("storable");
        let mut names: Vec<_> = item.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["data", "pk", "sk", "version"]);
        assert_eq!(Record::try_from(item).expect("readable"), record);
    }

    #[test]
    fn non_object_payload_is_invalid() {
        let record = Record::new(Key::new("a", "b"), json!([1, 2]));
        assert!(matches!(
            Item::try_from(&record),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn foreign_items_are_corrupt() {
        // The sample's item with `damage` done to it, read back.
        let read_damaged = |damage: fn(&mut Item)| {
            let mut item = Item::try_from(&sample()).expect("storable");
            damage(&mut item);
            Record::try_from(item)
        };
        assert!(matches!(
            read_damaged(|item| {
                item.insert(attr::VERSION.into(), AttributeValue::S("3".into()));
            }),
            Err(StoreError::Corrupt { pk, sk, .. }) if pk == "CHILD#1" && sk == "PROFILE"
        ));
        let damages: [fn(&mut Item); 3] = [
            |item| {
                item.remove(attr::GSI1SK);
            },
            |item| {
                let text = AttributeValue::S("{\"json\":\"string\"}".into());
                item.insert(attr::DATA.into(), text);
            },
            |item| {
                let set = AttributeValue::Ss(vec!["a".into()]);
                let map = AttributeValue::M(HashMap::from([("set".to_owned(), set)]));
                item.insert(attr::DATA.into(), map);
            },
        ];
        for damage in damages {
            assert!(matches!(
                read_damaged(damage),
                Err(StoreError::Corrupt { .. })
            ));
        }
    }

    #[test]
    fn cursor_round_trips_and_is_url_safe() {
        let record = sample();
        for on_index in [false, true] {
            let cursor = Cursor::after(&record, on_index);
            let text = cursor.encode();
            assert!(
                text.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{text}"
            );
            assert_eq!(Cursor::decode(&text).expect("decodable"), cursor);
        }
    }

    #[test]
    fn cursor_becomes_the_right_start_key() {
        let record = sample();
        let table = Cursor::after(&record, false)
            .into_start_key(false, "CHILD#1")
            .expect("same partition");
        assert_eq!(table, key_item(&record.key));

        let index = Cursor::after(&record, true)
            .into_start_key(true, "ATVK#0001000")
            .expect("same index partition");
        assert_eq!(index.len(), 4);
        assert_eq!(index[attr::GSI1SK], AttributeValue::S("CHILD#1".into()));
    }

    #[test]
    fn cursor_from_another_query_or_garbage_is_invalid() {
        let record = sample();
        let text = Cursor::after(&record, false).encode();
        assert!(matches!(
            Cursor::decode(&text).and_then(|c| c.into_start_key(false, "CHILD#2")),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            Cursor::decode(&text).and_then(|c| c.into_start_key(true, "CHILD#1")),
            Err(StoreError::Invalid(_))
        ));
        for garbage in ["", "!!!", "bm90IGpzb24", "eyJ4IjoxfQ"] {
            assert!(
                matches!(Cursor::decode(garbage), Err(StoreError::Invalid(_))),
                "{garbage}"
            );
        }
    }
}
