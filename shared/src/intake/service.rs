//! The import use case: two streaming passes over a file. Pass 1 parses and validates every
//! row and writes nothing (so a file that is not what it claims, or a strict file with a bad
//! row, leaves no trace); a strict file then gets pass 2 as a dry run over an in-memory layer
//! (`intake::dry_run`), so a row the stored state refuses leaves no trace either. Pass 2
//! upserts the valid rows in batches; each batch is one atomic
//! write that also advances the import's checkpoint, so a crash followed by redelivery
//! resumes after the last committed row and never applies a row twice.

use crate::domain::{FieldError, KeyedHasher};
use crate::domain::{Principal, Role};
use crate::intake::Kind;
use crate::intake::dry_run::{DryRun, STRICT_MAX_ROWS};
use crate::intake::reader::{Fields, Format, ReadError, RowRef, open_rows};
pub use crate::intake::report::Rejection;
use crate::intake::report::{Merge, Report, ReportWriter};
use crate::ports::{
    BlobReader, Clock, IdGenerator, Key, Record, RecordStore, SortKeyCondition, StoreError, WriteOp,
};
use crate::services::ServiceError;
use crate::services::audit::{AuditEntry, AuditEvent, AuditTrail};
use crate::store::codec::{from_data, to_data};
use crate::store::identity::CODE_INDEX_DOMAIN;
use crate::store::keys;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::mpsc;

pub use crate::store::identity::NAME_INDEX_DOMAIN;

/// The most rows read ahead together ([`IntakeKind::read_ahead`]); otherwise a window is
/// as many rows as the store's bulk atomic write takes (about one batch).
pub const MAX_READ_AHEAD_ROWS: usize = 2_048;

/// The refusals one batch stores (JSON text, estimated) before it is committed: well under
/// the 400 KiB a record may hold.
const MAX_REFUSAL_BYTES: usize = 200 * 1024;

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
            started_at,
            finished_at,
        }
    }
}

/// The result of an import: the summary and the row report.
#[derive(Debug)]
pub struct ImportOutcome {
    /// The summary.
    pub summary: Summary,
    /// Every refused row and field, in row order (JSON Lines in a temporary file).
    pub report: Report,
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
    /// The kind records its changes in the audit trail, and none is configured.
    #[error("audit trail: {0}")]
    NoAuditTrail(String),
    /// The audit trail could not be read.
    #[error("audit trail")]
    Audit(#[source] crate::services::ServiceError),
    /// The row report could not be written to its temporary file.
    #[error("writing the row report to a temporary file failed")]
    Report(#[source] std::io::Error),
}

/// One kind of partner file: its columns, the rules of one row (pass 1, no store access)
/// and the writes of a valid row (pass 2). The pipeline around it (reader, whole-file
/// rejection, strict mode, checkpointed batches, report and summary) is the same for every
/// kind; `docs/INTAKE.md` ("Adding a kind") tells how a kind is added.
pub trait IntakeKind: Clone + Send + Sync + 'static {
    /// A row that passed every rule that does not need the store.
    type Row: Send + Sync + 'static;

    /// The columns of this kind's files, in their canonical order.
    const COLUMNS: &'static [&'static str];

    /// The most write operations one row adds to a batch.
    const MAX_OPS_PER_ROW: usize;

    /// Validates one row (values aligned with [`Self::COLUMNS`]); returns every violation.
    fn parse_row(
        &self,
        values: Vec<Option<String>>,
        today: NaiveDate,
    ) -> Result<Self::Row, Vec<FieldError>>;

    /// Validates one row as the pipeline reads it: values by the index of
    /// [`Self::COLUMNS`], borrowed from the reader's buffer. The default copies them into
    /// [`Self::parse_row`]; a kind whose files are large overrides it to allocate only what
    /// the valid row keeps (as `children` does).
    fn parse_fields(
        &self,
        fields: Fields<'_>,
        today: NaiveDate,
    ) -> Result<Self::Row, Vec<FieldError>> {
        self.parse_row(fields.to_values(Self::COLUMNS.len()), today)
    }

    /// Checks one row like [`Self::parse_fields`], with the same violations, keeping nothing
    /// (the validation pass). The default parses and drops the row; a kind whose files are
    /// large overrides it to skip building the row (as `children` does).
    fn check_fields(&self, fields: Fields<'_>, today: NaiveDate) -> Result<(), Vec<FieldError>> {
        self.parse_fields(fields, today).map(|_| ())
    }

    /// Reads ahead, in as few calls as it can ([`Batch::read_ahead`], one
    /// [`RecordStore::get_many`] each), the records that planning these rows (the next
    /// window of the file, in row order) will read; [`Self::plan`] then reads them with
    /// [`Batch::read`]. The default reads nothing ahead.
    fn read_ahead<R: RecordStore>(
        &self,
        ctx: &IntakeService<R>,
        rows: &[(u64, Self::Row)],
        batch: &mut Batch,
    ) -> impl Future<Output = Result<(), IntakeError>> + Send {
        let _ = (ctx, rows, batch);
        async { Ok(()) }
    }

