//! The `ravis` command's integration tests, one module per suite, compiled as one binary.
//! Run one suite with a filter, e.g. `cargo test -p ravis --test cli serve::`.

mod audit_verify;
mod export_analytics;
mod exports_kill;
mod import;
mod migrate;
mod same_engine;
mod serve;
mod support;
mod web_host;
mod wording;

// That every file here is declared above is checked by
// `tests/tests/main.rs` (`every_file_here_is_a_module_of_this_binary`).
