//! Domain types and pure rules.

pub mod atvk;
pub mod ids;
pub mod personal_code;

pub use atvk::{Atvk, AtvkError};
pub use ids::{ChildId, InvalidId, RequestId, ResultId, ScreeningId};
pub use personal_code::{PersonalCode, PersonalCodeError};
