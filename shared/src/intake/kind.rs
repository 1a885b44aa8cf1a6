//! What a kind of partner file supplies to the shared pipeline (`pipeline.rs`), and what
//! it is given: the [`IntakeKind`] trait, the [`IntakeContext`] its planning reads through,
//! the [`Batch`] it plans its writes into, and the generic skeleton of the keyed kinds —
//! find the record a row is keyed to ([`stored`], [`indexed`]), decide insert / update /
//! unchanged ([`Upsert::of`]), write and count it ([`Batch::upsert`]).

use crate::domain::{FieldError, KeyedHasher, Principal, Role};
use crate::intake::reader::Fields;
use crate::intake::report::Rejection;
use crate::intake::summary::{Counts, ImportRequest, IntakeError, service_error};
use crate::ports::{Clock, IdGenerator, Key, Record, RecordStore, StoreError, WriteOp};
use crate::services::audit::{AuditEntry, AuditEvent, AuditTrail};
use crate::store::codec::{corrupt, from_data};
use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

/// A kind's row rules (pass 1, no store access): one row's values, aligned with the kind's
/// columns, to the valid row or every violation.
pub type RowRules<T> = fn(Vec<Option<String>>, NaiveDate) -> Result<T, Vec<FieldError>>;

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
    const RULES: RowRules<Self::Row>;

    /// Validates one row as the pipeline reads it: values by the index of
    /// [`Self::COLUMNS`], borrowed from the reader's buffer. The default copies them into
    /// [`Self::RULES`]; a kind whose files are large overrides it to allocate only what
    /// the valid row keeps (as `children` does).
    fn parse_fields(
        &self,
        fields: Fields<'_>,
        today: NaiveDate,
    ) -> Result<Self::Row, Vec<FieldError>> {
        (Self::RULES)(fields.to_values(Self::COLUMNS.len()), today)
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
        ctx: &IntakeContext<R>,
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
        ctx: &IntakeContext<R>,
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

/// What a kind's planning reads and writes through: the record store, the clock and ids,
/// the keyed hashers of the child-identity indexes, and the audit trail and the exports
/// outbox when configured. The pipeline (`IntakeService`) holds one; strict mode's dry run
/// another over its in-memory layer.
pub struct IntakeContext<R> {
    pub(crate) records: R,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<dyn IdGenerator>,
    pub(crate) code_index: KeyedHasher,
    pub(crate) name_index: KeyedHasher,
    pub(crate) audit: Option<AuditTrail<R>>,
    pub(crate) outbox: Option<crate::services::exports::Outbox>,
}

impl<R: RecordStore> IntakeContext<R> {
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
}

/// The writes of the rows planned since the last commit; committed atomically with the
/// checkpoint.
#[derive(Default)]
pub struct Batch {
    pub(super) ops: Vec<WriteOp>,
    pub(super) touched: HashSet<Key>,
    pub(super) rows: usize,
    pub(super) last_row: u64,
    pub(super) counts: Counts,
    pub(super) rejections: Vec<Rejection>,
    /// Estimated JSON size of `rejections`.
    pub(super) rejection_bytes: usize,
    pub(super) audited: Vec<AuditEntry>,
    /// Committed records read ahead for the current window of rows (`None`: absent). Kept
    /// across commits of the window, except the records a committed batch touched.
    pub(super) read_ahead: HashMap<Key, Option<Record>>,
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

/// The committed record at `key` and its value, if there is one.
pub async fn stored<R: RecordStore, T: DeserializeOwned>(
    records: &R,
    key: &Key,
) -> Result<Option<(Record, T)>, IntakeError> {
    let Some(record) = records.get(key).await? else {
        return Ok(None);
    };
    let value = from_data(&record)?;
    Ok(Some((record, value)))
}

/// The record an external-id index entry at `index_key` names (by its `<what>_id`, e.g.
/// `specialist_id`), found at `key_of(id)`, and its value; `None` when there is no entry.
/// An entry without a valid id, or naming a record that does not exist, is corrupt.
pub async fn indexed<R, I, T>(
    records: &R,
    index_key: &Key,
    what: &str,
    key_of: fn(I) -> Key,
) -> Result<Option<(Record, T)>, IntakeError>
where
    R: RecordStore,
    I: FromStr + Display + Copy + Send,
    T: DeserializeOwned,
{
    let Some(index) = records.get(index_key).await? else {
        return Ok(None);
    };
    let field = format!("{what}_id");
    let id: I = index
        .data
        .get(&field)
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| corrupt(&index, &format!("no valid {field}")))?;
    let record = records
        .get(&key_of(id))
        .await?
        .ok_or_else(|| dangling(&index, what, id))?;
    let value = from_data(&record)?;
    Ok(Some((record, value)))
}

/// The error of an index entry naming a `what` (`child`, `specialist`) `id` that does not
/// exist.
pub fn dangling(index: &Record, what: &str, id: impl Display) -> StoreError {
    corrupt(index, &format!("indexes {what} {id}, which does not exist"))
}

/// What a row of a keyed kind does to the one record (or element of one) it is keyed to:
/// the decision of the generic keyed upsert ([`Upsert::of`]), written and counted by
/// [`Batch::upsert`].
#[derive(Debug)]
pub enum Upsert<S, T> {
    /// Nothing stored under the key: the row's new value.
    Insert(T),
    /// What was stored (the record, or where the element is) and the row's version of its
    /// value, which differs from it.
    Update(S, T),
    /// The stored value already says what the row says.
    Unchanged,
}

impl<S, T: PartialEq> Upsert<S, T> {
    /// The row against what is stored under its key (`None`: nothing): a new value from
    /// `create`, or the stored value as `update` leaves it — unchanged when equal.
    pub fn of(
        stored: Option<(S, T)>,
        create: impl FnOnce() -> T,
        update: impl FnOnce(&T) -> T,
    ) -> Self {
        match stored {
            None => Self::Insert(create()),
            Some((at, existing)) => {
                let updated = update(&existing);
                if updated == existing {
                    Self::Unchanged
                } else {
                    Self::Update(at, updated)
                }
            }
        }
    }

    /// Counts the row's outcome (inserted, updated or unchanged).
    pub fn count(&self, counts: &mut Counts) {
        match self {
            Self::Insert(_) => counts.inserted += 1,
            Self::Update(..) => counts.updated += 1,
            Self::Unchanged => counts.unchanged += 1,
        }
    }
}

impl Batch {
    /// Adds the writes of a keyed upsert of a record and counts it: an insert writes the
    /// records `insert` makes of the new value, each new; an update writes the record
    /// `update` makes of the stored record and the changed value over the stored version;
    /// unchanged writes nothing.
    pub fn upsert<T>(
        &mut self,
        upsert: Upsert<Record, T>,
        insert: impl FnOnce(T) -> Result<Vec<Record>, StoreError>,
        update: impl FnOnce(&Record, T) -> Result<Record, StoreError>,
    ) -> Result<(), StoreError> {
        match upsert {
            Upsert::Insert(value) => {
                for record in insert(value)? {
                    self.push(WriteOp::PutNew(record));
                }
                self.counts.inserted += 1;
            }
            Upsert::Update(stored, value) => {
                let record = update(&stored, value)?;
                self.push(WriteOp::PutVersioned {
                    record,
                    expected: stored.version,
                });
                self.counts.updated += 1;
            }
            Upsert::Unchanged => self.counts.unchanged += 1,
        }
        Ok(())
    }
}
