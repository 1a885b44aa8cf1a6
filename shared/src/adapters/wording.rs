//! Where wording packs are read from: a directory (`<data-dir>/wording/`, the embedded
//! backend; `ravis wording load` writes it) or a bucket under the `wording/` prefix (AWS).

use crate::ports::wording::{PackRead, WordingPacks};
use crate::ports::{BlobError, BlobStore};
use std::path::PathBuf;

/// The key prefix of wording packs in a bucket.
pub const BUCKET_PREFIX: &str = "wording/";

/// Packs as files in one directory (`<name>` = `<instrument>.<language>.json`).
#[derive(Debug, Clone)]
pub struct DirWordingPacks {
    dir: PathBuf,
}

impl DirWordingPacks {
    /// Packs in `dir` (it need not exist: then no pack is loaded).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

/// Whether a storage name is a plain file name (no separators, no leading dot).
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

impl WordingPacks for DirWordingPacks {
    fn read<'a>(&'a self, name: &'a str) -> PackRead<'a> {
        Box::pin(async move {
            if !plain_name(name) {
                return Ok(None);
            }
            match tokio::fs::read(self.dir.join(name)).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(BlobError::Unavailable(Box::new(e))),
            }
        })
    }
}

/// Packs as objects `wording/<name>` in a bucket.
#[derive(Debug, Clone)]
pub struct BucketWordingPacks<B> {
    blobs: B,
}

impl<B: BlobStore> BucketWordingPacks<B> {
    /// Packs in `blobs` under [`BUCKET_PREFIX`].
    pub fn new(blobs: B) -> Self {
        Self { blobs }
    }
}

impl<B: BlobStore> WordingPacks for BucketWordingPacks<B> {
    fn read<'a>(&'a self, name: &'a str) -> PackRead<'a> {
        Box::pin(async move {
            if !plain_name(name) {
                return Ok(None);
            }
            match self.blobs.get(&format!("{BUCKET_PREFIX}{name}")).await {
                Ok(bytes) => Ok(Some(bytes.to_vec())),
                Err(BlobError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::plain_name;

    #[test]
    fn only_plain_names_are_read() {
        assert!(plain_name("mchat-r.lv.json"));
        assert!(!plain_name("../secret"));
        assert!(!plain_name("a/b.json"));
        assert!(!plain_name(".hidden"));
        assert!(!plain_name(""));
    }
}
