//! The import use case: two streaming passes over a file. Pass 1 parses and validates every
//! row and writes nothing (so a file that is not what it claims, or a strict file with a bad
//! row, leaves no trace); a strict file then gets pass 2 as a dry run over an in-memory layer
//! (`intake::dry_run`), so a row the stored state refuses leaves no trace either. Pass 2
//! upserts the valid rows in batches; each batch is one atomic
//! write that also advances the import's checkpoint, so a crash followed by redelivery
//! resumes after the last committed row and never applies a row twice.

use crate::domain::{FieldError, KeyedHasher};
use crate::intake::dry_run::{DryRun, STRICT_MAX_ROWS};
use crate::intake::kind::{Batch, IntakeContext, IntakeKind, Planned};
use crate::intake::reader::{Fields, Format, ReadError, RowRef, open_rows};
use crate::intake::report::{Merge, Rejection, Report, ReportWriter};
use crate::intake::summary::{Counts, ImportOutcome, ImportRequest, IntakeError, Status, Summary};
use crate::ports::{
    BlobReader, Clock, IdGenerator, Key, Record, RecordStore, SortKeyCondition, StoreError, WriteOp,
};
use crate::services::audit::AuditTrail;
use crate::store::codec::{from_data, to_data};
use crate::store::identity::{CODE_INDEX_DOMAIN, NAME_INDEX_DOMAIN};
use crate::store::keys;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The most rows read ahead together ([`IntakeKind::read_ahead`]); otherwise a window is
/// as many rows as the store's bulk atomic write takes (about one batch).
pub const MAX_READ_AHEAD_ROWS: usize = 2_048;

/// The refusals one batch stores (JSON text, estimated) before it is committed: well under
/// the 400 KiB a record may hold.
const MAX_REFUSAL_BYTES: usize = 200 * 1024;

enum Item<T> {
    Valid(u64, T),
    Invalid(u64, Vec<FieldError>),
}

/// An import's checkpoint with what it takes to write it again: its record's key and the
/// version stored (0: not stored yet).
#[derive(Debug, Clone)]
struct Progress {
    checkpoint: Checkpoint,
    version: u64,
    key: Key,
}

/// Refusals read back per page when the report is assembled (each record holds one batch's).
const REFUSALS_PAGE: usize = 100;

