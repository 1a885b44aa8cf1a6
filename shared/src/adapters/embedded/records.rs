//! [`RecordStore`] on SQLite: one table shaped like the DynamoDB table, plus the `gsi1` index.
//!
//! Sort keys compare byte-wise (SQLite's `BINARY` collation over UTF-8 text), as DynamoDB
//! compares string keys. Expired records stay on disk until [`SqliteRecordStore::purge_expired`]
//! or a create over them, but no read returns them (expiry is judged by the injected clock).

use super::sqlite::{Db, prefix_upper_bound};
use crate::ports::records::MAX_TRANSACTION_OPS;
use crate::ports::{
    Clock, IndexKey, Key, Page, Record, RecordStore, SortKeyCondition, StoreError, SystemClock,
    WriteOp,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, LazyLock};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records (
    pk         TEXT    NOT NULL,
    sk         TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    gsi1pk     TEXT,
    gsi1sk     TEXT,
    expires_at INTEGER,
    data       TEXT    NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_gsi1 ON records (gsi1pk, gsi1sk, pk, sk)
    WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_expiry ON records (expires_at)
    WHERE expires_at IS NOT NULL;
";

const COLUMNS: &str = "pk, sk, version, gsi1pk, gsi1sk, expires_at, data";
/// A record is live until its expiry second has passed (DynamoDB's TTL deletes items whose
/// expiry is older than now); the AWS adapter uses the same boundary.
const LIVE: &str = "(expires_at IS NULL OR expires_at >= :now)";

/// The most memory SQLite's page cache of `records.db` takes (KiB; SQLite's default is
/// 2 MiB). Children keys are hashes and random ids, so a bulk write of thousands of rows
/// dirties pages all over the table: with a small cache they are spilled to the WAL and
/// read back before the transaction commits.
const PAGE_CACHE_KIB: i64 = 64 * 1024;

/// The record store of the embedded backend: a SQLite file (`records.db`).
#[derive(Clone)]
pub struct SqliteRecordStore {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SqliteRecordStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteRecordStore").finish_non_exhaustive()
    }
}

fn unavailable(err: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(Box::new(err))
}

impl SqliteRecordStore {
    /// Opens (creating if needed) the store in the SQLite file at `path`, on the system clock.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with_clock(path, Arc::new(SystemClock))
    }

    /// Opens the store judging expiry by `clock`.
    pub fn open_with_clock(
        path: impl AsRef<Path>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let db = Db::open(path.as_ref()).map_err(unavailable)?;
        db.call_now(|conn| {
            conn.execute_batch(SCHEMA)?;
            conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB)
        })
        .map_err(unavailable)?;
        Ok(Self { db, clock })
    }

    /// Deletes every expired record from disk; returns how many were deleted.
    pub async fn purge_expired(&self) -> Result<usize, StoreError> {
        let now = self.now();
        self.db
            .call(unavailable, move |conn| {
                conn.execute(
                    "DELETE FROM records WHERE expires_at IS NOT NULL AND expires_at < ?1",
                    params![now],
                )
                .map_err(unavailable)
            })
            .await
    }

    /// The partition keys of every live record with this sort key whose partition key starts
    /// with `pk_prefix`, in key order (local tooling that walks all records of one kind, such
    /// as `ravis export analytics`; DynamoDB would need a Scan).
    pub async fn partitions(&self, pk_prefix: &str, sk: &str) -> Result<Vec<String>, StoreError> {
        let now = self.now();
        let (prefix, sk) = (pk_prefix.to_owned(), sk.to_owned());
        self.db
            .call(unavailable, move |conn| {
                let mut stmt = conn
                    .prepare(
                        "SELECT pk FROM records WHERE sk = ?1 AND substr(pk, 1, length(?2)) = ?2 \
                         AND (expires_at IS NULL OR expires_at >= ?3) ORDER BY pk",
                    )
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map(params![sk, prefix, now], |row| row.get::<_, String>(0))
                    .map_err(unavailable)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
            })
            .await
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    async fn query_on(
        &self,
        target: Target,
        pk: &str,
        condition: &SortKeyCondition,
        limit: usize,
        descending: bool,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        crate::ports::records::check_page_limit(limit)?;
        check_query(pk, condition)?;
        let after = cursor.map(|c| Cursor::decode(c, target, pk)).transpose()?;
        let plan = QueryPlan::new(target, pk, condition, descending, after, limit, self.now());
        self.db
            .read_sized(limit, unavailable, unavailable, move |conn| plan.run(conn))
            .await
    }
}

