//! [`BlobStore`] on a local directory: one file per object, with a small SQLite index.
//!
//! Files sit at paths derived from their keys (see [`object_path`]), so an operator can
//! browse a bucket; the index (`.index.db` in the root) holds each object's metadata and
//! is the source of truth for what exists, which gives S3's byte-wise listing order and
//! pagination. A write goes to a temporary file in the target directory, is fsynced,
//! recorded in the index together with a journal entry, then renamed into place and the
//! directory fsynced; on open, the journal finishes (or discards) whatever a crash
//! interrupted. One process owns a store directory at a time.
//!
//! A bucket of many small objects (the local audit archive) can be **packed**
//! ([`Layout::Packed`], kept in the index with the bucket): an object of up to
//! [`PACKED_MAX`] bytes put from memory is then stored in its index row itself, committed
//! in the same transaction as its metadata — no file, no temporary file, no directory sync —
//! and larger objects still go to files. The layout only decides where new objects go:
//! every object is read from wherever it was stored, so a bucket can change layout with
//! objects of both kinds in it.

use super::object_events::{CreatedObject, ObjectEvents, s3_put_event};
use super::sqlite::{Db, prefix_upper_bound};
use crate::ports::blobs::{file_put_size, unconditionally_stored, validate_key};
use crate::ports::{
    BlobError, BlobMeta, BlobPage, BlobReader, BlobStore, Clock, PutIfAbsent, SystemClock,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, named_params, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

const INDEX_FILE: &str = ".index.db";
const TMP_PREFIX: &str = ".tmp-";
/// Longest file name written; longer encodings are shortened with a hash (most file systems
/// allow 255 bytes).
const MAX_NAME: usize = 200;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS objects (
    key           TEXT    PRIMARY KEY,
    path          TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    etag          TEXT    NOT NULL,
    content_type  TEXT,
    last_modified INTEGER NOT NULL,
    body          BLOB
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal (
    id     INTEGER PRIMARY KEY,
    op     TEXT    NOT NULL CHECK (op IN ('discard', 'rename', 'unlink')),
    tmp    TEXT,
    target TEXT
);
CREATE TABLE IF NOT EXISTS events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    configuration TEXT    NOT NULL,
    key           TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    etag          TEXT    NOT NULL,
    event_time    INTEGER NOT NULL
);
";

/// The largest object a packed bucket keeps in its index (larger ones are files).
pub const PACKED_MAX: usize = 64 * 1024;

/// Where a bucket puts new objects (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One file per object, at a path derived from its key: an operator can browse it.
    Files,
    /// Objects of up to [`PACKED_MAX`] bytes put from memory in the index, larger ones in
    /// files: one transaction per put (or per batch), for buckets of many small objects.
    Packed,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Files => "files",
            Layout::Packed => "packed",
        }
    }
}

/// Adds what later versions added to an index created before them: the `body` column of
/// packed objects.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has_body: i64 = conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('objects') WHERE name = 'body'",
        [],
        |row| row.get(0),
    )?;
    if has_body == 0 {
        conn.execute_batch("ALTER TABLE objects ADD COLUMN body BLOB")?;
    }
    Ok(())
}

fn unavailable(err: impl std::error::Error + Send + Sync + 'static) -> BlobError {
    BlobError::Unavailable(Box::new(err))
}

/// Encodes one key segment as a file name that any case-insensitive, normalising file
/// system holds distinctly: lowercase ASCII letters, digits, `-`, `_` and (not leading) `.`
/// stay; every other byte becomes `%XX` (uppercase hex). Directory names (every segment
/// but the last) end in `%2F`, the encoding of the `/` that follows them, so `a` and `a/b`
/// can both exist. Names longer than [`MAX_NAME`] are cut and end in `#` and a hash.
fn encode_name(segment: &str, is_dir: bool) -> String {
    let mut name = String::with_capacity(segment.len() + 3);
    for (i, &b) in segment.as_bytes().iter().enumerate() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => name.push(char::from(b)),
            b'.' if i > 0 => name.push('.'),
            _ => name.push_str(&format!("%{b:02X}")),
        }
    }
    if is_dir {
        name.push_str("%2F");
    }
    if name.len() > MAX_NAME {
        let mut hasher = Sha256::new();
        hasher.update(segment.as_bytes());
        hasher.update([u8::from(is_dir)]);
        let hash = hex::encode(hasher.finalize());
        // `#` is always encoded in ordinary names, so a shortened name cannot equal one.
        name.truncate(MAX_NAME - 33);
        name.push('#');
        name.push_str(&hash[..32]);
    }
    name
}

