//! Test support.

pub mod aws;
