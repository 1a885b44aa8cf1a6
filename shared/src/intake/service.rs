//! The import use case: two streaming passes over a file. Pass 1 parses and validates every
//! row and writes nothing (so a file that is not what it claims, or a strict file with a bad
//! row, leaves no trace). Pass 2 upserts the valid rows in batches; each batch is one atomic
//! write that also advances the import's checkpoint, so a crash followed by redelivery
//! resumes after the last committed row and never applies a row twice.

use crate::domain::child::ChildStatus;
use crate::domain::{Child, ChildId, FieldError, KeyedHasher};
use crate::intake::reader::{Format, RawRow, ReadError, open_rows};
use crate::intake::{Kind, children};
use crate::ports::records::MAX_TRANSACTION_OPS;
use crate::ports::{BlobReader, Clock, IdGenerator, Key, Record, RecordStore, StoreError, WriteOp};
use crate::services::care::{self, CareBasis};
use crate::services::children::{CODE_INDEX_DOMAIN, ValidNewChild};
use crate::services::keys;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Domain label of the keyed hash of names and birth date (children without a code).
pub const NAME_INDEX_DOMAIN: &str = "ravis/child-name-index/v1";
/// Rows per committed batch unless configured otherwise.
pub const DEFAULT_BATCH_ROWS: usize = 33;
/// Rejections listed in a report at most; the summary always counts all of them.
pub const MAX_REPORTED_REJECTIONS: usize = 100_000;

/// A stable identity of one import (the checkpoint key) from the parts naming the input.
pub fn import_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// Identity of this input (same file, same id): keys the checkpoint. See [`import_id`].
    pub import_id: String,
    /// Name of the input, for the summary.
    pub file: String,
    /// The kind of rows.
    pub kind: Kind,
    /// The file format.
    pub format: Format,
    /// Commit nothing when any row fails.
    pub strict: bool,
    /// Recorded as the registering organisation of new children.
    pub organisation: String,
}

/// One refused row and field, as written to the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// 1-based data row number (the CSV header is not counted).
    pub row: u64,
    /// The field (column), or `row` when the row as a whole is malformed.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// How an import ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every row was valid and committed.
    Completed,
    /// Valid rows were committed; the report lists the refused ones.
    CompletedWithRejections,
    /// Nothing was committed: the file is not what it claims, or strict mode found bad rows.
    Rejected,
}

/// The summary of an import (written as `*.summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The input.
    pub file: String,
    /// The kind of rows.
    pub kind: String,
    /// `csv` or `jsonl` (absent when the name gives no known format).
    pub format: Option<String>,
    /// Whether strict mode was on.
    pub strict: bool,
    /// The outcome.
    pub status: Status,
    /// Why the whole file was rejected, when it was.
    pub reason: Option<String>,
    /// Data rows read.
    pub rows_read: u64,
    /// Children created.
    pub inserted: u64,
    /// Existing children (same personal code) changed.
    pub updated: u64,
    /// Rows that matched the stored child exactly.
    pub unchanged: u64,
    /// Rows refused (each listed in the report).
    pub rejected: u64,
    /// New children without a code whose names and birth date match another child's.
    pub possible_duplicates: u64,
    /// Whether the report lists fewer rejections than `rejected` (over the cap).
    pub report_truncated: bool,
    /// When the import began (the first run, if it was resumed).
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
}

impl Summary {
    /// A summary of a file refused as a whole (nothing committed).
    pub fn rejected_file(
        file: &str,
        kind: &str,
        format: Option<Format>,
        strict: bool,
        reason: String,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
    ) -> Self {
        Self {
            file: file.to_owned(),
            kind: kind.to_owned(),
            format: format.map(|f| f.as_str().to_owned()),
            strict,
            status: Status::Rejected,
            reason: Some(reason),
            rows_read: 0,
            inserted: 0,
            updated: 0,
            unchanged: 0,
            rejected: 0,
            possible_duplicates: 0,
            report_truncated: false,
            started_at,
            finished_at,
        }
    }
}