    /// Plans the writes of one valid row into `batch`. A row must read committed state
    /// only: when it needs a record the batch already writes ([`Batch::touches`]), it
    /// returns [`Planned::CommitFirst`] before changing the batch, and is planned again
    /// once the batch is committed. A row that the store's state refuses (e.g. an unknown
    /// personal code) is recorded with [`Batch::reject`].
    fn plan<R: RecordStore>(
        &self,
        ctx: &IntakeService<R>,
        request: &ImportRequest,
        row: u64,
        value: &Self::Row,
        batch: &mut Batch,
    ) -> impl Future<Output = Result<Planned, IntakeError>> + Send;
}

/// What planning one row did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planned {
    /// The row's writes, its no-op or its rejection are in the batch.
    Added,
    /// The row needs a record the uncommitted batch writes: commit, then plan it again.
    CommitFirst,
}

enum Item<T> {
    Valid(u64, T),
    Invalid(u64, Vec<FieldError>),
}

/// What the committed rows did, by outcome (kept in the checkpoint).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Records created.
    pub inserted: u64,
    /// Records changed.
    pub updated: u64,
    /// Rows that changed nothing.
    pub unchanged: u64,
    /// New children flagged as possible duplicates.
    pub possible_duplicates: u64,
    /// Valid rows that the stored state refused (reported with their row).
    #[serde(default)]
    pub rejected: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.possible_duplicates += other.possible_duplicates;
        self.rejected += other.rejected;
    }
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

/// The writes of the rows planned since the last commit; committed atomically with the
/// checkpoint.
#[derive(Default)]
pub struct Batch {
    ops: Vec<WriteOp>,
    touched: HashSet<Key>,
    rows: usize,
    last_row: u64,
    counts: Counts,
    rejections: Vec<Rejection>,
    /// Estimated JSON size of `rejections`.
    rejection_bytes: usize,
    audited: Vec<AuditEntry>,
    /// Committed records read ahead for the current window of rows (`None`: absent). Kept
    /// across commits of the window, except the records a committed batch touched.
    read_ahead: HashMap<Key, Option<Record>>,
}

impl Batch {
    /// Reads these records in one call ([`RecordStore::get_many`]) for [`Batch::read`] to
    /// answer while the current window of rows is planned. Keys already read ahead are not
    /// read again.
    pub async fn read_ahead<R: RecordStore>(
        &mut self,
        records: &R,
        keys: impl IntoIterator<Item = Key>,
    ) -> Result<(), StoreError> {
        let mut wanted = HashSet::new();
        let keys: Vec<Key> = keys
            .into_iter()
            .filter(|k| !self.read_ahead.contains_key(k) && wanted.insert(k.clone()))
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        let found = records.get_many(&keys).await?;
        self.read_ahead.extend(keys.into_iter().zip(found));
        Ok(())
    }

    /// The committed record at `key`: as read ahead for this window ([`Batch::read_ahead`];
    /// a record a batch committed since is read again), else read from the store now.
    pub async fn read<R: RecordStore>(
        &self,
        records: &R,
        key: &Key,
    ) -> Result<Option<Record>, StoreError> {
        match self.read_ahead.get(key) {
            Some(record) => Ok(record.clone()),
            None => records.get(key).await,
        }
    }

    /// What was read ahead at `key`, if it was (`Some(None)`: read ahead and absent).
    pub fn read_ahead_of(&self, key: &Key) -> Option<Option<&Record>> {
        self.read_ahead.get(key).map(Option::as_ref)
    }

    /// Whether the batch already writes (or read for a write) this record.
    pub fn touches(&self, key: &Key) -> bool {
        self.touched.contains(key)
    }

    /// Marks a record as used by this batch (later rows needing it commit first).
    pub fn touch(&mut self, key: Key) {
        self.touched.insert(key);
    }

    /// Adds the writes of an audit entry (from [`AuditTrail::append_ops`]); the entry is
    /// copied to the audit archive once the batch has committed.
    pub fn push_audited(&mut self, entry: AuditEntry, ops: Vec<WriteOp>) {
        for op in ops {
            self.push(op);
        }
        self.audited.push(entry);
    }

    /// Adds a write (and marks its record as used).
    pub fn push(&mut self, op: WriteOp) {
        let key = match &op {
            WriteOp::PutNew(r) | WriteOp::PutVersioned { record: r, .. } => r.key.clone(),
            WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => key.clone(),
        };
        self.touched.insert(key);
        self.ops.push(op);
    }

    /// The outcome counters of the batch.
    pub fn counts(&mut self) -> &mut Counts {
        &mut self.counts
    }