/// The path of an object's file relative to the store root, `/`-separated.
pub(crate) fn object_path(key: &str) -> String {
    let segments: Vec<&str> = key.split('/').collect();
    let last = segments.len() - 1;
    segments
        .iter()
        .enumerate()
        .map(|(i, seg)| encode_name(seg, i < last))
        .collect::<Vec<_>>()
        .join("/")
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates the directories of `rel_dir` under `root`, fsyncing each new one's parent so
/// the new entry is durable.
fn create_dirs(root: &Path, rel_dir: &Path) -> io::Result<()> {
    let mut dir = root.to_path_buf();
    for part in rel_dir.components() {
        let parent = dir.clone();
        dir.push(part);
        match fs::create_dir(&dir) {
            Ok(()) => fsync_dir(&parent)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Removes the now-empty directories above a deleted file, up to (not including) `root`.
fn prune_dirs(root: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) {
            break;
        }
        // Fails (and stops) on the first directory that still holds something.
        if fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    if let Some(d) = dir {
        // Best effort: an empty directory left behind after a crash is harmless.
        let _ = fsync_dir(d);
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn to_millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Where a listing page ended.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListCursor {
    after: String,
}

impl ListCursor {
    pub(crate) fn encode(after: &str) -> String {
        let json = serde_json::to_vec(&ListCursor {
            after: after.to_owned(),
        })
        .unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    pub(crate) fn decode(raw: &str) -> Result<String, BlobError> {
        let invalid = || BlobError::Invalid("the cursor was not issued by this store".into());
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let cursor: ListCursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        Ok(cursor.after)
    }
}

/// The state every clone of a store shares.
struct Shared {
    root: PathBuf,
    bucket: String,
    index: Db,
    clock: Arc<dyn Clock>,
    /// Whether new small objects go into the index ([`Layout::Packed`]).
    packed: std::sync::atomic::AtomicBool,
    /// Serialises file-system changes, and the open of a file with them, so a reader never
    /// sees a file that does not match the index.
    files: Mutex<()>,
    /// Lets one task at a time deliver pending events, so none is sent twice by this process.
    delivering: tokio::sync::Mutex<()>,
    /// The bucket's event notifications (like S3's, a property of the bucket, not of a handle).
    events: RwLock<Vec<ObjectEvents>>,
}

/// The blob store of the embedded backend: one bucket as a directory.
#[derive(Clone)]
pub struct DirBlobStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for DirBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirBlobStore")
            .field("root", &self.shared.root)
            .field("bucket", &self.shared.bucket)
            .field("events", &self.event_configs())
            .finish_non_exhaustive()
    }
}

fn row_meta(row: &rusqlite::Row<'_>) -> rusqlite::Result<BlobMeta> {
    let size: i64 = row.get(1)?;
    Ok(BlobMeta {
        key: row.get(0)?,
        size: u64::try_from(size).unwrap_or_default(),
        etag: row.get(2)?,
        content_type: row.get(3)?,
        last_modified: from_millis(row.get(4)?),
    })
}

impl DirBlobStore {
    /// Opens (creating if needed) the bucket `bucket` stored in directory `root`, on the
    /// system clock, and completes any write a crash interrupted.
    pub fn open(root: impl AsRef<Path>, bucket: &str) -> Result<Self, BlobError> {
        Self::open_with_clock(root, bucket, Arc::new(SystemClock))
    }

    /// Opens the store, stamping `last_modified` from `clock`.
    pub fn open_with_clock(
        root: impl AsRef<Path>,
        bucket: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, BlobError> {
        let root = root.as_ref().to_path_buf();
        fs::create_dir_all(&root).map_err(unavailable)?;
        let index = Db::open(&root.join(INDEX_FILE)).map_err(unavailable)?;
        let packed = index
            .call_now(|conn| -> rusqlite::Result<bool> {
                conn.execute_batch(SCHEMA)?;
                migrate(conn)?;
                let layout: Option<String> = conn
                    .query_row(
                        "SELECT value FROM settings WHERE name = 'layout'",
                        [],
                        |row| row.get(0),
                    )
                    .optional()?;
                Ok(layout.as_deref() == Some(Layout::Packed.name()))
            })
            .map_err(unavailable)?;
        let shared = Shared {
            root,
            bucket: bucket.to_owned(),
            index,
            packed: packed.into(),
            clock,
            files: Mutex::new(()),
            delivering: tokio::sync::Mutex::new(()),
            events: RwLock::default(),
        };
        shared.index.call_now(|conn| recover(&shared.root, conn))?;
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    /// The bucket's layout: where new objects go.
    pub fn layout(&self) -> Layout {
        if self
            .shared
            .packed
            .load(std::sync::atomic::Ordering::Acquire)
        {
            Layout::Packed
        } else {
            Layout::Files
        }
    }

    /// Sets the bucket's layout (kept in its index: every later open of the bucket uses it).
    /// Objects already stored stay where they are and are read as before.
    pub fn set_layout(&self, layout: Layout) -> Result<(), BlobError> {
        let _files = self
            .shared
            .files
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.shared
            .index
            .call_now(|conn| {
                conn.execute(
                    "INSERT OR REPLACE INTO settings (name, value) VALUES ('layout', ?1)",
                    params![layout.name()],
                )
            })
            .map_err(unavailable)?;
        self.shared.packed.store(
            layout == Layout::Packed,
            std::sync::atomic::Ordering::Release,
        );
        Ok(())
    }

    /// Configures an S3-style event notification on the bucket (every handle of this store
    /// sees it), replacing one with the same id.
    pub fn add_events(&self, events: ObjectEvents) {
        let mut all = self
            .shared
            .events
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        all.retain(|e| e.id != events.id);
        all.push(events);
    }

    /// [`DirBlobStore::add_events`] in builder style.
    pub fn with_events(self, events: ObjectEvents) -> Self {
        self.add_events(events);
        self
    }

    fn event_configs(&self) -> Vec<ObjectEvents> {
        self.shared
            .events
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The bucket name this store stands for (the `bucket.name` of its events).
    pub fn bucket(&self) -> &str {
        &self.shared.bucket
    }

    /// Sends every pending object event to its queue, oldest first; returns how many were
    /// sent. Puts call this themselves; call it after a restart or a failed send.
    pub async fn deliver_events(&self) -> Result<usize, BlobError> {
        let configs = self.event_configs();
        if configs.is_empty() {
            return Ok(0);
        }
        let _one_at_a_time = self.shared.delivering.lock().await;
        let pending = self
            .shared
            .index
            .call(unavailable, |conn| {
                let mut stmt = conn
                    .prepare(
                        "SELECT seq, configuration, key, size, etag, event_time FROM events ORDER BY seq",
                    )
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map([], |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, i64>(3)?,
                            row.get::<_, String>(4)?,
                            row.get::<_, i64>(5)?,
                        ))
                    })
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(unavailable)?;
                Ok(rows)
            })
            .await?;
        let mut sent = 0;
        for (seq, configuration, key, size, etag, event_time) in pending {
            // Events of a configuration no longer present stay until it is configured again.
            let Some(target) = configs.iter().find(|e| e.id == configuration) else {
                continue;
            };
            let body = s3_put_event(&CreatedObject {
                configuration_id: &configuration,
                bucket: &self.shared.bucket,
                key: &key,
                size: u64::try_from(size).unwrap_or_default(),
                etag: &etag,
                event_time: from_millis(event_time),
                sequence: u64::try_from(seq).unwrap_or_default(),
            });
            target
                .sink
                .send_event(&body.to_string())
                .await
                .map_err(|e| BlobError::Unavailable(Box::new(e)))?;
            // Sent before deleted: a crash in between sends it again (at least once, like S3).
            self.shared
                .index
                .call(unavailable, move |conn| {
                    conn.execute("DELETE FROM events WHERE seq = ?1", params![seq])
                        .map_err(unavailable)
                })
                .await?;
            sent += 1;
        }
        Ok(sent)
    }

    /// Runs file work with the file lock held, off the async runtime.
    async fn with_files<T, F>(&self, f: F) -> Result<T, BlobError>
    where
        F: FnOnce(&Shared) -> Result<T, BlobError> + Send + 'static,
        T: Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || {
            let _files = shared.files.lock().unwrap_or_else(PoisonError::into_inner);
            f(&shared)
        })
        .await
        .map_err(unavailable)?
    }

    /// A put of bytes or of a local file: stored durably, then its events delivered.
    async fn put_body(
        &self,
        key: &str,
        body: Body,
        content_type: Option<&str>,
        if_absent: bool,
    ) -> Result<Option<BlobMeta>, BlobError> {
        validate_key(key)?;
        if let Body::File(path) = &body {
            file_put_size(path)?;
        }
        let key_owned = key.to_owned();
        let content_type = content_type.map(str::to_owned);
        let configs = self.event_configs();
        let configurations: Vec<String> = configs
            .iter()
            .filter(|e| e.matches(key))
            .map(|e| e.id.clone())
            .collect();
        let meta = self
            .with_files(move |shared| {
                put_blocking(
                    shared,
                    &key_owned,
                    &body,
                    content_type.as_deref(),
                    &configurations,
                    if_absent,
                )
            })
            .await?;
        if meta.is_some() && !configs.is_empty() {
            // The object is stored whatever happens to its event: a failed send stays
            // pending and goes out with the next put or `deliver_events` call.
            if let Err(error) = self.deliver_events().await {
                tracing::warn!(%error, key, "object event not delivered yet");
            }
        }
        Ok(meta)
    }

    /// The bytes of `key` as the index describes it now (its file opened, or its packed
    /// body); `NotFound` if absent.
    async fn stored(&self, key: &str) -> Result<Stored, BlobError> {
        validate_key(key)?;
        let key = key.to_owned();
        self.with_files(move |shared| {
            let row: Option<(String, Option<Vec<u8>>)> = shared
                .index
                .call_now(|conn| {
                    conn.query_row(
                        "SELECT path, body FROM objects WHERE key = ?1",
                        params![key],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()
                })
                .map_err(unavailable)?;
            match row.ok_or_else(|| BlobError::NotFound(key.clone()))? {
                (_, Some(body)) => Ok(Stored::Packed(Bytes::from(body))),
                (path, None) => File::open(shared.root.join(path))
                    .map(Stored::File)
                    .map_err(unavailable),
            }
        })
        .await
    }
}

/// Finishes or discards the file operations a crash interrupted, as the journal records them.
fn recover(root: &Path, conn: &mut Connection) -> Result<(), BlobError> {
    let entries: Vec<(i64, String, Option<String>, Option<String>)> = {
        let mut stmt = conn
            .prepare("SELECT id, op, tmp, target FROM journal ORDER BY id")
            .map_err(unavailable)?;
        stmt.query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .and_then(Iterator::collect)
        .map_err(unavailable)?
    };
    for (id, op, tmp, target) in entries {
        let tmp = tmp.map(|t| root.join(t));
        let target = target.map(|t| root.join(t));
        match (op.as_str(), tmp, target) {
            // The index never learned of this write: drop the partial file.
            ("discard", Some(tmp), _) => remove_if_present(&tmp).map_err(unavailable)?,
            // The index already describes the new file: put it in place (unless the rename
            // happened before the crash).
            ("rename", Some(tmp), Some(target)) if tmp.exists() => {
                fs::rename(&tmp, &target).map_err(unavailable)?;
                if let Some(dir) = target.parent() {
                    fsync_dir(dir).map_err(unavailable)?;
                }
            }
            // The index already forgot this object: remove its file.
            ("unlink", _, Some(target)) => {
                remove_if_present(&target).map_err(unavailable)?;
                prune_dirs(root, &target);
            }
            _ => {}
        }
        conn.execute("DELETE FROM journal WHERE id = ?1", params![id])
            .map_err(unavailable)?;
    }
    Ok(())
}

/// What a put stores: bytes in memory, or a local file streamed in.
enum Body {
    Bytes(Bytes),
    File(PathBuf),
}

/// Where a stored object's bytes are: its file, or its index row (a packed object).
enum Stored {
    File(File),
    Packed(Bytes),
}

/// The ETag of `bytes`: their SHA-256, hex (as for a file, [`write_durably`]).
fn etag_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `shared` keeps a put of `body` in its index ([`Layout::Packed`]).
fn packs(shared: &Shared, body: &Bytes) -> bool {
    body.len() <= PACKED_MAX && shared.packed.load(std::sync::atomic::Ordering::Acquire)
}

/// Writes the body to `tmp` and syncs it; its SHA-256 (the ETag) and size.
fn write_durably(tmp: &Path, body: &Body) -> io::Result<(String, u64)> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)?;
    let mut hasher = Sha256::new();
    let size = match body {
        Body::Bytes(bytes) => {
            file.write_all(bytes)?;
            hasher.update(bytes);
            bytes.len() as u64
        }
        Body::File(path) => {
            let mut source = fs::File::open(path)?;
            let mut buf = vec![0u8; 1 << 16];
            let mut size = 0u64;
            loop {
                let n = match source.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                file.write_all(&buf[..n])?;
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            size
        }
    };
    file.sync_all()?;
    Ok((hex::encode(hasher.finalize()), size))
}

/// Records a stored object's metadata (and, packed, its bytes: `rel` is then empty) and
/// the events of the configurations it matches.
fn record_object(
    tx: &rusqlite::Transaction<'_>,
    meta: &BlobMeta,
    rel: &str,
    body: Option<&[u8]>,
    configurations: &[String],
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO objects (key, path, size, etag, content_type, last_modified, body)
         VALUES (:key, :path, :size, :etag, :ct, :lm, :body)",
        named_params! {
            ":key": meta.key,
            ":path": rel,
            ":size": i64::try_from(meta.size).unwrap_or(i64::MAX),
            ":etag": meta.etag,
            ":ct": meta.content_type,
            ":lm": to_millis(meta.last_modified),
            ":body": body,
        },
    )?;
    for configuration in configurations {
        tx.execute(
            "INSERT INTO events (configuration, key, size, etag, event_time)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                configuration,
                meta.key,
                i64::try_from(meta.size).unwrap_or(i64::MAX),
                meta.etag,
                to_millis(meta.last_modified)
            ],
        )?;
    }
    Ok(())
}

