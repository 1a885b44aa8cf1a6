//! Test support.

pub mod audit;
pub mod auth;
pub mod aws;
pub mod catalogue;
pub mod contract;
pub mod embedded;
pub mod registry;
