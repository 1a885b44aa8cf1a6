//! Unit tests of the statistics layer that span several of its modules.

mod indicators;
mod suppression;