/// The result of an import: the summary and the refused rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOutcome {
    /// The summary.
    pub summary: Summary,
    /// The refused rows, in file order (at most [`MAX_REPORTED_REJECTIONS`]).
    pub rejections: Vec<Rejection>,
}

impl ImportOutcome {
    /// The report as JSON Lines: one object per refused row and field.
    pub fn report_jsonl(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for r in &self.rejections {
            // Serializing a struct of strings and integers cannot fail.
            if serde_json::to_writer(&mut out, r).is_ok() {
                out.push(b'\n');
            }
        }
        out
    }
}

/// Why an import could not finish (the message is retried; the checkpoint keeps progress).
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The input could not be opened.
    #[error("opening the input failed")]
    Open(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Reading the input failed.
    #[error("reading the input failed")]
    Read(#[source] std::io::Error),
    /// The input passed validation, then read differently (it was replaced meanwhile).
    #[error("the input changed during the import: {0}")]
    Changed(String),
    /// The record store failed (or a concurrent writer won a batch: retry resumes).
    #[error("record store")]
    Store(#[from] StoreError),
    /// The reader task died.
    #[error("the file reader stopped unexpectedly")]
    Reader(#[source] tokio::task::JoinError),
}

enum Item {
    Valid(u64, ValidNewChild),
    Invalid(u64, Vec<FieldError>),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Counts {
    inserted: u64,
    updated: u64,
    unchanged: u64,
    possible_duplicates: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.possible_duplicates += other.possible_duplicates;
    }
}

/// Progress of one import, stored with every committed batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Checkpoint {
    file: String,
    /// Rows up to and including this one are committed (or were refused).
    last_row: u64,
    counts: Counts,
    done: bool,
    started_at: DateTime<Utc>,
}

#[derive(Default)]
struct Batch {
    ops: Vec<WriteOp>,
    touched: HashSet<Key>,
    rows: usize,
    last_row: u64,
    counts: Counts,
}

/// The import use case, generic over the record store.
pub struct IntakeService<R> {
    records: R,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    code_index: KeyedHasher,
    name_index: KeyedHasher,
    batch_rows: usize,
}

impl<R: RecordStore> IntakeService<R> {
    /// Builds the service; `identity_key` is the same key `POST /children` indexes codes with.
    pub fn new(
        records: R,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        identity_key: &[u8],
    ) -> Self {
        Self {
            records,
            clock,
            ids,
            code_index: KeyedHasher::new(identity_key, CODE_INDEX_DOMAIN),
            name_index: KeyedHasher::new(identity_key, NAME_INDEX_DOMAIN),
            batch_rows: DEFAULT_BATCH_ROWS,
        }
    }

    /// Sets the rows per committed batch (1..=33: a row writes at most three records — the
    /// child, its index and the file's organisation's care link — and the checkpoint takes
    /// one more operation of the atomic write).
    pub fn with_batch_rows(mut self, rows: usize) -> Self {
        self.batch_rows = rows.clamp(1, (MAX_TRANSACTION_OPS - 1) / 3);
        self
    }

    /// The record store.
    pub fn records(&self) -> &R {
        &self.records
    }

    /// Takes the record store back.
    pub fn into_records(self) -> R {
        self.records
    }

    /// Imports one input; `open` opens a fresh read of it (called once per pass).
    pub async fn import<F, Fut>(
        &self,
        request: &ImportRequest,
        open: F,
    ) -> Result<ImportOutcome, IntakeError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<BlobReader, IntakeError>>,
    {
        let now = self.clock.now();
        let today = now.date_naive();
        let checkpoint_key = keys::intake_checkpoint(&request.import_id);
        let stored = self.records.get(&checkpoint_key).await?;
        let (mut checkpoint, mut version) = match stored {
            Some(record) => (
                serde_json::from_value::<Checkpoint>(record.data).map_err(|e| {
                    StoreError::Corrupt {
                        pk: checkpoint_key.pk.clone(),
                        sk: checkpoint_key.sk.clone(),
                        reason: e.to_string(),
                    }
                })?,
                record.version,
            ),
            None => (
                Checkpoint {
                    file: request.file.clone(),
                    last_row: 0,
                    counts: Counts::default(),
                    done: false,
                    started_at: now,
                },
                0,
            ),
        };

        // Pass 1: parse and validate everything, write nothing.
        let mut rx = stream(open().await?, request.kind, request.format, today);
        let (mut rows_read, mut rejected) = (0u64, 0u64);
        let mut rejections = Vec::new();
        let mut truncated = false;
        while let Some(item) = rx.recv().await {
            match item {
                Err(ReadError::Rejected(reason)) => {
                    return Ok(ImportOutcome {
                        summary: Summary::rejected_file(
                            &request.file,
                            request.kind.as_str(),
                            Some(request.format),
                            request.strict,
                            reason,
                            checkpoint.started_at,
                            self.clock.now(),
                        ),
                        rejections: Vec::new(),
                    });
                }
                Err(ReadError::Io(e)) => return Err(IntakeError::Read(e)),
                Ok(Item::Valid(..)) => rows_read += 1,
                Ok(Item::Invalid(row, errors)) => {
                    rows_read += 1;
                    rejected += 1;
                    for e in errors {
                        if rejections.len() < MAX_REPORTED_REJECTIONS {
                            rejections.push(Rejection {
                                row,
                                field: e.field,
                                reason: e.reason,
                            });
                        } else {
                            truncated = true;
                        }
                    }
                }
            }
        }
        let mut summary = Summary {
            file: request.file.clone(),
            kind: request.kind.as_str().to_owned(),
            format: Some(request.format.as_str().to_owned()),
            strict: request.strict,
            status: if rejected == 0 {
                Status::Completed
            } else {
                Status::CompletedWithRejections
            },
            reason: None,
            rows_read,
            inserted: 0,
            updated: 0,
            unchanged: 0,
            rejected,
            possible_duplicates: 0,
            report_truncated: truncated,
            started_at: checkpoint.started_at,
            finished_at: now,
        };
        if request.strict && rejected > 0 {
            summary.status = Status::Rejected;
            summary.reason = Some(format!(
                "strict mode: {rejected} row(s) failed validation, so nothing was committed"
            ));
            summary.finished_at = self.clock.now();
            return Ok(ImportOutcome {
                summary,
                rejections,
            });
        }

        // Pass 2: commit the valid rows after the checkpoint, batch by batch.
        if !checkpoint.done {
            let mut rx = stream(open().await?, request.kind, request.format, today);
            let mut batch = Batch::default();
            while let Some(item) = rx.recv().await {
                let (row, child) = match item {
                    Err(ReadError::Rejected(reason)) => return Err(IntakeError::Changed(reason)),
                    Err(ReadError::Io(e)) => return Err(IntakeError::Read(e)),
                    Ok(Item::Invalid(..)) => continue,
                    Ok(Item::Valid(row, child)) => (row, child),
                };
                if row <= checkpoint.last_row {
                    continue;
                }
                self.plan_row(
                    row,
                    child,
                    request,
                    &mut batch,
                    &mut checkpoint,
                    &mut version,
                )
                .await?;
            }
            checkpoint.done = true;
            self.commit(&mut batch, &mut checkpoint, &mut version, &checkpoint_key)
                .await?;
        }
        summary.inserted = checkpoint.counts.inserted;
        summary.updated = checkpoint.counts.updated;
        summary.unchanged = checkpoint.counts.unchanged;
        summary.possible_duplicates = checkpoint.counts.possible_duplicates;
        summary.finished_at = self.clock.now();
        Ok(ImportOutcome {
            summary,
            rejections,
        })
    }

    /// Adds one valid row's writes to the batch, committing the batch first when it is full
    /// or already touches a record this row needs (its reads must see committed state).
    async fn plan_row(
        &self,
        row: u64,
        valid: ValidNewChild,
        request: &ImportRequest,
        batch: &mut Batch,
        checkpoint: &mut Checkpoint,
        version: &mut u64,
    ) -> Result<(), IntakeError> {
        let lookup_key = match &valid.personal_code {
            Some(code) => keys::personal_code(&self.code_index.hash(code.as_str())),
            None => keys::child_name_index(&self.name_index.hash(&name_key(&valid))),
        };
        if batch.rows >= self.batch_rows || batch.touched.contains(&lookup_key) {
            let key = keys::intake_checkpoint(&request.import_id);
            self.commit(batch, checkpoint, version, &key).await?;
        }
        batch.rows += 1;
        batch.last_row = row;
        batch.touched.insert(lookup_key.clone());
        let now = self.clock.now();
        let lookup = self.records.get(&lookup_key).await?;
        if valid.personal_code.is_some() {
            let Some(index) = lookup else {
                let child = new_child(&valid, ChildId::from_uuid(self.ids.new_id()), now, request);
                batch.ops.push(WriteOp::PutNew(Record::new(
                    keys::child(child.id),
                    to_data(&child)?,
                )));
                batch.ops.push(WriteOp::PutNew(Record::new(
                    lookup_key,
                    json!({"child_id": child.id}),
                )));
                batch.ops.push(WriteOp::PutNew(care::new_link_record(
                    child.id,
                    &request.organisation,
                    CareBasis::Registered,
                    now,
                )));
                batch.counts.inserted += 1;
                return Ok(());
            };
            let id = child_id_of(&index, "child_id")?;
            let child_key = keys::child(id);
            let stored =
                self.records
                    .get(&child_key)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt {
                        pk: index.key.pk.clone(),
                        sk: index.key.sk.clone(),
                        reason: format!("indexes child {id}, which does not exist"),
                    })?;
            let existing: Child = from_data(&stored)?;
            let updated = apply(existing.clone(), &valid);
            if updated == existing {
                batch.counts.unchanged += 1;
            } else {
                // Keep any fields this version does not model; replace the modelled ones.
                let mut data = stored.data.clone();
                if let (Some(target), Value::Object(fields)) =
                    (data.as_object_mut(), to_data(&updated)?)
                {
                    target.extend(fields);
                }
                batch.touched.insert(child_key.clone());
                batch.ops.push(WriteOp::PutVersioned {
                    record: Record::new(child_key, data),
                    expected: stored.version,
                });
                batch.counts.updated += 1;
            }
            return Ok(());
        }

        // No personal code: the same names, birth date and details as a code-less child
        // already registered is a re-import of that child; same names and birth date with
        // other details is a new child flagged as a possible duplicate.
        let (candidates, index_version) = match &lookup {
            Some(record) => (ids_of(record)?, Some(record.version)),
            None => (Vec::new(), None),
        };
        for id in &candidates {
            let Some(stored) = self.records.get(&keys::child(*id)).await? else {
                continue;
            };
            let existing: Child = from_data(&stored)?;
            if existing.personal_code.is_none() && same_child(&existing, &valid) {
                batch.counts.unchanged += 1;
                return Ok(());
            }
        }
        let child = new_child(&valid, ChildId::from_uuid(self.ids.new_id()), now, request);
        let mut data = to_data(&child)?;
        if !candidates.is_empty() {
            data["possible_duplicate_of"] = json!(candidates);
            batch.counts.possible_duplicates += 1;
        }
        batch
            .ops
            .push(WriteOp::PutNew(Record::new(keys::child(child.id), data)));
        let mut all = candidates;
        all.push(child.id);
        let index = Record::new(lookup_key, json!({"child_ids": all}));
        batch.ops.push(match index_version {
            None => WriteOp::PutNew(index),
            Some(expected) => WriteOp::PutVersioned {
                record: index,
                expected,
            },
        });
        batch.ops.push(WriteOp::PutNew(care::new_link_record(
            child.id,
            &request.organisation,
            CareBasis::Registered,
            now,
        )));
        batch.counts.inserted += 1;
        Ok(())
    }

    /// Commits the batch and the advanced checkpoint in one atomic write.
    async fn commit(
        &self,
        batch: &mut Batch,
        checkpoint: &mut Checkpoint,
        version: &mut u64,
        key: &Key,
    ) -> Result<(), IntakeError> {
        if batch.rows == 0 && !checkpoint.done {
            return Ok(());
        }
        let mut next = checkpoint.clone();
        next.last_row = next.last_row.max(batch.last_row);
        next.counts.add(&batch.counts);
        let record = Record::new(
            key.clone(),
            serde_json::to_value(&next).map_err(|e| StoreError::Invalid(e.to_string()))?,
        );
        let mut ops = std::mem::take(&mut batch.ops);
        ops.push(if *version == 0 {
            WriteOp::PutNew(record)
        } else {
            WriteOp::PutVersioned {
                record,
                expected: *version,
            }
        });
        self.records.transact(ops).await?;
        *checkpoint = next;
        *version += 1;
        *batch = Batch::default();
        Ok(())
    }
}

/// Reads and validates rows on a blocking thread; a bounded channel keeps memory bounded.
fn stream(
    reader: BlobReader,
    kind: Kind,
    format: Format,
    today: NaiveDate,
) -> mpsc::Receiver<Result<Item, ReadError>> {
    let (tx, rx) = mpsc::channel(1024);
    let bridge = tokio_util::io::SyncIoBridge::new(reader);
    tokio::task::spawn_blocking(move || {
        let rows = match open_rows(bridge, format, kind.columns()) {
            Ok(rows) => rows,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        for raw in rows {
            let item = raw.map(|raw| match raw {
                RawRow::Values { row, values } => match kind {
                    Kind::Children => match children::child_from_row(values, today) {
                        Ok(child) => Item::Valid(row, child),
                        Err(errors) => Item::Invalid(row, errors),
                    },
                },
                RawRow::Malformed { row, errors } => Item::Invalid(row, errors),
            });
            if tx.blocking_send(item).is_err() {
                return; // the import stopped listening
            }
        }
    });
    rx
}

fn name_key(valid: &ValidNewChild) -> String {
    format!(
        "{}\0{}\0{}",
        valid.given_name.to_lowercase(),
        valid.family_name.to_lowercase(),
        valid.birth_date
    )
}

fn new_child(
    valid: &ValidNewChild,
    id: ChildId,
    now: DateTime<Utc>,
    request: &ImportRequest,
) -> Child {
    Child {
        id,
        personal_code: valid.personal_code.clone(),
        given_name: valid.given_name.clone(),
        family_name: valid.family_name.clone(),
        birth_date: valid.birth_date,
        sex: valid.sex,
        gestational_age_weeks: valid.gestational_age_weeks,
        atvk: valid.atvk.clone(),
        status: ChildStatus::Active,
        created_at: now,
        registered_by_org: request.organisation.clone(),
    }
}

/// The stored child with the file's values; an empty optional value keeps the stored one.
fn apply(mut child: Child, valid: &ValidNewChild) -> Child {
    child.given_name.clone_from(&valid.given_name);
    child.family_name.clone_from(&valid.family_name);
    child.birth_date = valid.birth_date;
    child.sex = valid.sex;
    if valid.gestational_age_weeks.is_some() {
        child.gestational_age_weeks = valid.gestational_age_weeks;
    }
    if valid.atvk.is_some() {
        child.atvk.clone_from(&valid.atvk);
    }
    child
}

fn same_child(child: &Child, valid: &ValidNewChild) -> bool {
    child.given_name == valid.given_name
        && child.family_name == valid.family_name
        && child.birth_date == valid.birth_date
        && child.sex == valid.sex
        && child.gestational_age_weeks == valid.gestational_age_weeks
        && child.atvk == valid.atvk
}

fn to_data(child: &Child) -> Result<Value, StoreError> {
    serde_json::to_value(child).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn from_data(record: &Record) -> Result<Child, StoreError> {
    serde_json::from_value(record.data.clone()).map_err(|e| StoreError::Corrupt {
        pk: record.key.pk.clone(),
        sk: record.key.sk.clone(),
        reason: e.to_string(),
    })
}

fn corrupt(record: &Record, reason: &str) -> StoreError {
    StoreError::Corrupt {
        pk: record.key.pk.clone(),
        sk: record.key.sk.clone(),
        reason: reason.into(),
    }
}

fn child_id_of(record: &Record, field: &str) -> Result<ChildId, StoreError> {
    record
        .data
        .get(field)
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| corrupt(record, "no valid child_id"))
}

fn ids_of(record: &Record) -> Result<Vec<ChildId>, StoreError> {
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
