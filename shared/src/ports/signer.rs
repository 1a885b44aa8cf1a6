//! Signer port: a JWS signing key held elsewhere (AWS KMS asymmetric `Sign` in AWS, a key
//! file in the data directory locally). The key never leaves the adapter; callers get the
//! signature of a JWS signing input and the public key to publish (JWKS).

use std::future::Future;

/// A signature could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The key service could not be reached or failed; the operation may be retried.
    #[error("signing key unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The key service answered with something that is not a signature of this algorithm.
    #[error("invalid signature from the key service: {0}")]
    Invalid(String),
}

/// A signing key's public half: what the receiver's JWKS publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The JWS `kid`: the RFC 7638 thumbprint of the key ([`jwk_thumbprint`]).
    pub key_id: String,
    /// The uncompressed SEC1 point (`0x04 ‖ x ‖ y`, 65 bytes for P-256).
    pub point: Vec<u8>,
}

/// A JWS signing key.
pub trait JwsSigner: Send + Sync + 'static {
    /// The JWS `alg`, `ES256` (ECDSA P-256 with SHA-256).
    fn algorithm(&self) -> &str;

    /// The public key and its `kid` (needed before the first signature: the `kid` is in the
    /// header being signed). An adapter whose key lives in a key service reads it on the
    /// first call and keeps it; a failed read is tried again on the next call.
    fn public_key(&self) -> impl Future<Output = Result<PublicKey, SignError>> + Send;

    /// Signs `signing_input` (the JWS `BASE64URL(header) . BASE64URL(payload)`): for ES256
    /// the raw `r ‖ s`, 64 bytes (RFC 7518 §3.4), never DER.
    fn sign(&self, signing_input: &[u8])
    -> impl Future<Output = Result<Vec<u8>, SignError>> + Send;
}

/// Length of a P-256 coordinate and of each of `r`, `s`.
const P256: usize = 32;

/// An ECDSA signature in ASN.1 DER (`SEQUENCE { INTEGER r, INTEGER s }`, what AWS KMS `Sign`
/// returns) as the raw `r ‖ s` of JWS ES256 (each left-padded to 32 bytes).
pub fn der_ecdsa_to_raw_p256(der: &[u8]) -> Result<[u8; 2 * P256], SignError> {
    let bad = |why: &str| SignError::Invalid(format!("DER ECDSA signature: {why}"));
    let (tag, body, rest) = der_element(der).ok_or_else(|| bad("truncated"))?;
    if tag != 0x30 || !rest.is_empty() {
        return Err(bad("not one SEQUENCE"));
    }
    let mut out = [0u8; 2 * P256];
    let mut inner = body;
    for half in out.chunks_mut(P256) {
        let (tag, int, rest) = der_element(inner).ok_or_else(|| bad("truncated INTEGER"))?;
        if tag != 0x02 || int.is_empty() {
            return Err(bad("expected an INTEGER"));
        }
        // A leading zero keeps a positive number positive; strip it (only one is allowed).
        let int = match int {
            [0, next, ..] if next & 0x80 != 0 => &int[1..],
            [0, _, ..] => return Err(bad("INTEGER not minimally encoded")),
            [first, ..] if first & 0x80 != 0 => return Err(bad("negative INTEGER")),
            _ => int,
        };
        if int.len() > P256 {
            return Err(bad("INTEGER longer than 32 bytes"));
        }
        half[P256 - int.len()..].copy_from_slice(int);
        inner = rest;
    }
    if !inner.is_empty() {
        return Err(bad("trailing data in the SEQUENCE"));
    }
    Ok(out)
}

/// `(tag, contents, rest)` of the DER element at the start of `b` (lengths up to 2 bytes).
fn der_element(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first()?;
    let (&first, b) = b.split_first()?;
    let (len, b) = match first {
        n if n < 0x80 => (usize::from(n), b),
        0x81 => {
            let (&n, b) = b.split_first()?;
            (usize::from(n), b)
        }
        0x82 => {
            let (hi, b) = b.split_first()?;
            let (lo, b) = b.split_first()?;
            (usize::from(*hi) << 8 | usize::from(*lo), b)
        }
        _ => return None,
    };
    (b.len() >= len).then(|| (tag, &b[..len], &b[len..]))
}

