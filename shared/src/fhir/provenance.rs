//! The `X-Provenance` header of a write (issue 12, item 2): a Provenance (profile
//! `SignatureProvenance-v1` of the NVD FHIR API guide) whose `signature` holds a detached
//! JWS (RFC 7515 appendix F, ES256) over the exact bytes of the request body.
//!
//! Profile rules followed: every `target` has `type` and a `reference` (the entry's
//! `fullUrl`), never `identifier` or `display`; `recorded` is set; no `occurred[x]`,
//! `policy`, `location` or `reason`.
//!
//! Signing is a port ([`crate::ports::signer::JwsSigner`], async: KMS in AWS). This module is
//! pure: [`jws_signing_input`] gives the bytes to sign, [`detached_jws`] the JWS from the
//! signature, [`provenance`] the resource, [`x_provenance_header`] the header value.
//! `services::fhir_signing::signed_x_provenance` does the three steps with a signer.

use super::bundle::ProvenanceTarget;
use super::settings::FhirSettings;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// Who signs (the Provenance `agent` and `signature.who`): RAVIS, as an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenanceAgent {
    /// Organisation id in [`FhirSettings::organisation_system`].
    pub organisation_id: String,
    /// Its name.
    pub organisation_name: String,
}

/// A JWS that does not check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("JWS: {0}")]
pub struct JwsError(pub String);

/// The protected header of the JWS (compact JSON, fixed member order).
fn protected_header(key_id: &str, algorithm: &str) -> String {
    let header = json!({"alg": algorithm, "kid": key_id, "typ": "JOSE"});
    URL_SAFE_NO_PAD.encode(header.to_string())
}

/// `BASE64URL(header) . BASE64URL(payload)`: the bytes the signer signs.
pub fn jws_signing_input(key_id: &str, algorithm: &str, payload: &[u8]) -> Vec<u8> {
    let header = protected_header(key_id, algorithm);
    let mut input = String::with_capacity(header.len() + 1 + payload.len() * 4 / 3 + 4);
    input.push_str(&header);
    input.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut input);
    input.into_bytes()
}

/// The detached compact JWS `BASE64URL(header) .. BASE64URL(signature)` (payload left out:
/// it is the request body).
pub fn detached_jws(key_id: &str, algorithm: &str, signature: &[u8]) -> String {
    format!(
        "{}..{}",
        protected_header(key_id, algorithm),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// Checks a detached ES256 JWS over `payload` with an uncompressed P-256 public key; returns
/// the protected header. (What the receiver does with the published JWKS.)
pub fn verify_detached_jws(
    jws: &str,
    payload: &[u8],
    public_key: &[u8],
) -> Result<Value, JwsError> {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
    let mut parts = jws.split('.');
    let (Some(header), Some(""), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError(
            "not a detached compact JWS (header..signature)".to_owned(),
        ));
    };
    let header_json: Value = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or_else(|| JwsError("protected header is not base64url JSON".to_owned()))?;
    if header_json["alg"] != "ES256" {
        return Err(JwsError(format!("alg {} is not ES256", header_json["alg"])));
    }
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| JwsError("signature is not base64url".to_owned()))?;
    let mut input = String::with_capacity(header.len() + 1 + payload.len() * 4 / 3 + 4);
    input.push_str(header);
    input.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut input);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public_key)
        .verify(input.as_bytes(), &sig)
        .map_err(|_| JwsError("signature does not verify".to_owned()))?;
    Ok(header_json)
}

/// The Provenance of a write: `targets` (each entry of the bundle), `recorded`, the agent,
/// and the signature holding `jws` (`data` is base64Binary, so the JWS text is base64ed;
/// `sigFormat` `application/jose`, `targetFormat` `application/fhir+json`).
pub fn provenance(
    targets: &[ProvenanceTarget],
    recorded: DateTime<Utc>,
    jws: &str,
    agent: &ProvenanceAgent,
    settings: &FhirSettings,
) -> Value {
    let when = recorded.to_rfc3339_opts(SecondsFormat::Millis, true);
    let who = json!({
        "type": "Organization",
        "identifier": {"system": settings.organisation_system, "value": agent.organisation_id},
    });
    let mut p = json!({
        "resourceType": "Provenance",
        "target": targets
            .iter()
            .map(|t| json!({"reference": t.reference, "type": t.resource_type}))
            .collect::<Vec<_>>(),
        "recorded": when,
        "agent": [{
            "type": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                "code": "author",
                "display": "Author",
            }]},
            "who": who,
        }],
        "signature": [{
            "type": [{
                "system": "urn:iso-astm:E1762-95:2013",
                "code": "1.2.840.10065.1.12.1.1",
                "display": "Author's Signature",
            }],
            "when": when,
            "who": who,
            "targetFormat": "application/fhir+json",
            "sigFormat": "application/jose",
            "data": STANDARD.encode(jws),
        }],
    });
    if !settings.profiles.provenance.is_empty() {
        p["meta"] = json!({"profile": settings.profiles.provenance});
    }
    p
}

/// The header value: the Provenance as compact JSON, every non-ASCII character escaped
/// (`\uXXXX`) so the value is a valid HTTP field value.
pub fn x_provenance_header(provenance: &Value) -> String {
    let text = provenance.to_string();
    if text.is_ascii() {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// A public key to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    /// `kid`, as in the JWS header.
    pub key_id: String,
    /// Uncompressed P-256 point (`0x04 ‖ x ‖ y`).
    pub point: Vec<u8>,
}

/// The JWKS (RFC 7517) of the signing keys, for the receiver: `kty EC`, `crv P-256`, `x`,
/// `y`, `kid`, `use sig`, `alg ES256`. Keys that are not uncompressed P-256 points are an
/// error naming the `kid`.
pub fn jwks(keys: &[PublicJwk]) -> Result<Value, JwsError> {
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let xy = match key.point.as_slice() {
            [0x04, xy @ ..] if xy.len() == 64 => xy,
            _ => {
                return Err(JwsError(format!(
                    "key {} is not an uncompressed P-256 point",
                    key.key_id
                )));
            }
        };
        let (x, y) = xy.split_at(32);
        out.push(json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
            "kid": key.key_id,
            "use": "sig",
            "alg": "ES256",
        }));
    }
    Ok(json!({"keys": out}))
}