/// Which key a query runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Target {
    /// The table: partition `pk`, sort key `sk`.
    #[serde(rename = "t")]
    Table,
    /// The secondary index: partition `gsi1pk`, sort key `gsi1sk` (then `pk`, `sk` for ties).
    #[serde(rename = "i")]
    Index,
}

impl Target {
    fn on(index: bool) -> Self {
        if index { Self::Index } else { Self::Table }
    }
}

/// Where a page ended: the last record's position in the query's order.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Cursor {
    /// Which key the cursor belongs to.
    on: Target,
    /// The partition queried (table or index partition key).
    part: String,
    /// The index sort key of the last record (index queries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    isk: Option<String>,
    /// The last record's primary key.
    pk: String,
    /// The last record's sort key.
    sk: String,
}

impl Cursor {
    /// The cursor after `record` in a query of partition `part` (on the index when
    /// `on_index`), encoded; for [`crate::fuzzing`].
    pub(crate) fn encoded_after(record: &Record, on_index: bool, part: &str) -> String {
        Self::after(record, Target::on(on_index), part).encode()
    }

    /// [`Cursor::decode`] for a query of partition `part` (on the index when `on_index`),
    /// answering the last record's key and index sort key; for [`crate::fuzzing`].
    pub(crate) fn decoded(
        raw: &str,
        on_index: bool,
        part: &str,
    ) -> Result<(Key, Option<String>), StoreError> {
        Self::decode(raw, Target::on(on_index), part).map(|c| (Key::new(c.pk, c.sk), c.isk))
    }

    fn encode(&self) -> String {
        // Serialising plain strings cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    fn decode(raw: &str, target: Target, part: &str) -> Result<Self, StoreError> {
        let invalid = || StoreError::Invalid("the cursor was not issued for this query".into());
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        let shape_ok = match target {
            Target::Table => cursor.isk.is_none(),
            Target::Index => cursor.isk.is_some(),
        };
        if cursor.on != target || cursor.part != part || !shape_ok {
            return Err(invalid());
        }
        Ok(cursor)
    }

    fn after(record: &Record, target: Target, part: &str) -> Self {
        Self {
            on: target,
            part: part.to_owned(),
            isk: match target {
                Target::Table => None,
                Target::Index => record.index.as_ref().map(|i| i.sk.clone()),
            },
            pk: record.key.pk.clone(),
            sk: record.key.sk.clone(),
        }
    }
}

/// A query turned into SQL with named parameters.
struct QueryPlan {
    sql: String,
    args: Vec<(&'static str, SqlValue)>,
    target: Target,
    part: String,
    limit: usize,
}

impl QueryPlan {
    fn new(
        target: Target,
        part: &str,
        condition: &SortKeyCondition,
        descending: bool,
        after: Option<Cursor>,
        limit: usize,
        now: i64,
    ) -> Self {
        let (part_col, sort_col, tie) = match target {
            Target::Table => ("pk", "sk", ""),
            Target::Index => ("gsi1pk", "gsi1sk", ", pk, sk"),
        };
        let mut sql = format!("SELECT {COLUMNS} FROM records WHERE {part_col} = :part AND {LIVE}");
        let mut args: Vec<(&'static str, SqlValue)> = vec![
            (":part", SqlValue::Text(part.to_owned())),
            (":now", SqlValue::Integer(now)),
        ];
        match condition {
            SortKeyCondition::All => {}
            SortKeyCondition::Prefix(prefix) => {
                sql.push_str(&format!(" AND {sort_col} >= :lo"));
                args.push((":lo", SqlValue::Text(prefix.clone())));
                if let Some(upper) = prefix_upper_bound(prefix) {
                    sql.push_str(&format!(" AND {sort_col} < :hi"));
                    args.push((":hi", SqlValue::Text(upper)));
                }
            }
            SortKeyCondition::Between(lo, hi) => {
                sql.push_str(&format!(" AND {sort_col} >= :lo AND {sort_col} <= :hi"));
                args.push((":lo", SqlValue::Text(lo.clone())));
                args.push((":hi", SqlValue::Text(hi.clone())));
            }
        }
        let cmp = if descending { "<" } else { ">" };
        if let Some(after) = after {
            match target {
                Target::Table => {
                    sql.push_str(&format!(" AND sk {cmp} :after_sk"));
                    args.push((":after_sk", SqlValue::Text(after.sk)));
                }
                Target::Index => {
                    // Index sort keys may tie: continue after the full (isk, pk, sk) position.
                    sql.push_str(&format!(
                        " AND (gsi1sk, pk, sk) {cmp} (:after_isk, :after_pk, :after_sk)"
                    ));
                    args.push((":after_isk", SqlValue::Text(after.isk.unwrap_or_default())));
                    args.push((":after_pk", SqlValue::Text(after.pk)));
                    args.push((":after_sk", SqlValue::Text(after.sk)));
                }
            }
        }
        let dir = if descending { "DESC" } else { "ASC" };
        let order = std::iter::once(sort_col)
            .chain(tie.split(", ").filter(|c| !c.is_empty()))
            .map(|c| format!("{c} {dir}"))
            .collect::<Vec<_>>()
            .join(", ");
        // One row more than the page tells whether another page follows.
        sql.push_str(&format!(" ORDER BY {order} LIMIT :limit"));
        args.push((":limit", SqlValue::Integer(limit as i64 + 1)));
        Self {
            sql,
            args,
            target,
            part: part.to_owned(),
            limit,
        }
    }

