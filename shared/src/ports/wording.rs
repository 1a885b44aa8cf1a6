//! Wording pack port: where the operator-loaded, licensed item wording is read from (a
//! directory on the embedded backend, a bucket prefix on AWS).

use crate::ports::BlobError;
use std::future::Future;
use std::pin::Pin;

/// The answer of a read: the pack's bytes, or `None` when no pack is loaded.
pub type PackRead<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Vec<u8>>, BlobError>> + Send + 'a>>;

/// Reads wording packs by their storage name (`<instrument>.<language>.json`).
pub trait WordingPacks: Send + Sync + 'static {
    /// The pack stored under `name`, `None` if there is none.
    fn read<'a>(&'a self, name: &'a str) -> PackRead<'a>;
}
