//! The six kinds of partner file, one module each: its columns, its row rules and the writes
//! of a valid row ([`IntakeKind`](crate::intake::IntakeKind)). The keyed kinds
//! (`organisations`, `specialists`, `certifications`, `support_episodes`) plan through the
//! generic skeleton of `intake/kind.rs`; kinds never import each other.

pub mod certifications;
pub mod children;
pub mod children_fast_path;
pub mod organisations;
pub mod population_register;
pub mod specialists;
pub mod support_episodes;
