//! The [`JwsSigner`] of AWS: an asymmetric KMS key (`ECC_NIST_P256`, `SIGN_VERIFY`) signs the
//! `X-Provenance` JWS with `ECDSA_SHA_256`; the private key never leaves KMS.
//!
//! **The public key is fetched once, when the signer is built** ([`KmsSigner::connect`],
//! one `GetPublicKey`), because the port's `key_id()` and `public_key()` are synchronous and
//! the `kid` is needed before the first signature (it is in the JWS header being signed). A
//! lazy fetch on first sign would leave `key_id()` without an answer before it. The cost is
//! one KMS request at the exports worker's cold start (tens of milliseconds in the region,
//! plus the TLS trust store the first AWS request of a process loads anyway); an unreachable
//! or wrong key fails the start with the key named, so a bad `RAVIS_FHIR_SIGNING_KEY_ID`
//! shows at once instead of at the first export. Rotating the key means a new key (KMS does
//! not rotate asymmetric keys) and a new deployment, which starts new execution environments.

use super::opaque;
use crate::ports::signer::{
    JwsSigner, SignError, der_ecdsa_to_raw_p256, jwk_thumbprint, spki_p256_point,
};
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};

/// The longest message KMS `Sign` accepts whole (`MessageType::Raw`).
pub const MAX_RAW_MESSAGE: usize = 4096;

/// An ES256 signer over a KMS key.
#[derive(Debug, Clone)]
pub struct KmsSigner {
    client: super::Lazy<Client>,
    key: String,
    public_key: Vec<u8>,
    key_id: String,
}

impl KmsSigner {
    /// The signer of `key` (a key id, key ARN or alias): reads its public key once
    /// (`GetPublicKey`) and checks that it is a P-256 signing key allowing `ECDSA_SHA_256`.
    pub async fn connect(
        client: impl Into<super::Lazy<Client>>,
        key: impl Into<String>,
    ) -> Result<Self, SignError> {
        let client = client.into();
        let key = key.into();
        let answer = client
            .get_public_key()
            .key_id(&key)
            .send()
            .await
            .map_err(|e| SignError::Unavailable(opaque(e)))?;
        // A spec or usage KMS names must be the right one; the point's shape is checked below
        // in any case (an emulator may leave the spec out; another curve has a longer point).
        if answer
            .key_spec()
            .is_some_and(|s| *s != KeySpec::EccNistP256)
            || answer
                .key_usage()
                .is_some_and(|u| *u != KeyUsageType::SignVerify)
        {
            return Err(SignError::Invalid(format!(
                "KMS key {key} is not an ECC_NIST_P256 SIGN_VERIFY key (spec {:?}, usage {:?})",
                answer.key_spec(),
                answer.key_usage()
            )));
        }
        if !answer.signing_algorithms().is_empty()
            && !answer
                .signing_algorithms()
                .contains(&SigningAlgorithmSpec::EcdsaSha256)
        {
            return Err(SignError::Invalid(format!(
                "KMS key {key} does not allow ECDSA_SHA_256"
            )));
        }
        let spki = answer
            .public_key()
            .ok_or_else(|| SignError::Invalid(format!("KMS key {key}: no public key")))?;
        let point = spki_p256_point(spki.as_ref()).map_err(|e| {
            SignError::Invalid(format!("KMS key {key} is not an ECC_NIST_P256 key: {e}"))
        })?;
        Ok(Self {
            client,
            key,
            key_id: jwk_thumbprint(&point)?,
            public_key: point.to_vec(),
        })
    }

    /// The KMS key this signer uses (as configured).
    pub fn kms_key(&self) -> &str {
        &self.key
    }
}

impl JwsSigner for KmsSigner {
    /// The RFC 7638 thumbprint of the KMS key's public key (not the KMS key id: the receiver
    /// finds the key in the JWKS by it).
    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn algorithm(&self) -> &str {
        "ES256"
    }

    fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// KMS `Sign` with `ECDSA_SHA_256`; the DER answer becomes `r ‖ s`. A signing input of
    /// at most [`MAX_RAW_MESSAGE`] bytes is sent whole (`MessageType::Raw`: KMS hashes it);
    /// a longer one (most Bundles: the input holds the body's base64url) as its SHA-256
    /// (`MessageType::Digest`), which gives the same signature without KMS's 4096-byte
    /// limit on raw messages.
    async fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, SignError> {
        use sha2::Digest as _;
        let (message, message_type) = if signing_input.len() <= MAX_RAW_MESSAGE {
            (signing_input.to_vec(), MessageType::Raw)
        } else {
            (
                sha2::Sha256::digest(signing_input).to_vec(),
                MessageType::Digest,
            )
        };
        let answer = self
            .client
            .sign()
            .key_id(&self.key)
            .message(Blob::new(message))
            .message_type(message_type)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .map_err(|e| SignError::Unavailable(opaque(e)))?;
        let der = answer
            .signature()
            .ok_or_else(|| SignError::Invalid("KMS Sign answered no signature".to_owned()))?;
        Ok(der_ecdsa_to_raw_p256(der.as_ref())?.to_vec())
    }
}