    fn run(self, conn: &mut Connection) -> Result<Page, StoreError> {
        let mut stmt = conn.prepare_cached(&self.sql).map_err(unavailable)?;
        let params: Vec<(&str, &dyn rusqlite::ToSql)> = self
            .args
            .iter()
            .map(|(name, value)| (*name, value as &dyn rusqlite::ToSql))
            .collect();
        let rows = stmt
            .query_map(params.as_slice(), StoredRow::from_row)
            .map_err(unavailable)?;
        let mut records = Vec::with_capacity(self.limit + 1);
        for row in rows {
            records.push(row.map_err(unavailable)?.into_record()?);
        }
        let next = if records.len() > self.limit {
            records.truncate(self.limit);
            records
                .last()
                .map(|last| Cursor::after(last, self.target, &self.part).encode())
        } else {
            None
        };
        Ok(Page { records, next })
    }
}

/// A row as SQLite holds it.
struct StoredRow {
    pk: String,
    sk: String,
    version: i64,
    gsi1pk: Option<String>,
    gsi1sk: Option<String>,
    expires_at: Option<i64>,
    data: String,
}

impl StoredRow {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            pk: row.get(0)?,
            sk: row.get(1)?,
            version: row.get(2)?,
            gsi1pk: row.get(3)?,
            gsi1sk: row.get(4)?,
            expires_at: row.get(5)?,
            data: row.get(6)?,
        })
    }

    fn into_record(self) -> Result<Record, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            pk: self.pk.clone(),
            sk: self.sk.clone(),
            reason,
        };
        let version = u64::try_from(self.version)
            .map_err(|_| corrupt(format!("negative version {}", self.version)))?;
        let data: Value = serde_json::from_str(&self.data)
            .map_err(|e| corrupt(format!("data is not JSON: {e}")))?;
        let index = match (self.gsi1pk, self.gsi1sk) {
            (Some(pk), Some(sk)) => Some(IndexKey { pk, sk }),
            (None, None) => None,
            _ => return Err(corrupt("half an index key".into())),
        };
        Ok(Record {
            key: Key {
                pk: self.pk,
                sk: self.sk,
            },
            version,
            index,
            expires_at: self.expires_at,
            data,
        })
    }
}

/// DynamoDB's limits on key attributes, kept here so what works locally works on AWS.
const MAX_PARTITION_KEY_BYTES: usize = 2048;
const MAX_SORT_KEY_BYTES: usize = 1024;
/// DynamoDB's item size limit; the JSON text is a close, slightly generous stand-in.
const MAX_DATA_BYTES: usize = 400 * 1024;

/// Checks a (partition, sort) key pair as DynamoDB would: non-empty, within size limits.
fn check_key_parts(what: &str, pk: &str, sk: &str) -> Result<(), StoreError> {
    if pk.is_empty() || sk.is_empty() {
        return Err(StoreError::Invalid(format!(
            "{what} parts are not empty strings ({pk:?}/{sk:?})"
        )));
    }
    if pk.len() > MAX_PARTITION_KEY_BYTES || sk.len() > MAX_SORT_KEY_BYTES {
        return Err(StoreError::Invalid(format!(
            "{what} has a partition key of at most {MAX_PARTITION_KEY_BYTES} bytes and a sort key \
             of at most {MAX_SORT_KEY_BYTES}"
        )));
    }
    Ok(())
}

