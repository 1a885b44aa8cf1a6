//! Statistics (issue #13): what the report generation computes and publishes, pure — no
//! ports, no I/O. Lowest users: `services::reports` (reads the analytics lake through the
//! blob port, writes reports and releases), `ravis report`.
//!
//! - `release.rs` — the tidy cell of an indicator table and its SDMX confidentiality
//!   status; the dimensions and their hierarchies (codelists) a release is published with.
//! - `model.rs` — the linear system a release publishes (a cell is the sum of its children
//!   on every axis) and its split into independent components.
//! - `audit.rs` — the LP audit: each hidden cell's interval given everything published.
//! - `suppression.rs` — primary and complementary suppression whose audit provably passes.
//! - `revisions.rs` — earlier releases of the same year after the data changed: what they
//!   still tell an attacker, and which small changes must be hidden.
//! - `lake.rs` (feature `lake`) — the analytics lake's rows and tables, their Parquet
//!   schema, encode and the columnar decode; `columnar.rs` the Parquet columns under them.
//! - `dictionary.rs` — distinct texts numbered once each (a lake column's dictionary, the
//!   children of a report's facts).
//! - `dcat.rs` — a release's open-data metadata: DCAT-AP 3.0.1 as JSON-LD.
//! - `html.rs` — a release as a self-contained HTML report for people (no script, strict
//!   CSP), in Latvian or English; `svg.rs` draws its charts as inline SVG.

pub mod audit;
#[cfg(feature = "lake")]
pub mod columnar;
pub mod dcat;
pub mod dictionary;
pub mod html;
#[cfg(test)]
mod html_tests;
pub mod indicators;
#[cfg(feature = "lake")]
pub mod lake;
pub mod model;
pub mod open_data;
pub mod period;
pub mod release;
pub mod revisions;
pub mod suppression;
pub mod svg;
pub mod territory;

pub use audit::{Interval, audit};
pub use model::{AXES, Hierarchies, SuppressionError};
pub use release::{
    CellKey, Codelist, ConfStatus, DIMENSIONS, Dataset, Release, Row, TOTAL, TerritoryLevel, Value,
};
pub use suppression::{DEFAULT_THRESHOLD, Suppression, suppress, suppress_with};

#[cfg(test)]
mod tests;
