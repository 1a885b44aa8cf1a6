//! Statistics (issue #13): what the report generation computes and publishes, pure — no
//! ports, no I/O. Lowest users: `services::reports` (reads the analytics lake through the
//! blob port, writes reports and releases), `ravis report`.
//!
//! - `release.rs` — the tidy cell of an indicator table and its SDMX confidentiality
//!   status; the dimensions and their hierarchies (codelists) a release is published with.
//! - `dcat.rs` — a release's open-data metadata: DCAT-AP 3.0.1 as JSON-LD.
//! - `html.rs` — a release as a self-contained HTML report for people (no script, strict
//!   CSP), in Latvian or English; `svg.rs` draws its charts as inline SVG.

pub mod dcat;
pub mod html;
#[cfg(test)]
mod html_tests;
pub mod indicators;
pub mod open_data;
pub mod period;
pub mod release;
pub mod svg;
pub mod territory;

pub use release::{
    CellKey, Codelist, ConfStatus, DIMENSIONS, Dataset, Release, Row, TOTAL, TerritoryLevel, Value,
};

#[cfg(test)]
mod tests;