fn check_key(key: &Key) -> Result<(), StoreError> {
    check_key_parts("a key", &key.pk, &key.sk)
}

/// Checks a record before writing: valid keys, an object payload within the size limit.
/// Answers the payload's JSON text, which is what is stored.
fn check_record(record: &Record) -> Result<String, StoreError> {
    check_key(&record.key)?;
    if let Some(index) = &record.index {
        check_key_parts("an index key", &index.pk, &index.sk)?;
    }
    if !record.data.is_object() {
        return Err(StoreError::Invalid(format!(
            "the data of {}/{} is not a JSON object",
            record.key.pk, record.key.sk
        )));
    }
    let text = serde_json::to_string(&record.data).map_err(StoreError::Encode)?;
    if text.len() > MAX_DATA_BYTES {
        return Err(StoreError::Invalid(format!(
            "the data of {}/{} has {} bytes, over the {MAX_DATA_BYTES}-byte item limit",
            record.key.pk,
            record.key.sk,
            text.len()
        )));
    }
    Ok(text)
}

/// Checks a query's partition and condition as DynamoDB would.
fn check_query(pk: &str, condition: &SortKeyCondition) -> Result<(), StoreError> {
    if pk.is_empty() {
        return Err(StoreError::Invalid("a query names a partition key".into()));
    }
    if let SortKeyCondition::Between(lo, hi) = condition
        && lo > hi
    {
        return Err(StoreError::Invalid(format!(
            "a between condition has its lower bound first ({lo:?} > {hi:?})"
        )));
    }
    Ok(())
}

fn to_sql_version(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version)
        .map_err(|_| StoreError::Invalid(format!("version {version} is too large")))
}

fn begin(conn: &mut Connection) -> Result<Transaction<'_>, StoreError> {
    // IMMEDIATE takes the write lock up front, so a read-check-write cannot race another writer.
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable)
}

/// The version of the live record at `key`, if there is one.
fn live_version(tx: &Connection, key: &Key, now: i64) -> Result<Option<u64>, StoreError> {
    let version: Option<i64> = tx
        .prepare_cached(&format!(
            "SELECT version FROM records WHERE pk = :pk AND sk = :sk AND {LIVE}"
        ))
        .and_then(|mut stmt| {
            stmt.query_row(
                rusqlite::named_params! { ":pk": key.pk, ":sk": key.sk, ":now": now },
                |row| row.get(0),
            )
            .optional()
        })
        .map_err(unavailable)?;
    version
        .map(|v| {
            u64::try_from(v).map_err(|_| StoreError::Corrupt {
                pk: key.pk.clone(),
                sk: key.sk.clone(),
                reason: format!("negative version {v}"),
            })
        })
        .transpose()
}

/// Writes `record` (its payload as the JSON text `data`) at `version`, replacing whatever
/// row holds its key (live or expired).
fn write(tx: &Connection, record: &Record, data: &str, version: u64) -> Result<(), StoreError> {
    let (gsi1pk, gsi1sk) = match &record.index {
        Some(i) => (Some(i.pk.as_str()), Some(i.sk.as_str())),
        None => (None, None),
    };
    let version = to_sql_version(version)?;
    tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO records ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))
    .and_then(|mut stmt| {
        stmt.execute(params![
            record.key.pk,
            record.key.sk,
            version,
            gsi1pk,
            gsi1sk,
            record.expires_at,
            data
        ])
    })
    .map_err(unavailable)?;
    Ok(())
}