/// Stores `body` at `key`; with `if_absent`, only if no object has the key (checked in the
/// same transaction that records the new object, so of two such puts exactly one stores),
/// `None` otherwise.
fn put_blocking(
    shared: &Shared,
    key: &str,
    body: &Body,
    content_type: Option<&str>,
    configurations: &[String],
    if_absent: bool,
) -> Result<Option<BlobMeta>, BlobError> {
    if let Body::Bytes(bytes) = body
        && packs(shared, bytes)
    {
        let mut stored = put_packed_blocking(
            shared,
            &[(key, bytes, configurations)],
            content_type,
            if_absent,
        )?;
        return Ok(stored.pop().flatten());
    }
    let rel = object_path(key);
    let rel_path = Path::new(&rel);
    let rel_dir = rel_path.parent().unwrap_or(Path::new(""));
    create_dirs(&shared.root, rel_dir).map_err(unavailable)?;
    let tmp_rel = rel_dir
        .join(format!("{TMP_PREFIX}{}", uuid::Uuid::new_v4().simple()))
        .to_string_lossy()
        .into_owned();
    let tmp = shared.root.join(&tmp_rel);
    let target = shared.root.join(&rel);

    // 1. Note the temporary file first, so a crash while writing it leaves no stray file.
    let journal_id = shared
        .index
        .call_now(|conn| -> rusqlite::Result<i64> {
            conn.execute(
                "INSERT INTO journal (op, tmp) VALUES ('discard', ?1)",
                params![tmp_rel],
            )?;
            Ok(conn.last_insert_rowid())
        })
        .map_err(unavailable)?;
    let (etag, size) = match write_durably(&tmp, body) {
        Ok(written) => written,
        Err(e) => {
            // Best effort: whatever is left here, the journal entry cleans up on next open.
            if remove_if_present(&tmp).is_ok() {
                let _ = shared.index.call_now(|conn| {
                    conn.execute("DELETE FROM journal WHERE id = ?1", params![journal_id])
                });
            }
            return Err(unavailable(e));
        }
    };

    // 2. Commit the new metadata, its events and the pending rename in one transaction.
    let meta = BlobMeta {
        key: key.to_owned(),
        size,
        etag,
        last_modified: shared.clock.now(),
        content_type: content_type.map(str::to_owned),
    };
    let stored = shared
        .index
        .call_now(|conn| -> rusqlite::Result<bool> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if if_absent {
                let taken = tx
                    .query_row("SELECT 1 FROM objects WHERE key = ?1", params![key], |_| {
                        Ok(())
                    })
                    .optional()?
                    .is_some();
                if taken {
                    // The journal entry still says 'discard': a crash from here on only
                    // removes the temporary file.
                    return Ok(false);
                }
            }
            record_object(&tx, &meta, &rel, None, configurations)?;
            tx.execute(
                "UPDATE journal SET op = 'rename', target = ?2 WHERE id = ?1",
                params![journal_id, rel],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .map_err(unavailable)?;
    if !stored {
        // The key was taken: drop the unused temporary file, then its journal entry.
        remove_if_present(&tmp).map_err(unavailable)?;
        shared
            .index
            .call_now(|conn| conn.execute("DELETE FROM journal WHERE id = ?1", params![journal_id]))
            .map_err(unavailable)?;
        return Ok(None);
    }

    // 3. Put the file in place; from here a crash is finished by `recover`.
    fs::rename(&tmp, &target).map_err(unavailable)?;
    if let Some(dir) = target.parent() {
        fsync_dir(dir).map_err(unavailable)?;
    }
    shared
        .index
        .call_now(|conn| conn.execute("DELETE FROM journal WHERE id = ?1", params![journal_id]))
        .map_err(unavailable)?;
    Ok(Some(meta))
}

/// Puts of objects a packed bucket keeps in its index ([`Layout::Packed`]): each recorded
/// with its bytes and its events, all in one transaction (with `if_absent` only where the key
/// is free, `None` otherwise). An object replacing one stored as a file has that file
/// unlinked after the commit, journalled like a delete, so a crash in between is finished by
/// `recover`.
fn put_packed_blocking(
    shared: &Shared,
    objects: &[(&str, &Bytes, &[String])],
    content_type: Option<&str>,
    if_absent: bool,
) -> Result<Vec<Option<BlobMeta>>, BlobError> {
    let now = shared.clock.now();
    let (stored, unlinks) = shared
        .index
        .call_now(|conn| -> rusqlite::Result<_> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut stored = Vec::with_capacity(objects.len());
            let mut unlinks = Vec::new();
            for (key, body, configurations) in objects {
                let old = stored_where(&tx, key)?;
                if if_absent && old.is_some() {
                    stored.push(None);
                    continue;
                }
                if let Some((path, false)) = old {
                    tx.execute(
                        "INSERT INTO journal (op, target) VALUES ('unlink', ?1)",
                        params![path],
                    )?;
                    unlinks.push((tx.last_insert_rowid(), path));
                }
                let meta = BlobMeta {
                    key: (*key).to_owned(),
                    size: body.len() as u64,
                    etag: etag_of(body),
                    last_modified: now,
                    content_type: content_type.map(str::to_owned),
                };
                record_object(&tx, &meta, "", Some(body), configurations)?;
                stored.push(Some(meta));
            }
            tx.commit()?;
            Ok((stored, unlinks))
        })
        .map_err(unavailable)?;
    for (journal_id, rel) in unlinks {
        unlink_file(shared, journal_id, &rel)?;
    }
    Ok(stored)
}

/// Where the index says `key` is stored: its file's path and whether it is packed (its
/// bytes in its row); `None` if absent.
fn stored_where(conn: &Connection, key: &str) -> rusqlite::Result<Option<(String, bool)>> {
    conn.query_row(
        "SELECT path, body IS NOT NULL FROM objects WHERE key = ?1",
        params![key],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .optional()
}

/// Removes the file of an object the index no longer describes (journalled as `unlink` with
/// `journal_id`), syncs its directory, prunes the empty ones, then clears the journal entry.
fn unlink_file(shared: &Shared, journal_id: i64, rel: &str) -> Result<(), BlobError> {
    let target = shared.root.join(rel);
    remove_if_present(&target).map_err(unavailable)?;
    if let Some(dir) = target.parent() {
        fsync_dir(dir).map_err(unavailable)?;
    }
    prune_dirs(&shared.root, &target);
    shared
        .index
        .call_now(|conn| conn.execute("DELETE FROM journal WHERE id = ?1", params![journal_id]))
        .map_err(unavailable)?;
    Ok(())
}

/// Conditional puts of several objects: those a packed bucket keeps in its index in one
/// transaction ([`put_packed_blocking`]), the others as files ([`put_files_blocking`]); the
/// outcomes in the order of `objects`.
fn put_many_blocking(
    shared: &Shared,
    objects: &[(String, Bytes, Vec<String>)],
    content_type: Option<&str>,
) -> Result<Vec<Option<BlobMeta>>, BlobError> {
    let (packed, files): (Vec<usize>, Vec<usize>) =
        (0..objects.len()).partition(|&i| packs(shared, &objects[i].1));
    let mut out: Vec<Option<BlobMeta>> = (0..objects.len()).map(|_| None).collect();
    if !packed.is_empty() {
        let batch: Vec<(&str, &Bytes, &[String])> = packed
            .iter()
            .map(|&i| {
                (
                    objects[i].0.as_str(),
                    &objects[i].1,
                    objects[i].2.as_slice(),
                )
            })
            .collect();
        let stored = put_packed_blocking(shared, &batch, content_type, true)?;
        for (&i, meta) in packed.iter().zip(stored) {
            out[i] = meta;
        }
    }
    if !files.is_empty() {
        let batch: Vec<(String, Bytes, Vec<String>)> =
            files.iter().map(|&i| objects[i].clone()).collect();
        let stored = put_files_blocking(shared, &batch, content_type)?;
        for (&i, meta) in files.iter().zip(stored) {
            out[i] = meta;
        }
    }
    Ok(out)
}

/// Runs `f` over `items` on up to 8 threads (file syncs overlap in the device's queue),
/// at least 4 items to a thread, and on the calling thread when there are no more than
/// 4 (a thread costs more than it saves there); the first error wins.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> io::Result<R> + Sync,
) -> io::Result<Vec<R>> {
    const MIN_PER_THREAD: usize = 4;
    if items.len() <= MIN_PER_THREAD {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(8).max(MIN_PER_THREAD);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<io::Result<Vec<R>>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for handle in handles {
            out.extend(
                handle
                    .join()
                    .map_err(|_| io::Error::other("a file-writing thread panicked"))??,
            );
        }
        Ok(out)
    })
}

