//! Every integration test of the `tests` crate, one module per suite, compiled as one
//! binary (the AWS SDK is linked once). Run one suite with a filter, e.g.
//! `cargo test -p ravis-tests --test all contract::`.

mod access_matrix;
mod audit;
mod audit_archive;
mod aws_adapters;
mod aws_audit;
mod aws_catalogue;
mod aws_registry;
mod aws_slice;
mod care_access;
mod catalogue;
mod contract;
mod events;
mod intake;
mod merge;
mod openapi;
mod population_register;
mod possible_duplicates;
mod registry;
mod registry_intake;
mod rescore;
