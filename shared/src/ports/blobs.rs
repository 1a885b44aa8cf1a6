//! Blob store port: objects by key with S3 semantics (put replaces, list by prefix in
//! key order, head for metadata, streaming reads for large objects).

use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use tokio::io::AsyncRead;

/// A streaming reader over an object's bytes.
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// Metadata of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    /// The object key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Entity tag: changes whenever the content changes (quotes stripped).
    pub etag: String,
    /// When it was last written.
    pub last_modified: DateTime<Utc>,
    /// Content type given at put, if any.
    pub content_type: Option<String>,
}

/// One page of a listing, in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobPage {
    /// Objects on this page.
    pub objects: Vec<BlobMeta>,
    /// Opaque cursor for the next page; `None` at the end.
    pub next: Option<String>,
}

/// What went wrong in the blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No object with that key.
    #[error("no object with key '{0}'")]
    NotFound(String),
    /// The key is not acceptable (empty, too long, `..` segments, control characters).
    #[error("invalid object key '{key}': {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// Why.
        reason: &'static str,
    },
    /// The request was not valid for this store (bad listing cursor, page limit outside 1..=1000).
    #[error("invalid request to the blob store: {0}")]
    Invalid(String),
    /// The store could not be reached or failed; the operation may be retried.
    #[error("blob store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Checks a key the way both adapters must: 1..=1024 bytes, no empty or `.`/`..`
/// segments, no leading `/`, no control characters.
pub fn validate_key(key: &str) -> Result<(), BlobError> {
    let invalid = |reason| {
        Err(BlobError::InvalidKey {
            key: key.chars().take(200).collect(),
            reason,
        })
    };
    if key.is_empty() || key.len() > 1024 {
        return invalid("a key has 1 to 1024 bytes");
    }
    if key.chars().any(char::is_control) {
        return invalid("a key has no control characters");
    }
    if key
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return invalid("a key has no empty, '.' or '..' segments and no leading or trailing '/'");
    }
    Ok(())
}

/// The most objects a listing page may ask for (S3's limit).
pub const MAX_PAGE: usize = 1000;

/// Every object under `prefix`: all the pages of [`BlobStore::list`], in key order.
pub async fn list_all<B: BlobStore>(blobs: &B, prefix: &str) -> Result<Vec<BlobMeta>, BlobError> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = blobs.list(prefix, MAX_PAGE, cursor.as_deref()).await?;
        out.extend(page.objects);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// Checks a listing's page limit the same way in every adapter (1..=[`MAX_PAGE`]).
pub fn check_page_limit(limit: usize) -> Result<(), BlobError> {
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(())
    } else {
        Err(BlobError::Invalid(format!(
            "a listing page holds 1 to {MAX_PAGE} objects, not {limit}"
        )))
    }
}

/// The largest file [`BlobStore::put_file`] takes: S3's limit for one PutObject (5 GiB).
pub const MAX_FILE_PUT: u64 = 5 * 1024 * 1024 * 1024;

/// The size of a local file for [`BlobStore::put_file`], checked the same way in every
/// adapter: readable, a regular file, at most [`MAX_FILE_PUT`] bytes.
pub fn file_put_size(path: &Path) -> Result<u64, BlobError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| BlobError::Invalid(format!("cannot read {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(BlobError::Invalid(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    if meta.len() > MAX_FILE_PUT {
        return Err(BlobError::Invalid(format!(
            "{} has {} bytes; one put stores at most {MAX_FILE_PUT}",
            path.display(),
            meta.len()
        )));
    }
    Ok(meta.len())
}

/// How a [`BlobStore::put_if_absent`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutIfAbsent {
    /// No object had the key: this one is stored now.
    Created(BlobMeta),
    /// An object already had the key; it is unchanged and nothing was written.
    Exists,
}

impl From<Option<BlobMeta>> for PutIfAbsent {
    /// What an adapter's conditional put stored (`None`: the key was taken).
    fn from(stored: Option<BlobMeta>) -> Self {
        stored.map_or(Self::Exists, Self::Created)
    }
}

/// What an adapter's unconditional put stored: its put answers `None` only for a conditional
/// put whose key was taken ([`PutIfAbsent::Exists`]).
pub fn unconditionally_stored(stored: Option<BlobMeta>) -> BlobMeta {
    stored.expect("an unconditional put always stores")
}

/// An object store.
pub trait BlobStore: Send + Sync + 'static {
    /// Stores an object, replacing any previous one, and returns its metadata.
    fn put(
        &self,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> impl Future<Output = Result<BlobMeta, BlobError>> + Send;

    /// Stores the content of a local file as an object (streamed, never held in memory whole),
    /// replacing any previous one, as [`BlobStore::put`] does. A file that cannot be read
    /// is [`BlobError::Invalid`]; one larger than [`MAX_FILE_PUT`] too.
    fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: Option<&str>,
    ) -> impl Future<Output = Result<BlobMeta, BlobError>> + Send;

    /// Stores an object only if no object has the key, atomically (S3: one conditional
    /// `PutObject` with `If-None-Match: *`, answered 412 when the key is taken). Of two
    /// concurrent calls for one key, exactly one creates it.
    fn put_if_absent(
        &self,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> impl Future<Output = Result<PutIfAbsent, BlobError>> + Send;

    /// [`BlobStore::put_if_absent`] of several objects (distinct keys), answered in order: an
    /// adapter may store them together (the embedded store: one journal and one index
    /// transaction, the files synced in parallel; S3: concurrent requests). Each object is
    /// created or found taken on its own; an error may leave some created.
    fn put_many_if_absent(
        &self,
        objects: Vec<(String, Bytes)>,
        content_type: Option<&str>,
    ) -> impl Future<Output = Result<Vec<PutIfAbsent>, BlobError>> + Send {
        async move {
            let mut out = Vec::with_capacity(objects.len());
            for (key, body) in objects {
                out.push(self.put_if_absent(&key, body, content_type).await?);
            }
            Ok(out)
        }
    }

    /// Reads a whole object into memory; `NotFound` if absent.
    fn get(&self, key: &str) -> impl Future<Output = Result<Bytes, BlobError>> + Send;

    /// Opens a streaming read of an object; `NotFound` if absent.
    fn open(&self, key: &str) -> impl Future<Output = Result<BlobReader, BlobError>> + Send;

    /// Metadata of an object; `None` if absent.
    fn head(&self, key: &str) -> impl Future<Output = Result<Option<BlobMeta>, BlobError>> + Send;

    /// Objects whose key begins with `prefix`, in key order, at most `limit` (1..=1000) a page.
    /// A limit outside that range or a cursor this store did not issue is [`BlobError::Invalid`].
    fn list(
        &self,
        prefix: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<BlobPage, BlobError>> + Send;

    /// Deletes an object; deleting an absent object succeeds (S3 semantics).
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), BlobError>> + Send;
}