/// Conditional puts of several objects with the guarantees of [`put_blocking`] for each:
/// one journal transaction noting every temporary file, the files written and synced in
/// parallel, one index transaction recording every object whose key is free (with its
/// events and its pending rename), the renames, each directory synced once, one transaction
/// clearing the journal. A crash at any point is finished (or undone) per object by
/// `recover`, exactly as for a single put.
fn put_files_blocking(
    shared: &Shared,
    objects: &[(String, Bytes, Vec<String>)],
    content_type: Option<&str>,
) -> Result<Vec<Option<BlobMeta>>, BlobError> {
    struct Plan {
        rel: String,
        tmp_rel: String,
        tmp: PathBuf,
        target: PathBuf,
    }
    let mut plans = Vec::with_capacity(objects.len());
    for (key, _, _) in objects {
        let rel = object_path(key);
        let rel_dir = Path::new(&rel).parent().unwrap_or(Path::new("")).to_owned();
        create_dirs(&shared.root, &rel_dir).map_err(unavailable)?;
        let tmp_rel = rel_dir
            .join(format!("{TMP_PREFIX}{}", uuid::Uuid::new_v4().simple()))
            .to_string_lossy()
            .into_owned();
        plans.push(Plan {
            tmp: shared.root.join(&tmp_rel),
            target: shared.root.join(&rel),
            rel,
            tmp_rel,
        });
    }
    // 1. Note every temporary file first.
    let journal_ids = shared
        .index
        .call_now(|conn| -> rusqlite::Result<Vec<i64>> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut ids = Vec::with_capacity(plans.len());
            for plan in &plans {
                tx.execute(
                    "INSERT INTO journal (op, tmp) VALUES ('discard', ?1)",
                    params![plan.tmp_rel],
                )?;
                ids.push(tx.last_insert_rowid());
            }
            tx.commit()?;
            Ok(ids)
        })
        .map_err(unavailable)?;
    let indexed: Vec<(&Plan, &Bytes)> = plans.iter().zip(objects.iter().map(|o| &o.1)).collect();
    let written = match in_parallel(&indexed, |(plan, body)| {
        write_durably(&plan.tmp, &Body::Bytes((*body).clone()))
    }) {
        Ok(written) => written,
        Err(e) => {
            // Best effort: the journal entries clean up whatever is left on next open.
            for plan in &plans {
                let _ = remove_if_present(&plan.tmp);
            }
            return Err(unavailable(e));
        }
    };
    // 2. Record every object whose key is free, in one transaction.
    let now = shared.clock.now();
    let metas: Vec<BlobMeta> = objects
        .iter()
        .zip(&written)
        .map(|((key, _, _), (etag, size))| BlobMeta {
            key: key.clone(),
            size: *size,
            etag: etag.clone(),
            last_modified: now,
            content_type: content_type.map(str::to_owned),
        })
        .collect();
    let stored: Vec<bool> = shared
        .index
        .call_now(|conn| -> rusqlite::Result<Vec<bool>> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut stored = Vec::with_capacity(plans.len());
            for (((plan, meta), journal_id), (_, _, configurations)) in
                plans.iter().zip(&metas).zip(&journal_ids).zip(objects)
            {
                let taken = tx
                    .query_row(
                        "SELECT 1 FROM objects WHERE key = ?1",
                        params![meta.key],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if taken {
                    stored.push(false);
                    continue;
                }
                record_object(&tx, meta, &plan.rel, None, configurations)?;
                tx.execute(
                    "UPDATE journal SET op = 'rename', target = ?2 WHERE id = ?1",
                    params![journal_id, plan.rel],
                )?;
                stored.push(true);
            }
            tx.commit()?;
            Ok(stored)
        })
        .map_err(unavailable)?;
    // 3. Put the stored files in place (drop the others), sync each directory once.
    let mut dirs: Vec<&Path> = Vec::new();
    for (plan, stored) in plans.iter().zip(&stored) {
        if *stored {
            fs::rename(&plan.tmp, &plan.target).map_err(unavailable)?;
            if let Some(dir) = plan.target.parent()
                && !dirs.contains(&dir)
            {
                dirs.push(dir);
            }
        } else {
            remove_if_present(&plan.tmp).map_err(unavailable)?;
        }
    }
    in_parallel(&dirs, |dir| fsync_dir(dir)).map_err(unavailable)?;
    shared
        .index
        .call_now(|conn| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            for id in &journal_ids {
                tx.execute("DELETE FROM journal WHERE id = ?1", params![id])?;
            }
            tx.commit()
        })
        .map_err(unavailable)?;
    Ok(metas
        .into_iter()
        .zip(stored)
        .map(|(meta, stored)| stored.then_some(meta))
        .collect())
}

