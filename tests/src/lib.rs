//! Test support.

pub mod contract;
pub mod embedded;