/// The refusals of one committed batch, stored with it (the report's part of the commit
/// pass survives a crash and a redelivery with the rows it belongs to).
#[derive(Debug, Serialize, Deserialize)]
struct Refusals {
    rejections: Vec<Rejection>,
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

/// The import use case, generic over the record store: the pipeline every kind shares.
pub struct IntakeService<R> {
    /// What the kinds plan through.
    pub(crate) ctx: IntakeContext<R>,
    /// The most rows of one batch (else only the store's bulk write size bounds it).
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
            ctx: IntakeContext {
                records,
                clock,
                ids,
                code_index: KeyedHasher::new(identity_key, CODE_INDEX_DOMAIN),
                name_index: KeyedHasher::new(identity_key, NAME_INDEX_DOMAIN),
                audit: None,
                outbox: None,
            },
            batch_rows: usize::MAX,
        }
    }

    /// Records export jobs with changes the receivers must learn (a new personal code from
    /// the population register), in the row's own atomic write; the exports sweep queues them.
    pub fn with_outbox(mut self, outbox: crate::services::exports::Outbox) -> Self {
        self.ctx.outbox = Some(outbox);
        self
    }

    /// Records the changes of kinds that audit them (population-register updates) in this
    /// trail, in the same atomic write as the change. Such kinds refuse to run without it.
    pub fn with_audit(mut self, audit: AuditTrail<R>) -> Self {
        self.ctx.audit = Some(audit);
        self
    }

    /// Caps the rows per committed batch (at least 1; tests use small batches). By default
    /// a batch holds as many rows as the store's bulk atomic write takes
    /// ([`RecordStore::max_bulk_ops`]: 100 operations on DynamoDB, 20,000 on SQLite), less
    /// the checkpoint and the batch's refusals.
    pub fn with_batch_rows(mut self, rows: usize) -> Self {
        self.batch_rows = rows.max(1);
        self
    }

    /// The record store.
    pub fn records(&self) -> &R {
        &self.ctx.records
    }

    /// Takes the record store back.
    pub fn into_records(self) -> R {
        self.ctx.records
    }

    /// Imports one input of kind `kind` (the pipeline every kind shares).
    pub async fn import_kind<K, F, Fut>(
        &self,
        kind: K,
        request: &ImportRequest,
        open: F,
    ) -> Result<ImportOutcome, IntakeError>
    where
        K: IntakeKind,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<BlobReader, IntakeError>>,
    {
        let now = self.ctx.clock.now();
        let today = now.date_naive();
        let checkpoint_key = keys::intake_checkpoint(&request.import_id);
        let stored = self.ctx.records.get(&checkpoint_key).await?;
        let (checkpoint, version) = match stored {
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
        let mut progress = Progress {
            checkpoint,
            version,
            key: checkpoint_key,
        };

        // Pass 1: parse and validate everything, keep and write nothing.
        let mut rx = stream(
            open().await?,
            kind.clone(),
            request.format,
            today,
            K::check_fields,
        );
        let (mut rows_read, mut rejected) = (0u64, 0u64);
        let mut validation = ReportWriter::new().map_err(IntakeError::Report)?;
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
                            progress.checkpoint.started_at,
                            self.ctx.clock.now(),
                        ),
                        report: Report::empty().map_err(IntakeError::Report)?,
                    });
                }
                Err(ReadError::Io(e)) => return Err(IntakeError::Read(e)),
                Ok(Item::Valid(..)) => rows_read += 1,
                Ok(Item::Invalid(row, errors)) => {
                    rows_read += 1;
                    rejected += 1;
                    for e in errors {
                        validation
                            .push(&Rejection {
                                row,
                                field: e.field,
                                reason: e.reason,
                            })
                            .map_err(IntakeError::Report)?;
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
            started_at: progress.checkpoint.started_at,
            finished_at: now,
        };
        let validation = validation.finish().map_err(IntakeError::Report)?;
        if request.strict && rejected > 0 {
            summary.status = Status::Rejected;
            summary.reason = Some(format!(
                "strict mode: {rejected} row(s) failed validation, so nothing was committed"
            ));
            summary.finished_at = self.ctx.clock.now();
            return Ok(ImportOutcome {
                summary,
                report: validation,
            });
        }

        // Strict mode also refuses the file when the stored state refuses a row: the commit
        // pass runs first against an in-memory layer (`dry_run`), before anything is written
        // (a resumed import passed it already).
        if request.strict && !progress.checkpoint.done && progress.checkpoint.last_row == 0 {
            let refusal = if rows_read > STRICT_MAX_ROWS {
                Some((
                    format!(
                        "strict mode takes files of at most {STRICT_MAX_ROWS} rows and this one has \
                         {rows_read}: split it, or send it without strict mode"
                    ),
                    Report::empty().map_err(IntakeError::Report)?,
                    0,
                ))
            } else {
                self.strict_dry_run(&kind, request, &open, today, &progress, &validation)
                    .await?
            };
            if let Some((reason, report, count)) = refusal {
                summary.status = Status::Rejected;
                summary.reason = Some(reason);
                summary.rejected = count;
                summary.finished_at = self.ctx.clock.now();
                return Ok(ImportOutcome { summary, report });
            }
        }

        // Pass 2: commit the valid rows after the checkpoint, batch by batch.
        if !progress.checkpoint.done {
            self.commit_pass(&kind, request, &open, today, &mut progress)
                .await?;
        }
        let checkpoint = progress.checkpoint;
        summary.inserted = checkpoint.counts.inserted;
        summary.updated = checkpoint.counts.updated;
        summary.unchanged = checkpoint.counts.unchanged;
        summary.possible_duplicates = checkpoint.counts.possible_duplicates;
        let report = if checkpoint.counts.rejected > 0 {
            summary.rejected += checkpoint.counts.rejected;
            summary.status = Status::CompletedWithRejections;
            self.merge_refusals(&validation, &progress.key).await?
        } else {
            validation
        };
        summary.finished_at = self.ctx.clock.now();
        Ok(ImportOutcome { summary, report })
    }

    /// The validation pass's report with the refusals the commit pass stored, batch by
    /// batch, merged in by row.
    async fn merge_refusals(
        &self,
        validation: &Report,
        checkpoint_key: &Key,
    ) -> Result<Report, IntakeError> {
        let mut merge = Merge::new(validation).map_err(IntakeError::Report)?;
        let condition = SortKeyCondition::Prefix(keys::INTAKE_REFUSALS_PREFIX.into());
        let mut cursor = None;
        loop {
            let page = self
                .ctx
                .records
                .query(
                    &checkpoint_key.pk,
                    &condition,
                    REFUSALS_PAGE,
                    false,
                    cursor.as_deref(),
                )
                .await?;
            for record in &page.records {
                add_refusals(&mut merge, record)?;
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        merge.finish().map_err(IntakeError::Report)
    }

    /// Pass 2: plans and commits the valid rows after the checkpoint, batch by batch; the
    /// checkpoint ends `done`.
    async fn commit_pass<K, F, Fut>(
        &self,
        kind: &K,
        request: &ImportRequest,
        open: &F,
        today: NaiveDate,
        progress: &mut Progress,
    ) -> Result<(), IntakeError>
    where
        K: IntakeKind,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<BlobReader, IntakeError>>,
    {
        let mut rx = stream(
            open().await?,
            kind.clone(),
            request.format,
            today,
            K::parse_fields,
        );
        let mut batch = Batch::default();
        // Room for the checkpoint and the batch's refusals: each batch is one bulk atomic
        // write of the store, so its size is the store's (`RecordStore::max_bulk_ops`).
        let op_limit = self
            .ctx
            .records
            .max_bulk_ops()
            .saturating_sub(2)
            .max(K::MAX_OPS_PER_ROW);
        // Rows are read ahead a window at a time: about one full batch.
        let window_rows = (op_limit / K::MAX_OPS_PER_ROW.max(1)).clamp(1, MAX_READ_AHEAD_ROWS);
        let mut window: Vec<(u64, K::Row)> = Vec::with_capacity(window_rows);
        let mut ended = false;
        while !ended {
            window.clear();
            while window.len() < window_rows {
                let Some(item) = rx.recv().await else {
                    ended = true;
                    break;
                };
                match item {
                    Err(ReadError::Rejected(reason)) => {
                        return Err(IntakeError::Changed(reason));
                    }
                    Err(ReadError::Io(e)) => return Err(IntakeError::Read(e)),
                    Ok(Item::Invalid(..)) => {}
                    Ok(Item::Valid(row, value)) => {
                        if row > progress.checkpoint.last_row {
                            window.push((row, value));
                        }
                    }
                }
            }
            if window.is_empty() {
                continue;
            }
            // What the previous window read ahead is not needed any more.
            batch.read_ahead.clear();
            kind.read_ahead(&self.ctx, &window, &mut batch).await?;
            for (row, value) in &window {
                let row = *row;
                if batch.rows >= self.batch_rows
                    || batch.ops.len() + K::MAX_OPS_PER_ROW > op_limit
                    || batch.rejection_bytes > MAX_REFUSAL_BYTES
                {
                    self.commit(&mut batch, progress).await?;
                }
                // A row's planning changes nothing before answering CommitFirst, so it is
                // simply planned again on the committed state.
                loop {
                    let planned = kind
                        .plan(&self.ctx, request, row, value, &mut batch)
                        .await?;
                    match planned {
                        Planned::Added => break,
                        Planned::CommitFirst if batch.rows == 0 => {
                            return Err(IntakeError::Store(StoreError::Invalid(format!(
                                "row {row} asked to commit an empty batch first"
                            ))));
                        }
                        Planned::CommitFirst => {
                            self.commit(&mut batch, progress).await?;
                        }
                    }
                }
                batch.rows += 1;
                batch.last_row = row;
            }
        }
        progress.checkpoint.done = true;
        self.commit(&mut batch, progress).await
    }

    /// Strict mode's dry run ([`DryRun`]): the commit pass against an in-memory layer over
    /// the store. The reason, the report of the refused rows and their number when the
    /// stored state refuses any row; `None` when every row would commit.
    async fn strict_dry_run<K, F, Fut>(
        &self,
        kind: &K,
        request: &ImportRequest,
        open: &F,
        today: NaiveDate,
        progress: &Progress,
        validation: &Report,
    ) -> Result<Option<(String, Report, u64)>, IntakeError>
    where
        K: IntakeKind,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<BlobReader, IntakeError>>,
    {
        let records = DryRun::new(self.ctx.records.clone());
        let dry = IntakeService {
            ctx: IntakeContext {
                audit: self.ctx.audit.as_ref().map(|a| a.over(records.clone())),
                records,
                clock: self.ctx.clock.clone(),
                ids: self.ctx.ids.clone(),
                code_index: self.ctx.code_index.clone(),
                name_index: self.ctx.name_index.clone(),
                outbox: self.ctx.outbox.clone(),
            },
            batch_rows: self.batch_rows,
        };
        let mut progress = progress.clone();
        dry.commit_pass(kind, request, open, today, &mut progress)
            .await?;
        let refused = progress.checkpoint.counts.rejected;
        if refused == 0 {
            return Ok(None);
        }
        // The layer holds the refusals the dry run "committed" (a strict file is small).
        let mut merge = Merge::new(validation).map_err(IntakeError::Report)?;
        for record in dry
            .ctx
            .records
            .layered(&progress.key.pk, keys::INTAKE_REFUSALS_PREFIX)
        {
            add_refusals(&mut merge, &record)?;
        }
        Ok(Some((
            format!(
                "strict mode: {refused} row(s) refused by the registry's current state, so \
                 nothing was committed"
            ),
            merge.finish().map_err(IntakeError::Report)?,
            refused,
        )))
    }

    /// Commits the batch and the advanced checkpoint in one atomic write.
    async fn commit(&self, batch: &mut Batch, progress: &mut Progress) -> Result<(), IntakeError> {
        if batch.rows == 0 && !progress.checkpoint.done {
            return Ok(());
        }
        let mut next = progress.checkpoint.clone();
        next.last_row = next.last_row.max(batch.last_row);
        next.counts.add(&batch.counts);
        let mut ops = std::mem::take(&mut batch.ops);
        if let Some(first_row) = batch.rejections.first().map(|r| r.row) {
            // A batch's rows are after every earlier batch's, so its first refused row
            // names its refusals uniquely and in row order.
            let refusals = Refusals {
                rejections: std::mem::take(&mut batch.rejections),
            };
            ops.push(WriteOp::PutNew(Record::new(
                keys::intake_refusals(&progress.key, first_row),
                to_data(&refusals)?,
            )));
        }
        let record = Record::new(
            progress.key.clone(),
            serde_json::to_value(&next).map_err(StoreError::Encode)?,
        );
        ops.push(if progress.version == 0 {
            WriteOp::PutNew(record)
        } else {
            WriteOp::PutVersioned {
                record,
                expected: progress.version,
            }
        });
        self.ctx.records.transact_bulk(ops).await?;
        progress.checkpoint = next;
        progress.version += 1;
        let audited = std::mem::take(&mut batch.audited);
        // What was read ahead stays valid for the rest of the window, except the records
        // this batch wrote (or read for a write): those are read again.
        let mut read_ahead = std::mem::take(&mut batch.read_ahead);
        for key in &batch.touched {
            read_ahead.remove(key);
        }
        *batch = Batch {
            read_ahead,
            ..Batch::default()
        };
        if let Some(audit) = &self.ctx.audit {
            for entry in &audited {
                audit.archive(entry).await.map_err(IntakeError::Audit)?;
            }
        }
        Ok(())
    }
}

/// Merges the refusals one committed batch stored into a report.
fn add_refusals(merge: &mut Merge, record: &Record) -> Result<(), IntakeError> {
    let refusals: Refusals = from_data(record)?;
    merge.add(&refusals.rejections).map_err(IntakeError::Report)
}

/// Reads and validates rows on a blocking thread; a bounded channel keeps memory bounded.
fn stream<K: IntakeKind, T: Send + 'static>(
    reader: BlobReader,
    kind: K,
    format: Format,
    today: NaiveDate,
    rules: fn(&K, Fields<'_>, NaiveDate) -> Result<T, Vec<FieldError>>,
) -> mpsc::Receiver<Result<Item<T>, ReadError>> {
    let (tx, rx) = mpsc::channel(1024);
    let bridge = tokio_util::io::SyncIoBridge::new(reader);
    tokio::task::spawn_blocking(move || {
        let mut rows = match open_rows(bridge, format, K::COLUMNS) {
            Ok(rows) => rows,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        loop {
            let item = match rows.next_fields() {
                Ok(None) => return,
                Ok(Some(RowRef::Values { row, fields })) => match rules(&kind, fields, today) {
                    Ok(value) => Ok(Item::Valid(row, value)),
                    Err(errors) => Ok(Item::Invalid(row, errors)),
                },
                Ok(Some(RowRef::Malformed { row, errors })) => Ok(Item::Invalid(row, errors)),
                Err(e) => Err(e),
            };
            if tx.blocking_send(item).is_err() {
                return; // the import stopped listening
            }
        }
    });
    rx
}