/// Creates `record` (its payload as the JSON text `data`) at version 1 unless a live record
/// holds its key (an expired one is replaced): one statement, no read first. `Ok(false)`
/// when a live record is there (nothing written).
fn insert_new(tx: &Connection, record: &Record, data: &str, now: i64) -> Result<bool, StoreError> {
    let (gsi1pk, gsi1sk) = match &record.index {
        Some(i) => (Some(i.pk.as_str()), Some(i.sk.as_str())),
        None => (None, None),
    };
    let changed = tx
        .prepare_cached(&format!(
            "INSERT INTO records ({COLUMNS}) VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6) \
             ON CONFLICT (pk, sk) DO UPDATE SET version = 1, gsi1pk = excluded.gsi1pk, \
             gsi1sk = excluded.gsi1sk, expires_at = excluded.expires_at, data = excluded.data \
             WHERE records.expires_at IS NOT NULL AND records.expires_at < ?7"
        ))
        .and_then(|mut stmt| {
            stmt.execute(params![
                record.key.pk,
                record.key.sk,
                gsi1pk,
                gsi1sk,
                record.expires_at,
                data,
                now
            ])
        })
        .map_err(unavailable)?;
    Ok(changed == 1)
}

fn delete(tx: &Connection, key: &Key) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM records WHERE pk = ?1 AND sk = ?2")
        .and_then(|mut stmt| stmt.execute(params![key.pk, key.sk]))
        .map_err(unavailable)?;
    Ok(())
}

/// Applies one operation (with the JSON text of the payload it writes, if any) inside a
/// transaction; `Ok(false)` if its condition failed.
fn apply(tx: &Connection, op: &WriteOp, data: Option<&str>, now: i64) -> Result<bool, StoreError> {
    let data = data.unwrap_or_default();
    // A create is one conditional insert; the others read the live version first.
    if let WriteOp::PutNew(record) = op {
        return insert_new(tx, record, data, now);
    }
    if !op.holds(live_version(tx, op.key(), now)?) {
        return Ok(false);
    }
    match op {
        WriteOp::PutVersioned { record, expected } => write(tx, record, data, expected + 1)?,
        WriteOp::Delete { key, .. } => delete(tx, key)?,
        WriteOp::PutNew(_) | WriteOp::Check { .. } => {}
    }
    Ok(true)
}

/// Checks an atomic write of at most `max` operations; answers the JSON text of each
/// operation's payload (`None` for a delete or a check).
fn validate_ops(ops: &[WriteOp], max: usize) -> Result<Vec<Option<String>>, StoreError> {
    if ops.is_empty() || ops.len() > max {
        return Err(StoreError::Invalid(format!(
            "an atomic write has 1 to {max} operations, not {}",
            ops.len()
        )));
    }
    let mut seen = HashSet::with_capacity(ops.len());
    let mut texts = Vec::with_capacity(ops.len());
    for op in ops {
        let key = op.key();
        if !seen.insert(key) {
            return Err(StoreError::Invalid(format!(
                "key {}/{} appears twice in one atomic write",
                key.pk, key.sk
            )));
        }
        texts.push(match op {
            WriteOp::PutNew(record) | WriteOp::PutVersioned { record, .. } => {
                Some(check_record(record)?)
            }
            WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => {
                check_key(key)?;
                None
            }
        });
    }
    Ok(texts)
}

/// The most operations of one bulk atomic write ([`RecordStore::transact_bulk`]): about
/// 4,000 rows of a children file (five records each) in one SQLite transaction, so an
/// import syncs once per 4,000 rows instead of once per 20–33, and a page that several
/// rows of a batch change is written once. A batch is held in memory until it commits
/// (about 2 KB per operation).
pub const MAX_BULK_OPS: usize = 20_000;

/// The statement of [`lookup`], built once.
static LOOKUP: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {COLUMNS} FROM records WHERE pk = :pk AND sk = :sk AND {LIVE}")
});

/// The live record at `key`, if any (a cached statement: one lookup of the primary key).
fn lookup(conn: &Connection, key: &Key, now: i64) -> Result<Option<Record>, StoreError> {
    let row = conn
        .prepare_cached(&LOOKUP)
        .and_then(|mut stmt| {
            stmt.query_row(
                rusqlite::named_params! { ":pk": key.pk, ":sk": key.sk, ":now": now },
                StoredRow::from_row,
            )
            .optional()
        })
        .map_err(unavailable)?;
    row.map(StoredRow::into_record).transpose()
}

/// Applies every operation or fails at the first whose condition fails (the caller rolls
/// back what was applied: its transaction or savepoint).
fn apply_all(
    conn: &Connection,
    ops: &[WriteOp],
    texts: &[Option<String>],
    now: i64,
) -> Result<(), StoreError> {
    for (index, (op, text)) in ops.iter().zip(texts).enumerate() {
        if !apply(conn, op, text.as_deref(), now)? {
            return Err(StoreError::TransactionCancelled { index });
        }
    }
    Ok(())
}

