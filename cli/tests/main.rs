//! The `ravis` command's integration tests, one module per suite, compiled as one binary.
//! Run one suite with a filter, e.g. `cargo test -p ravis --test cli serve::`.

mod audit_verify;
mod export_analytics;
mod import;
mod same_engine;
mod serve;
mod support;