/// The uncompressed P-256 point at the end of a DER `SubjectPublicKeyInfo` (what AWS KMS
/// `GetPublicKey` returns): its BIT STRING holds `0x04 ‖ x ‖ y`.
pub fn spki_p256_point(spki: &[u8]) -> Result<[u8; 1 + 2 * P256], SignError> {
    let bad = |why: &str| SignError::Invalid(format!("SubjectPublicKeyInfo: {why}"));
    let (tag, body, _) = der_element(spki).ok_or_else(|| bad("truncated"))?;
    if tag != 0x30 {
        return Err(bad("not a SEQUENCE"));
    }
    let (_, _, rest) = der_element(body).ok_or_else(|| bad("no algorithm"))?;
    let (tag, bits, _) = der_element(rest).ok_or_else(|| bad("no key"))?;
    match bits {
        [0, point @ ..] if tag == 0x03 && point.len() == 1 + 2 * P256 && point[0] == 0x04 => {
            let mut out = [0u8; 1 + 2 * P256];
            out.copy_from_slice(point);
            Ok(out)
        }
        _ => Err(bad("not an uncompressed P-256 point")),
    }
}

/// The RFC 7638 JWK thumbprint (base64url SHA-256 of `{"crv","kty","x","y"}`) of an
/// uncompressed P-256 point: the `kid` of a key, the same wherever it is computed.
pub fn jwk_thumbprint(point: &[u8]) -> Result<String, SignError> {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use sha2::Digest as _;
    let (x, y) = p256_coordinates(point)?;
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(x),
        URL_SAFE_NO_PAD.encode(y)
    );
    Ok(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes())))
}

/// `(x, y)` of an uncompressed P-256 point.
pub fn p256_coordinates(point: &[u8]) -> Result<(&[u8], &[u8]), SignError> {
    match point {
        [0x04, xy @ ..] if xy.len() == 2 * P256 => Ok(xy.split_at(P256)),
        _ => Err(SignError::Invalid(
            "public key is not an uncompressed P-256 point".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_signatures_become_raw_r_s() {
        // r with its sign byte (33 bytes), s short (31 bytes): both land right-aligned.
        let mut r = vec![0x00, 0x80];
        r.extend([0x11; 31]);
        let s = vec![0x7f; 31];
        let mut der = vec![0x30, (2 + r.len() + 2 + s.len()) as u8, 0x02, r.len() as u8];
        der.extend(&r);
        der.extend([0x02, s.len() as u8]);
        der.extend(&s);
        let raw = der_ecdsa_to_raw_p256(&der).unwrap();
        assert_eq!(&raw[..32], &r[1..]);
        assert_eq!(raw[32], 0);
        assert_eq!(&raw[33..], &s[..]);
    }

    #[test]
    fn malformed_der_is_refused() {
        for der in [
            &[][..],
            &[0x30, 0x03, 0x02, 0x01][..], // truncated
            &[0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01], // SET, not SEQUENCE
            &[0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01], // negative r
            &[0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01], // padded r
            &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00], // trailing byte
        ] {
            assert!(der_ecdsa_to_raw_p256(der).is_err(), "{der:02x?}");
        }
        let mut long = vec![0x30, 0x26, 0x02, 0x21, 0x01];
        long.extend([0x01; 32]);
        long.extend([0x02, 0x01, 0x01]);
        assert!(
            der_ecdsa_to_raw_p256(&long).is_err(),
            "33-byte r without sign byte"
        );
    }

    #[test]
    fn thumbprint_matches_rfc7638_shape() {
        let mut point = vec![0x04];
        point.extend([1u8; 64]);
        let kid = jwk_thumbprint(&point).unwrap();
        assert_eq!(kid.len(), 43, "base64url of 32 bytes");
        assert_eq!(kid, jwk_thumbprint(&point).unwrap());
        assert!(jwk_thumbprint(&point[1..]).is_err());
    }
}
