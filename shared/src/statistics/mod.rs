//! Statistics (issue #13): what the report generation computes and publishes, pure — no
//! ports, no I/O. Lowest users: `services::reports` (reads the analytics lake through the
//! blob port, writes reports and releases), `ravis report`.
//!
//! - `release.rs` — the tidy cell of an indicator table and its SDMX confidentiality
//!   status; the dimensions and their hierarchies (codelists) a release is published with.
//! - `lake.rs` (feature `lake`) — the analytics lake's rows and tables, their Parquet
//!   schema, encode and the columnar decode; `columnar.rs` the Parquet columns under them.

#[cfg(feature = "lake")]
pub mod columnar;
#[cfg(feature = "lake")]
pub mod lake;
pub mod release;

pub use release::{CellKey, Codelist, ConfStatus, DIMENSIONS, TOTAL};
