//! Signs a FHIR request body for the `X-Provenance` header: the pure steps of
//! `fhir::provenance` with a [`JwsSigner`] (a key file locally, KMS in AWS).

use crate::fhir::{
    FhirSettings, ProvenanceAgent, ProvenanceTarget, detached_jws, jws_signing_input, provenance,
    x_provenance_header,
};
use crate::ports::signer::{JwsSigner, SignError};
use chrono::{DateTime, Utc};

/// The `X-Provenance` header value for `body` (the exact bytes sent): a Provenance naming
/// `targets`, recorded at `recorded`, signed by `agent` with `signer`.
pub async fn signed_x_provenance<S: JwsSigner + ?Sized>(
    signer: &S,
    body: &[u8],
    targets: &[ProvenanceTarget],
    recorded: DateTime<Utc>,
    agent: &ProvenanceAgent,
    settings: &FhirSettings,
) -> Result<String, SignError> {
    let key = signer.public_key().await?;
    let (kid, alg) = (key.key_id.as_str(), signer.algorithm());
    let signature = signer.sign(&jws_signing_input(kid, alg, body)).await?;
    let jws = detached_jws(kid, alg, &signature);
    Ok(x_provenance_header(&provenance(
        targets, recorded, &jws, agent, settings,
    )))
}