    /// Records that the stored state refuses a valid row for several reasons (each reported,
    /// the row counted once, nothing written).
    pub fn reject_all(&mut self, row: u64, errors: Vec<FieldError>) {
        self.counts.rejected += 1;
        for error in errors {
            self.add_rejection(row, error);
        }
    }

    /// Records that the stored state refuses a valid row (it is reported, nothing written).
    pub fn reject(&mut self, row: u64, error: FieldError) {
        self.counts.rejected += 1;
        self.add_rejection(row, error);
    }

    fn add_rejection(&mut self, row: u64, error: FieldError) {
        // {"row":N,"field":"…","reason":"…"}, escapes aside.
        self.rejection_bytes += 48 + error.field.len() + error.reason.len();
        self.rejections.push(Rejection {
            row,
            field: error.field,
            reason: error.reason,
        });
    }
}

/// The import use case, generic over the record store.
pub struct IntakeService<R> {
    pub(crate) records: R,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<dyn IdGenerator>,
    pub(crate) code_index: KeyedHasher,
    pub(crate) name_index: KeyedHasher,
    pub(crate) audit: Option<AuditTrail<R>>,
    pub(crate) outbox: Option<crate::services::exports::Outbox>,
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
            records,
            clock,
            ids,
            code_index: KeyedHasher::new(identity_key, CODE_INDEX_DOMAIN),
            name_index: KeyedHasher::new(identity_key, NAME_INDEX_DOMAIN),
            audit: None,
            outbox: None,
            batch_rows: usize::MAX,
        }
    }

    /// Records export jobs with changes the receivers must learn (a new personal code from
    /// the population register), in the row's own atomic write; the exports sweep queues them.
    pub fn with_outbox(mut self, outbox: crate::services::exports::Outbox) -> Self {
        self.outbox = Some(outbox);
        self
    }

    /// Records the changes of kinds that audit them (population-register updates) in this
    /// trail, in the same atomic write as the change. Such kinds refuse to run without it.
    pub fn with_audit(mut self, audit: AuditTrail<R>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// The audit trail, for kinds that audit their changes (they refuse to run without one).
    pub(crate) fn audit_trail(&self) -> Result<&AuditTrail<R>, IntakeError> {
        self.audit
            .as_ref()
            .ok_or_else(|| IntakeError::NoAuditTrail("no audit trail is configured".into()))
    }

    /// The audit entry of a change that row `row` of a partner file makes, and its writes, to
    /// commit with the row's own writes ([`Batch::push_audited`]). The actor is `subject`, a
    /// partner system of the file's organisation, acting for `purpose`.
    pub(crate) async fn audit_row(
        &self,
        request: &ImportRequest,
        row: u64,
        subject: &str,
        purpose: &str,
        event: &AuditEvent,
    ) -> Result<(AuditEntry, Vec<WriteOp>), IntakeError> {
        let principal = Principal {
            subject: subject.into(),
            roles: vec![Role::PartnerSystem],
            organisation: request.organisation.clone(),
            territory: None,
            purpose: Some(purpose.into()),
        };
        let request_id = format!("intake:{}:row:{row}", request.import_id);
        self.audit_trail()?
            .append_ops(&principal, &request_id, event)
            .await
            .map_err(service_error)
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
        &self.records
    }

    /// Takes the record store back.
    pub fn into_records(self) -> R {
        self.records
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
        let now = self.clock.now();
        let today = now.date_naive();
        let checkpoint_key = keys::intake_checkpoint(&request.import_id);
        let stored = self.records.get(&checkpoint_key).await?;
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
                            self.clock.now(),
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
            summary.finished_at = self.clock.now();
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
                summary.finished_at = self.clock.now();
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
        summary.finished_at = self.clock.now();
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
            kind.read_ahead(self, &window, &mut batch).await?;
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
                    let planned = kind.plan(self, request, row, value, &mut batch).await?;
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
        let records = DryRun::new(self.records.clone());
        let dry = IntakeService {
            audit: self.audit.as_ref().map(|a| a.over(records.clone())),
            records,
            clock: self.clock.clone(),
            ids: self.ids.clone(),
            code_index: self.code_index.clone(),
            name_index: self.name_index.clone(),
            outbox: self.outbox.clone(),
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
            serde_json::to_value(&next).map_err(|e| StoreError::Invalid(e.to_string()))?,
        );
        ops.push(if progress.version == 0 {
            WriteOp::PutNew(record)
        } else {
            WriteOp::PutVersioned {
                record,
                expected: progress.version,
            }
        });
        self.records.transact_bulk(ops).await?;
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
        if let Some(audit) = &self.audit {
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

/// A use-case error met while importing: a store failure stays one (retried with the
/// message), anything else is an audit failure.
pub(crate) fn service_error(e: ServiceError) -> IntakeError {
    match e {
        ServiceError::Store(s) => IntakeError::Store(s),
        other => IntakeError::Audit(other),
    }
}