impl RecordStore for SqliteRecordStore {
    async fn get(&self, key: &Key) -> Result<Option<Record>, StoreError> {
        check_key(key)?;
        let now = self.now();
        self.db.read(unavailable, |conn| lookup(conn, key, now))
    }

    async fn put_new(&self, record: Record) -> Result<(), StoreError> {
        let data = check_record(&record)?;
        let now = self.now();
        self.db
            .write(unavailable, move |conn| {
                if !insert_new(conn, &record, &data, now)? {
                    return Err(StoreError::AlreadyExists {
                        pk: record.key.pk,
                        sk: record.key.sk,
                    });
                }
                Ok(())
            })
            .await
    }

    async fn put_versioned(&self, record: Record, expected: u64) -> Result<u64, StoreError> {
        let data = check_record(&record)?;
        let now = self.now();
        self.db
            .write(unavailable, move |conn| {
                if live_version(conn, &record.key, now)? != Some(expected) {
                    return Err(StoreError::Conflict {
                        pk: record.key.pk,
                        sk: record.key.sk,
                        expected,
                    });
                }
                write(conn, &record, &data, expected + 1)?;
                Ok(expected + 1)
            })
            .await
    }

    async fn query(
        &self,
        pk: &str,
        condition: &SortKeyCondition,
        limit: usize,
        descending: bool,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        self.query_on(Target::Table, pk, condition, limit, descending, cursor)
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
        self.query_on(Target::Index, pk, condition, limit, descending, cursor)
            .await
    }

