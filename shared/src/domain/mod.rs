//! Domain types and pure rules.

pub mod atvk;
pub mod break_glass;
pub mod catalogue;
pub mod catalogue_entry;
pub mod child;
pub mod export;
pub mod field_error;
pub mod identity_hash;
pub mod ids;
pub mod new_child;
pub mod personal_code;
pub mod principal;
pub mod pseudonym;
pub mod referral;
pub mod registry;
pub mod registry_input;
pub mod remote_url;
pub mod report;
pub mod text;

pub use atvk::{Atvk, AtvkError};
pub use child::{Child, ChildStatus, Sex};
pub use field_error::FieldError;
pub use identity_hash::KeyedHasher;
pub use ids::{
    ChildId, EpisodeId, ExportId, InvalidId, ReferralId, ReportId, RepresentativeId, RequestId,
    ResultId, ScreeningId, SpecialistId,
};
pub use personal_code::{PersonalCode, PersonalCodeError};
pub use principal::{Principal, Role};
pub use pseudonym::{Pseudonym, Pseudonymizer};
