//! FHIR R4B (4.3.0) for the health target of exports (issue 12, items 2 and 8): pure
//! mapping of a stored result to a transaction Bundle, and the `X-Provenance` header that
//! goes with it. No I/O; signing is the `signer` port. docs/EXPORTS.md, "FHIR mapping".
//!
//! - `settings`   — [`FhirSettings`]: identifier systems, canonical URLs, profiles;
//! - `codes`      — [`CodeMap`]: the instruments' codes, data in `shared/instruments/fhir/`;
//! - `bundle`     — [`ResultExport`] → [`result_bundle_json`] (the bytes to send) or
//!   [`result_bundle`] (the same as a `Value`);
//! - `provenance` — JWS over the body, the Provenance, the header value, the JWKS.

pub mod bundle;
pub mod codes;
pub mod provenance;
pub mod settings;

#[cfg(test)]
mod tests;

pub use bundle::{
    ExportAnswer, ExportRecommendation, ExportScore, ExportStatus, FULL_URL_NAMESPACE,
    ProvenanceTarget, ResultExport, bundle_targets, full_url, recommendation_text, result_bundle,
    result_bundle_json, result_bundle_json_with, result_bundle_targets, result_bundle_with,
};
pub use codes::{CodeMap, InstrumentCodes};
pub use provenance::{
    JwsError, ProvenanceAgent, PublicJwk, detached_jws, jwks, jws_signing_input, provenance,
    verify_detached_jws, x_provenance_header,
};
pub use settings::{FhirProfiles, FhirSettings, FhirSettingsError};
