//! Test support: the port contract suites (`contract`) shared by every adapter's tests.

pub mod contract;