fn delete_blocking(shared: &Shared, key: &str) -> Result<(), BlobError> {
    let journal_id = shared
        .index
        .call_now(|conn| -> rusqlite::Result<Option<(i64, String)>> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some((path, packed)) = stored_where(&tx, key)? else {
                return Ok(None);
            };
            tx.execute("DELETE FROM objects WHERE key = ?1", params![key])?;
            let unlink = if packed {
                // Its bytes went with its row: no file to remove.
                None
            } else {
                tx.execute(
                    "INSERT INTO journal (op, target) VALUES ('unlink', ?1)",
                    params![path],
                )?;
                Some((tx.last_insert_rowid(), path))
            };
            tx.commit()?;
            Ok(unlink)
        })
        .map_err(unavailable)?;
    match journal_id {
        Some((journal_id, rel)) => unlink_file(shared, journal_id, &rel),
        // Deleting an absent object succeeds, as on S3.
        None => Ok(()),
    }
}

impl BlobStore for DirBlobStore {
    async fn put(
        &self,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<BlobMeta, BlobError> {
        self.put_body(key, Body::Bytes(body), content_type, false)
            .await
            .map(unconditionally_stored)
    }

    async fn put_if_absent(
        &self,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<PutIfAbsent, BlobError> {
        self.put_body(key, Body::Bytes(body), content_type, true)
            .await
            .map(PutIfAbsent::from)
    }

    async fn put_many_if_absent(
        &self,
        objects: Vec<(String, Bytes)>,
        content_type: Option<&str>,
    ) -> Result<Vec<PutIfAbsent>, BlobError> {
        let mut keys = std::collections::BTreeSet::new();
        for (key, _) in &objects {
            validate_key(key)?;
            if !keys.insert(key.as_str()) {
                return Err(BlobError::Invalid(format!(
                    "the key {key} is given twice in one put_many_if_absent"
                )));
            }
        }
        let configs = self.event_configs();
        let planned: Vec<(String, Bytes, Vec<String>)> = objects
            .into_iter()
            .map(|(key, body)| {
                let configurations = configs
                    .iter()
                    .filter(|e| e.matches(&key))
                    .map(|e| e.id.clone())
                    .collect();
                (key, body, configurations)
            })
            .collect();
        let content_type = content_type.map(str::to_owned);
        let metas = self
            .with_files(move |shared| put_many_blocking(shared, &planned, content_type.as_deref()))
            .await?;
        if metas.iter().any(Option::is_some)
            && !configs.is_empty()
            && let Err(error) = self.deliver_events().await
        {
            tracing::warn!(%error, "object events not delivered yet");
        }
        Ok(metas.into_iter().map(PutIfAbsent::from).collect())
    }

    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: Option<&str>,
    ) -> Result<BlobMeta, BlobError> {
        self.put_body(key, Body::File(path.to_owned()), content_type, false)
            .await
            .map(unconditionally_stored)
    }

    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        let mut file = match self.stored(key).await? {
            Stored::Packed(bytes) => return Ok(bytes),
            Stored::File(file) => file,
        };
        tokio::task::spawn_blocking(move || {
            let mut buf = Vec::new();
            file.read_to_end(&mut buf).map(|_| Bytes::from(buf))
        })
        .await
        .map_err(unavailable)?
        .map_err(unavailable)
    }

