//! Golden and property tests of the scoring engine.