    /// Shares one SQLite transaction (one sync) with the atomic writes of other tasks
    /// waiting at the same time ([`Db::write`]); each is all or nothing on its own.
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let texts = validate_ops(&ops, MAX_TRANSACTION_OPS)?;
        let now = self.now();
        self.db
            .write(unavailable, move |conn| apply_all(conn, &ops, &texts, now))
            .await
    }

    /// One read of every key: a point lookup each, in one read transaction (one snapshot).
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Record>>, StoreError> {
        for key in keys {
            check_key(key)?;
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = keys.to_vec();
        let now = self.now();
        self.db
            .read_sized(keys.len(), unavailable, unavailable, move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                let found = keys
                    .iter()
                    .map(|key| lookup(&tx, key, now))
                    .collect::<Result<Vec<_>, _>>()?;
                tx.commit().map_err(unavailable)?;
                Ok(found)
            })
            .await
    }

    fn max_bulk_ops(&self) -> usize {
        MAX_BULK_OPS
    }

    /// One SQLite transaction of its own: a bulk write is large enough to fill a commit.
    async fn transact_bulk(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let texts = validate_ops(&ops, MAX_BULK_OPS)?;
        let now = self.now();
        self.db
            .call(unavailable, move |conn| {
                let tx = begin(conn)?;
                // An error drops the transaction, which rolls back what was applied.
                apply_all(&tx, &ops, &texts, now)?;
                tx.commit().map_err(unavailable)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::ManualClock;
    use serde_json::json;

    fn store_with_clock() -> (tempfile::TempDir, SqliteRecordStore, Arc<ManualClock>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::at_secs(1_000_000));
        let store =
            SqliteRecordStore::open_with_clock(dir.path().join("records.db"), clock.clone())
                .expect("open");
        (dir, store, clock)
    }

    #[tokio::test]
    async fn expiry_follows_the_injected_clock() {
        let (_dir, store, clock) = store_with_clock();
        let record = Record::new(Key::new("P", "S"), json!({})).with_expiry(1_000_100);
        store.put_new(record).await.expect("put_new");
        assert!(store.get(&Key::new("P", "S")).await.expect("get").is_some());
        // Still live during its expiry second, gone after it.
        clock.set_secs(1_000_100);
        assert!(store.get(&Key::new("P", "S")).await.expect("get").is_some());
        clock.set_secs(1_000_101);
        assert!(store.get(&Key::new("P", "S")).await.expect("get").is_none());
        let page = store
            .query("P", &SortKeyCondition::All, 10, false, None)
            .await
            .expect("query");
        assert!(page.records.is_empty());
    }

    #[tokio::test]
    async fn purge_deletes_only_expired_rows() {
        let (_dir, store, clock) = store_with_clock();
        for (sk, expiry) in [("a", Some(1_000_010)), ("b", Some(1_000_500)), ("c", None)] {
            let mut record = Record::new(Key::new("P", sk), json!({}));
            record.expires_at = expiry;
            store.put_new(record).await.expect("put_new");
        }
        clock.set_secs(1_000_100);
        assert_eq!(store.purge_expired().await.expect("purge"), 1);
        assert_eq!(store.purge_expired().await.expect("purge again"), 0);
        let rows: i64 = store
            .db
            .call_now(|c| c.query_row("SELECT count(*) FROM records", [], |r| r.get(0)))
            .expect("count");
        assert_eq!(rows, 2);
    }

    #[tokio::test]
    async fn dynamodb_limits_are_enforced_locally() {
        let (_dir, store, _clock) = store_with_clock();
        let invalid = |r: Result<(), StoreError>| matches!(r, Err(StoreError::Invalid(_)));
        let long_sk = "s".repeat(1025);
        assert!(invalid(
            store
                .put_new(Record::new(Key::new("P", &long_sk), json!({})))
                .await
        ));
        let long_pk = "p".repeat(2049);
        assert!(invalid(
            store
                .put_new(Record::new(Key::new(&long_pk, "S"), json!({})))
                .await
        ));
        let empty_index = Record::new(Key::new("P", "S"), json!({})).with_index("", "x");
        assert!(invalid(store.put_new(empty_index).await));
        let big = json!({ "blob": "x".repeat(400 * 1024) });
        assert!(invalid(
            store.put_new(Record::new(Key::new("P", "S"), big)).await
        ));
        assert!(invalid(store.get(&Key::new("", "S")).await.map(drop)));
        let backwards = SortKeyCondition::Between("b".into(), "a".into());
        assert!(invalid(
            store
                .query("P", &backwards, 10, false, None)
                .await
                .map(drop)
        ));
        assert!(invalid(
            store
                .query("", &SortKeyCondition::All, 10, false, None)
                .await
                .map(drop)
        ));
        store
            .put_new(Record::new(
                Key::new("p".repeat(2048), "s".repeat(1024)),
                json!({}),
            ))
            .await
            .expect("keys at the limits");
    }

    #[tokio::test]
    async fn empty_transaction_is_invalid() {
        let (_dir, store, _clock) = store_with_clock();
        let err = store.transact(vec![]).await.expect_err("empty");
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    }

    #[tokio::test]
    async fn records_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("records.db");
        {
            let store = SqliteRecordStore::open(&path).expect("open");
            store
                .put_new(
                    Record::new(Key::new("P", "S"), json!({ "kept": true })).with_index("I", "1"),
                )
                .await
                .expect("put_new");
        }
        let store = SqliteRecordStore::open(&path).expect("reopen");
        let record = store
            .get(&Key::new("P", "S"))
            .await
            .expect("get")
            .expect("present");
        assert_eq!(record.data, json!({ "kept": true }));
        assert_eq!(
            record.index,
            Some(IndexKey {
                pk: "I".into(),
                sk: "1".into()
            })
        );
    }

    #[tokio::test]
    async fn unreadable_data_is_reported_as_corrupt() {
        let (_dir, store, _clock) = store_with_clock();
        store
            .db
            .call_now(|c| {
                c.execute(
                    "INSERT INTO records (pk, sk, version, data) VALUES ('P', 'S', 1, 'not json')",
                    [],
                )
            })
            .expect("insert");
        let err = store.get(&Key::new("P", "S")).await.expect_err("corrupt");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_cursor_belongs_to_its_query() {
        let (_dir, store, _clock) = store_with_clock();
        for sk in ["a", "b", "c"] {
            store
                .put_new(Record::new(Key::new("P", sk), json!({})).with_index("I", sk))
                .await
                .expect("put_new");
        }
        let page = store
            .query("P", &SortKeyCondition::All, 1, false, None)
            .await
            .expect("query");
        let cursor = page.next.expect("cursor");
        let other_partition = store
            .query("Q", &SortKeyCondition::All, 1, false, Some(&cursor))
            .await;
        assert!(matches!(other_partition, Err(StoreError::Invalid(_))));
        let on_index = store
            .query_index("P", &SortKeyCondition::All, 1, false, Some(&cursor))
            .await;
        assert!(matches!(on_index, Err(StoreError::Invalid(_))));
    }
}
