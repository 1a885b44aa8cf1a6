//! Test support.

pub mod aws;
pub mod contract;
pub mod embedded;