    async fn open(&self, key: &str) -> Result<BlobReader, BlobError> {
        Ok(match self.stored(key).await? {
            Stored::File(file) => Box::pin(tokio::fs::File::from_std(file)),
            Stored::Packed(bytes) => Box::pin(std::io::Cursor::new(bytes)),
        })
    }

    async fn head(&self, key: &str) -> Result<Option<BlobMeta>, BlobError> {
        validate_key(key)?;
        let key = key.to_owned();
        self.shared
            .index
            .call(unavailable, move |conn| {
                conn.query_row(
                    "SELECT key, size, etag, content_type, last_modified FROM objects WHERE key = ?1",
                    params![key],
                    row_meta,
                )
                .optional()
                .map_err(unavailable)
            })
            .await
    }

    async fn list(
        &self,
        prefix: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<BlobPage, BlobError> {
        crate::ports::blobs::check_page_limit(limit)?;
        let after = cursor.map(ListCursor::decode).transpose()?;
        let prefix = prefix.to_owned();
        self.shared
            .index
            .call(unavailable, move |conn| {
                let mut sql = String::from(
                    "SELECT key, size, etag, content_type, last_modified FROM objects WHERE key >= :lo",
                );
                let upper = prefix_upper_bound(&prefix);
                if upper.is_some() {
                    sql.push_str(" AND key < :hi");
                }
                if after.is_some() {
                    sql.push_str(" AND key > :after");
                }
                sql.push_str(" ORDER BY key LIMIT :limit");
                let mut stmt = conn.prepare_cached(&sql).map_err(unavailable)?;
                // One row more than the page tells whether another page follows.
                let fetch = limit as i64 + 1;
                let mut args: Vec<(&str, &dyn rusqlite::ToSql)> =
                    vec![(":lo", &prefix), (":limit", &fetch)];
                if let Some(upper) = &upper {
                    args.push((":hi", upper));
                }
                if let Some(after) = &after {
                    args.push((":after", after));
                }
                let mut objects: Vec<BlobMeta> = stmt
                    .query_map(args.as_slice(), row_meta)
                    .and_then(Iterator::collect)
                    .map_err(unavailable)?;
                let next = if objects.len() > limit {
                    objects.truncate(limit);
                    objects.last().map(|last| ListCursor::encode(&last.key))
                } else {
                    None
                };
                Ok(BlobPage { objects, next })
            })
            .await
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        let key = key.to_owned();
        self.with_files(move |shared| delete_blocking(shared, &key))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::embedded::queue::{QueueOptions, SqliteQueue};
    use crate::ports::Queue;
    use aws_lambda_events::event::s3::S3Event;
    use std::collections::HashSet;
    use std::time::Duration;

    fn store(dir: &tempfile::TempDir) -> DirBlobStore {
        DirBlobStore::open(dir.path().join("uploads"), "ravis-uploads").expect("open")
    }

    /// The queue the object events of the tests go to.
    fn event_queue(dir: &tempfile::TempDir) -> SqliteQueue {
        SqliteQueue::open(
            dir.path().join("queue.db"),
            "uploads",
            QueueOptions::default(),
        )
        .expect("queue")
    }

    /// The messages waiting in `queue` (up to 10).
    async fn received(queue: &SqliteQueue) -> Vec<crate::ports::ReceivedMessage> {
        queue
            .receive(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("receive")
    }

    #[test]
    fn names_are_safe_and_distinct() {
        assert_eq!(object_path("inbox/2025/a.csv"), "inbox%2F/2025%2F/a.csv");
        assert_eq!(object_path("Case/A b"), "%43ase%2F/%41%20b");
        assert_eq!(object_path(".hidden/..x"), "%2Ehidden%2F/%2E.x");
        assert_eq!(object_path("\u{101}"), "%C4%81");
        let keys = [
            "a", "A", "a/b", "a%2F/b", "a%2F", "a.", ".a", "a/b/c", "ab", "a b", "a+b", "a%20b",
        ];
        let paths: HashSet<String> = keys.iter().map(|k| object_path(k).to_lowercase()).collect();
        assert_eq!(
            paths.len(),
            keys.len(),
            "two keys share a path on a case-insensitive disk"
        );
        for key in keys {
            let path = object_path(key);
            assert!(
                path.split('/')
                    .all(|n| !n.starts_with('.') && !n.is_empty()),
                "{path}"
            );
        }
    }

    #[test]
    fn long_segments_are_shortened_distinctly() {
        let a = "\u{1f642}".repeat(200);
        let b = format!("{}x", "\u{1f642}".repeat(199));
        let (pa, pb) = (object_path(&a), object_path(&b));
        assert!(pa.len() <= MAX_NAME && pb.len() <= MAX_NAME);
        assert_ne!(pa, pb);
        assert_ne!(
            object_path(&format!("{a}/x")).split('/').next(),
            Some(pa.as_str())
        );
    }

    #[tokio::test]
    async fn files_are_browsable_and_tidy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = store(&dir);
        s.put("inbox/2025/a.csv", Bytes::from_static(b"a"), None)
            .await
            .expect("put");
        let file = dir.path().join("uploads/inbox%2F/2025%2F/a.csv");
        assert_eq!(fs::read(&file).expect("file"), b"a");
        s.delete("inbox/2025/a.csv").await.expect("delete");
        assert!(
            !dir.path().join("uploads/inbox%2F").exists(),
            "empty directories stay"
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("uploads"))
            .expect("root")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with(INDEX_FILE))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    /// The test bucket with `key` put as `body` and closed, then its index changed by `sql`
    /// as a crash would have left it; the bucket's root.
    async fn crashed_after(
        dir: &tempfile::TempDir,
        key: &str,
        body: &'static [u8],
        sql: &str,
    ) -> PathBuf {
        store(dir)
            .put(key, Bytes::from_static(body), None)
            .await
            .expect("put");
        let root = dir.path().join("uploads");
        Db::open(&root.join(INDEX_FILE))
            .expect("index")
            .call_now(|c| c.execute_batch(sql))
            .expect("crash state");
        root
    }

    #[tokio::test]
    async fn recovery_finishes_an_interrupted_put_and_drops_a_partial_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Simulate two crashes: one after the index committed a new version of `doc` but
        // before the rename, one while a temporary file was being written.
        let root = crashed_after(
            &dir,
            "doc",
            b"old",
            "UPDATE objects SET size = 3, etag = 'e' WHERE key = 'doc';
             INSERT INTO journal (op, tmp, target) VALUES ('rename', '.tmp-committed', 'doc');
             INSERT INTO journal (op, tmp) VALUES ('discard', '.tmp-partial');",
        )
        .await;
        fs::write(root.join(".tmp-committed"), b"new").expect("tmp");
        fs::write(root.join(".tmp-partial"), b"ne").expect("tmp");
        let s = store(&dir);
        assert_eq!(s.get("doc").await.expect("get"), Bytes::from_static(b"new"));
        assert!(!root.join(".tmp-committed").exists());
        assert!(!root.join(".tmp-partial").exists());
    }

    #[tokio::test]
    async fn a_put_under_the_prefix_enqueues_an_s3_event() {
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = event_queue(&dir);
        let s = store(&dir).with_events(ObjectEvents::new("inbox-events", "inbox/", queue.clone()));
        let meta = s
            .put(
                "inbox/screening results 1+1.csv",
                Bytes::from_static(b"id;score\n1;17\n"),
                Some("text/csv"),
            )
            .await
            .expect("put");
        s.put("outbox/report.csv", Bytes::from_static(b"x"), None)
            .await
            .expect("put outside the prefix");

        let got = received(&queue).await;
        assert_eq!(got.len(), 1, "only the put under inbox/ notifies");
        let event: S3Event = serde_json::from_str(&got[0].body).expect("an S3 event");
        let record = &event.records[0];
        assert_eq!(record.event_name.as_deref(), Some("ObjectCreated:Put"));
        assert_eq!(record.s3.bucket.name.as_deref(), Some("ravis-uploads"));
        assert_eq!(
            record.s3.object.key.as_deref(),
            Some("inbox/screening+results+1%2B1.csv")
        );
        assert_eq!(record.s3.object.size, Some(14));
        assert_eq!(record.s3.object.e_tag.as_deref(), Some(meta.etag.as_str()));
        assert_eq!(record.s3.configuration_id.as_deref(), Some("inbox-events"));
        let raw: serde_json::Value = serde_json::from_str(&got[0].body).expect("json");
        assert_eq!(raw["Records"][0]["eventVersion"], "2.1");
        assert_eq!(raw["Records"][0]["eventSource"], "aws:s3");
    }

    #[tokio::test]
    async fn events_wait_in_the_outbox_until_delivered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = event_queue(&dir);
        // A store without the notification configured still records nothing…
        let plain = store(&dir);
        plain
            .put("inbox/ignored.csv", Bytes::from_static(b"x"), None)
            .await
            .expect("put");
        drop(plain);
        // …but one that records events keeps them across a restart until they are sent.
        {
            let s = store(&dir);
            s.shared
                .index
                .call_now(|c| {
                    c.execute(
                        "INSERT INTO events (configuration, key, size, etag, event_time)
                         VALUES ('inbox-events', 'inbox/pending.csv', 1, 'e', 0)",
                        [],
                    )
                })
                .expect("pending event");
        }
        let s = store(&dir).with_events(ObjectEvents::new("inbox-events", "inbox/", queue.clone()));
        assert_eq!(s.deliver_events().await.expect("deliver"), 1);
        assert_eq!(s.deliver_events().await.expect("nothing left"), 0);
        let got = received(&queue).await;
        assert_eq!(got.len(), 1);
        assert!(got[0].body.contains("inbox/pending.csv"));
    }

