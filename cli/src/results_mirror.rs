//! The local partner bucket as the intake worker sees it: every object written under
//! `results/` is also written as a plain file under `<data-dir>/results/`, so a user who
//! dropped `inbox/children/a.csv` finds `results/children/a.csv.summary.json` next to it.

use bytes::Bytes;
use ravis::ports::{BlobError, BlobMeta, BlobPage, BlobReader, BlobStore, PutIfAbsent};
use std::path::{Path, PathBuf};

/// A blob store that mirrors `results/` objects into a directory.
#[derive(Clone)]
pub struct ResultsMirror<B> {
    inner: B,
    dir: PathBuf,
}

impl<B: BlobStore> ResultsMirror<B> {
    /// Mirrors `inner`'s `results/<path>` objects to `dir/<path>`.
    pub fn new(inner: B, dir: PathBuf) -> Self {
        Self { inner, dir }
    }
}

/// What a mirrored put stored.
enum Source<'a> {
    Bytes(&'a [u8]),
    File(&'a Path),
}

impl<B> ResultsMirror<B> {
    /// Writes a `results/` object to the mirror directory; a failure is only logged (the
    /// bucket holds the result, the mirror is a convenience).
    async fn mirror(&self, key: &str, source: Source<'_>) {
        // Keys are validated by the store (no `..`, no empty segments), so the path stays inside.
        let Some(rest) = key.strip_prefix("results/") else {
            return;
        };
        let path = self.dir.join(rest);
        let written = async {
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            match source {
                Source::Bytes(body) => tokio::fs::write(&path, body).await,
                Source::File(from) => tokio::fs::copy(from, &path).await.map(|_| ()),
            }
        };
        if let Err(e) = written.await {
            tracing::warn!(path = %path.display(), error = %e, "could not mirror an intake result");
        }
    }
}

impl<B: BlobStore> BlobStore for ResultsMirror<B> {
    async fn put(
        &self,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<BlobMeta, BlobError> {
        let meta = self.inner.put(key, body.clone(), content_type).await?;
        self.mirror(key, Source::Bytes(&body)).await;
        Ok(meta)
    }

    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: Option<&str>,
    ) -> Result<BlobMeta, BlobError> {
        let meta = self.inner.put_file(key, path, content_type).await?;
        self.mirror(key, Source::File(path)).await;
        Ok(meta)
    }

    async fn put_if_absent(
        &self,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<PutIfAbsent, BlobError> {
        let outcome = self
            .inner
            .put_if_absent(key, body.clone(), content_type)
            .await?;
        if matches!(outcome, PutIfAbsent::Created(_)) {
            self.mirror(key, Source::Bytes(&body)).await;
        }
        Ok(outcome)
    }

    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        self.inner.get(key).await
    }

    async fn open(&self, key: &str) -> Result<BlobReader, BlobError> {
        self.inner.open(key).await
    }

    async fn head(&self, key: &str) -> Result<Option<BlobMeta>, BlobError> {
        self.inner.head(key).await
    }

    async fn list(
        &self,
        prefix: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<BlobPage, BlobError> {
        self.inner.list(prefix, limit, cursor).await
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.inner.delete(key).await
    }
}
