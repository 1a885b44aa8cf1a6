//! Test support.

pub mod audit;
pub mod aws;
pub mod contract;
pub mod embedded;