    #[tokio::test]
    async fn suffix_filters_events() {
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = event_queue(&dir);
        let s = store(&dir).with_events(
            ObjectEvents::new("csv-only", "inbox/", queue.clone()).with_suffix(".csv"),
        );
        s.put("inbox/a.csv", Bytes::from_static(b"x"), None)
            .await
            .expect("put");
        s.put("inbox/a.txt", Bytes::from_static(b"x"), None)
            .await
            .expect("put");
        let got = received(&queue).await;
        assert_eq!(got.len(), 1);
        assert!(got[0].body.contains("inbox/a.csv"));
    }

    /// The names under `root`, recursively, except the index's files.
    fn files_under(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for entry in fs::read_dir(root).expect("dir").filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() {
                out.extend(files_under(&entry.path()));
            } else if !name.starts_with(INDEX_FILE) {
                out.push(name);
            }
        }
        out
    }

    #[tokio::test]
    async fn a_packed_bucket_keeps_small_objects_in_its_index_and_large_ones_in_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("uploads");
        let s = store(&dir);
        assert_eq!(s.layout(), Layout::Files);
        s.set_layout(Layout::Packed).expect("layout");
        let small = Bytes::from_static(b"{\"seq\":1}");
        let meta = s
            .put("audit/p/1.json", small.clone(), Some("application/json"))
            .await
            .expect("put");
        assert_eq!(meta.etag, etag_of(&small));
        let outcomes = s
            .put_many_if_absent(
                vec![
                    ("audit/p/2.json".into(), Bytes::from_static(b"two")),
                    ("audit/p/1.json".into(), Bytes::from_static(b"other")),
                    ("big".into(), Bytes::from(vec![7u8; PACKED_MAX + 1])),
                ],
                None,
            )
            .await
            .expect("put many");
        assert!(matches!(outcomes[0], PutIfAbsent::Created(_)));
        assert_eq!(outcomes[1], PutIfAbsent::Exists, "the first object stays");
        assert!(matches!(outcomes[2], PutIfAbsent::Created(_)));
        assert_eq!(
            files_under(&root),
            vec!["big".to_owned()],
            "only the object over PACKED_MAX is a file"
        );
        assert_eq!(s.get("audit/p/1.json").await.expect("get"), small);
        let mut read = String::new();
        tokio::io::AsyncReadExt::read_to_string(
            &mut s.open("audit/p/2.json").await.expect("open"),
            &mut read,
        )
        .await
        .expect("read");
        assert_eq!(read, "two");
        let head = s
            .head("audit/p/1.json")
            .await
            .expect("head")
            .expect("listed");
        assert_eq!((head.size, &head.etag), (meta.size, &meta.etag));
        assert_eq!(head.content_type.as_deref(), Some("application/json"));
        s.delete("audit/p/1.json").await.expect("delete");
        assert!(matches!(
            s.get("audit/p/1.json").await,
            Err(BlobError::NotFound(_))
        ));
        // The layout is the bucket's: a later open packs too.
        drop(s);
        let again = store(&dir);
        assert_eq!(again.layout(), Layout::Packed);
        again
            .put("audit/p/3.json", Bytes::from_static(b"3"), None)
            .await
            .expect("put");
        assert_eq!(files_under(&root), vec!["big".to_owned()]);
    }

    #[tokio::test]
    async fn a_bucket_changing_layout_reads_both_kinds_and_leaves_no_stale_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("uploads");
        let s = store(&dir);
        s.put("a/x", Bytes::from_static(b"file"), None)
            .await
            .expect("put");
        s.put("a/y", Bytes::from_static(b"file too"), None)
            .await
            .expect("put");
        s.set_layout(Layout::Packed).expect("layout");
        assert_eq!(s.get("a/y").await.expect("a file object"), "file too");
        // Replacing a file object by a packed one removes its file (journalled).
        s.put("a/x", Bytes::from_static(b"packed"), None)
            .await
            .expect("replace");
        assert_eq!(s.get("a/x").await.expect("get"), "packed");
        assert_eq!(files_under(&root), vec!["y".to_owned()]);
        s.set_layout(Layout::Files).expect("layout");
        // And a file put replaces a packed object.
        s.put("a/x", Bytes::from_static(b"a file again"), None)
            .await
            .expect("replace");
        assert_eq!(s.get("a/x").await.expect("get"), "a file again");
        let mut names = files_under(&root);
        names.sort();
        assert_eq!(names, vec!["x".to_owned(), "y".to_owned()]);
        let keys: Vec<String> = s
            .list("", 10, None)
            .await
            .expect("list")
            .objects
            .into_iter()
            .map(|m| m.key)
            .collect();
        assert_eq!(keys, vec!["a/x", "a/y"]);
    }

    #[tokio::test]
    async fn a_packed_put_notifies_like_a_file_put() {
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = event_queue(&dir);
        let s = store(&dir).with_events(ObjectEvents::new("inbox-events", "inbox/", queue.clone()));
        s.set_layout(Layout::Packed).expect("layout");
        let meta = s
            .put(
                "inbox/a.csv",
                Bytes::from_static(b"id\n1\n"),
                Some("text/csv"),
            )
            .await
            .expect("put");
        let got = received(&queue).await;
        assert_eq!(got.len(), 1);
        let event: S3Event = serde_json::from_str(&got[0].body).expect("an S3 event");
        assert_eq!(event.records[0].s3.object.size, Some(5));
        assert_eq!(
            event.records[0].s3.object.e_tag.as_deref(),
            Some(meta.etag.as_str())
        );
    }

    #[tokio::test]
    async fn an_index_from_before_packing_gains_its_body_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("uploads");
        fs::create_dir_all(&root).expect("root");
        let db = Db::open(&root.join(INDEX_FILE)).expect("index");
        db.call_now(|c| {
            c.execute_batch(
                "CREATE TABLE objects (key TEXT PRIMARY KEY, path TEXT NOT NULL,
                     size INTEGER NOT NULL, etag TEXT NOT NULL, content_type TEXT,
                     last_modified INTEGER NOT NULL) WITHOUT ROWID;",
            )
        })
        .expect("old schema");
        drop(db);
        let s = store(&dir);
        s.set_layout(Layout::Packed).expect("layout");
        s.put("k", Bytes::from_static(b"v"), None)
            .await
            .expect("put");
        assert_eq!(s.get("k").await.expect("get"), "v");
    }

    #[tokio::test]
    async fn recovery_removes_the_file_a_packed_put_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A crash after a packed put of `a/x` committed (its row now holds the bytes, the
        // old file is journalled for removal) but before the file was removed.
        let root = crashed_after(
            &dir,
            "a/x",
            b"file",
            "UPDATE objects SET path = '', body = X'7061636b6564', size = 6 WHERE key = 'a/x';
             INSERT INTO journal (op, target) VALUES ('unlink', 'a%2F/x');",
        )
        .await;
        assert!(root.join("a%2F/x").exists());
        let s = store(&dir);
        assert_eq!(s.get("a/x").await.expect("get"), "packed");
        assert!(
            !root.join("a%2F").exists(),
            "the file and its directory are gone"
        );
        let journal: i64 = s
            .shared
            .index
            .call_now(|c| c.query_row("SELECT COUNT(*) FROM journal", [], |r| r.get(0)))
            .expect("journal");
        assert_eq!(journal, 0);
    }
}
